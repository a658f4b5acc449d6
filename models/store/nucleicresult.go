package store

import (
	"context"
	"fmt"
	"io"

	"healthcode/models"

	"gorm.io/gorm/clause"
)

// NewResultsImport records a queued import of lab results.
func (s *Store) NewResultsImport(ctx context.Context, actor, requestID string) (*models.ImportJob, error) {
	now := s.clock.Now().UTC()
	job := &models.ImportJob{ID: models.NewID(), Kind: models.ImportKindResults, Source: models.ImportKindResults, State: models.ImportQueued,
		Actor: actor, RequestID: requestID, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(job).Error; err != nil {
		return nil, fmt.Errorf("record results import: %w", err)
	}
	return job, nil
}

// RunImport runs a queued job of any kind; see RunStatusImport,
// RunResultsImport and RunDisabilityImport.
func (s *Store) RunImport(ctx context.Context, job *models.ImportJob, open func() (io.ReadCloser, error), progress func(models.ImportJob)) error {
	switch job.Kind {
	case models.ImportKindResults:
		return s.RunResultsImport(ctx, job, open, progress)
	case models.ImportKindDisability:
		return s.RunDisabilityImport(ctx, job, open, progress)
	}
	return s.RunStatusImport(ctx, job, open, progress)
}

// RunResultsImport runs a queued job of lab results over the file open
// returns (opened twice): validating reads it through and rejects it whole
// on any bad row; applying then takes it in batches, each one transaction
// under the status log lock that records the tubes' results and each
// sampled person's latest result, and brings their status up to date. A
// result older than the one a person holds changes nothing, so a file
// applied twice (an interrupted job uploaded again) does no harm. A rejected
// file is a job in state rejected, not an error; errors are the database's.
func (s *Store) RunResultsImport(ctx context.Context, job *models.ImportJob, open func() (io.ReadCloser, error), progress func(models.ImportJob)) error {
	// Claim the queued job, as status imports do: a job recovery already
	// failed is not run, and every write holds the lease.
	if ok, err := s.claimImport(ctx, job); err != nil || !ok {
		return err
	}
	stop := s.heartbeat(ctx, job)
	defer stop()
	report := reporter(job, progress)
	if rejected, err := s.validateImport(ctx, job, report, func() error { return s.scanResults(ctx, job, open, nil, report) }); rejected || err != nil {
		return err
	}
	if err := s.scanResults(ctx, job, open, s.applyResults, report); err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		job.State, job.FinishedAt = models.ImportDone, &now
		if err := saveJobIn(tx, job, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: job.Actor, Action: "nucleic.results", Subject: job.ID,
			Detail: fmt.Sprintf("rows=%d", job.RowsApplied), RequestID: job.RequestID}).Error
	})
	if err != nil {
		return fmt.Errorf("finish results import %s: %w", job.ID, err)
	}
	report()
	return nil
}

// scanResults reads the file through, counting rows; with apply set it
// hands each batch of rows to apply.
func (s *Store) scanResults(ctx context.Context, job *models.ImportJob, open func() (io.ReadCloser, error), apply func(context.Context, []models.ResultRow) error, report func()) error {
	var write func([]models.ResultRow) error
	if apply != nil {
		write = func(batch []models.ResultRow) error {
			if err := apply(ctx, batch); err != nil {
				return err
			}
			job.RowsApplied += int64(len(batch))
			return nil
		}
	}
	lookup := func(tube string) (*models.Tube, error) {
		var t models.Tube
		if err := s.db.WithContext(ctx).Where("tube = ?", tube).Limit(1).Find(&t).Error; err != nil {
			return nil, fmt.Errorf("read tube: %w", err)
		}
		if t.Tube == "" {
			return nil, nil
		}
		return &t, nil
	}
	return scanJobFile(ctx, s, job, open, s.importBatch(), func(r io.Reader, each func(models.ResultRow) error) error {
		return models.ScanResultsCSV(r, s.clock.Now(), s.loc, lookup, each)
	}, write, report)
}

// applyResults records one batch of results in one transaction under the
// status log lock: each tube's result, each of its people's latest result
// (a single tube's as it is, a mixed tube's positive as mixed_positive),
// and their status through syncStatuses.
func (s *Store) applyResults(ctx context.Context, rows []models.ResultRow) error {
	tubes := make([]string, len(rows))
	for i, r := range rows {
		tubes[i] = r.Tube
	}
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		log, err := openStatusLog(tx, now, true, &s.noLoadData)
		if err != nil {
			return err
		}
		var held []models.Tube
		if err := tx.Where("tube IN ?", tubes).Find(&held).Error; err != nil {
			return fmt.Errorf("read tubes: %w", err)
		}
		mode := make(map[string]int, len(held))
		for _, t := range held {
			mode[t.Tube] = t.Mode
		}
		var samples []models.Sample
		if err := tx.Select("tube, person_no, sampled_at").Where("tube IN ?", tubes).Find(&samples).Error; err != nil {
			return fmt.Errorf("read samples: %w", err)
		}
		byTube := map[string][]models.Sample{}
		var nos []uint32
		for _, sm := range samples {
			byTube[sm.Tube] = append(byTube[sm.Tube], sm)
			nos = append(nos, sm.PersonNo)
		}
		var current []models.NucleicResult
		if err := tx.Where("person_no IN ?", nos).Find(&current).Error; err != nil {
			return fmt.Errorf("read results: %w", err)
		}
		latest := make(map[uint32]models.NucleicResult, len(current))
		for _, r := range current {
			latest[r.PersonNo] = r
		}
		changed := map[uint32]bool{}
		for _, r := range rows {
			if err := tx.Model(&models.Tube{}).Where("tube = ?", r.Tube).Updates(map[string]any{"result": r.Result, "tested_at": r.TestedAt}).Error; err != nil {
				return fmt.Errorf("record tube result: %w", err)
			}
			result := r.Result
			if result == models.NucleicPositive && mode[r.Tube] > 1 {
				result = models.NucleicMixedPositive
			}
			for _, sm := range byTube[r.Tube] {
				if old, ok := latest[sm.PersonNo]; ok && r.TestedAt.Before(old.TestedAt) {
					continue // an older result never replaces a newer one
				}
				latest[sm.PersonNo] = models.NucleicResult{PersonNo: sm.PersonNo, Result: result, Tube: r.Tube, SampledAt: sm.SampledAt.UTC(), TestedAt: r.TestedAt}
				changed[sm.PersonNo] = true
			}
		}
		if len(changed) == 0 {
			return log.close()
		}
		var people []listedPerson
		var fresh []models.NucleicResult
		lab := make(map[uint32]models.NucleicResult, len(changed))
		for no := range changed {
			fresh = append(fresh, latest[no])
			lab[no] = latest[no]
		}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).CreateInBatches(fresh, 200).Error; err != nil {
			return fmt.Errorf("record results: %w", err)
		}
		if err := tx.Model(&models.Person{}).Select("no, doc_hash").Where("no IN ?", keysOf(changed)).Scan(&people).Error; err != nil {
			return fmt.Errorf("read people: %w", err)
		}
		if err := syncStatuses(log, people, lab, ""); err != nil {
			return err
		}
		return log.close()
	}, s.readCommitted()...)
}

func keysOf(m map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
