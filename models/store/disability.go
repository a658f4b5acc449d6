package store

import (
	"context"
	"fmt"
	"io"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// registerDisability names the disability register's generation row.
const registerDisability = "disability"

// NewDisabilityImport records a queued import of the disability register.
// One runs at a time (KindConflict, import_in_progress, while another is
// under way): each import replaces the register whole.
func (s *Store) NewDisabilityImport(ctx context.Context, actor, requestID string) (*models.ImportJob, error) {
	var running int64
	if err := s.db.WithContext(ctx).Model(&models.ImportJob{}).Where("kind = ? AND state IN ?", models.ImportKindDisability, unfinishedImports).Count(&running).Error; err != nil {
		return nil, fmt.Errorf("read imports: %w", err)
	}
	if running > 0 {
		return nil, fault.Errorf(fault.KindConflict, fault.CodeImportInProgress, "残疾人名单正在导入，请等待其完成后再上传")
	}
	now := s.clock.Now().UTC()
	job := &models.ImportJob{ID: models.NewID(), Kind: models.ImportKindDisability, Source: models.ImportKindDisability, State: models.ImportQueued,
		Actor: actor, RequestID: requestID, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(job).Error; err != nil {
		return nil, fmt.Errorf("record disability import: %w", err)
	}
	return job, nil
}

// RunDisabilityImport runs a queued job of the disability register over the
// file open returns (opened twice): validating reads it through and rejects
// it whole on any bad row (the register in force stays); applying writes
// the documents' keyed hashes as a new generation in short transactions,
// then puts it in force, audited as disability.import, in one, and removes
// every other generation. A rejected file is a job in state rejected, not
// an error; errors are the database's (RecoverImports then fails the job
// and removes what it wrote).
func (s *Store) RunDisabilityImport(ctx context.Context, job *models.ImportJob, open func() (io.ReadCloser, error), progress func(models.ImportJob)) error {
	if ok, err := s.claimImport(ctx, job); err != nil || !ok {
		return err
	}
	stop := s.heartbeat(ctx, job)
	defer stop()
	report := reporter(job, progress)
	if rejected, err := s.validateImport(ctx, job, report, func() error { return s.scanDisability(ctx, job, open, nil, report) }); rejected || err != nil {
		return err
	}
	write := func(docs []document.Document) error {
		rows := make([]models.DisabilityEntry, len(docs))
		for i, d := range docs {
			rows[i] = models.DisabilityEntry{DocHash: s.vault.DocumentHash(d), Generation: job.ID}
		}
		if err := s.db.WithContext(ctx).Create(&rows).Error; err != nil {
			return fmt.Errorf("stage disability register: %w", err)
		}
		job.RowsApplied += int64(len(rows))
		return nil
	}
	if err := s.scanDisability(ctx, job, open, write, report); err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var gen registerGeneration
		if err := tx.Clauses(lockForUpdate).Where("name = ?", registerDisability).Limit(1).Find(&gen).Error; err != nil {
			return err
		}
		if err := tx.Save(&registerGeneration{Name: registerDisability, Generation: job.ID, UpdatedAt: now}).Error; err != nil {
			return err
		}
		job.Switched, job.PrevImport = true, gen.Generation
		job.State, job.FinishedAt = models.ImportDone, &now
		if err := saveJobIn(tx, job, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: job.Actor, Action: "disability.import", Subject: job.ID,
			Detail: fmt.Sprintf("rows=%d", job.RowsApplied), RequestID: job.RequestID}).Error
	})
	if err != nil {
		return fmt.Errorf("switch disability register %s: %w", job.ID, err)
	}
	report()
	// Every other generation goes: the one replaced, and any an interrupted
	// run left behind (one import runs at a time, so none is being written).
	return s.deleteOtherGenerations(ctx, job.ID)
}

// scanDisability reads the file through, counting rows; with write set it
// hands each batch of documents to write.
func (s *Store) scanDisability(ctx context.Context, job *models.ImportJob, open func() (io.ReadCloser, error), write func([]document.Document) error, report func()) error {
	today := s.Today()
	return scanJobFile(ctx, s, job, open, s.importBatch(), func(r io.Reader, each func(document.Document) error) error {
		return models.ScanDisabilityCSV(r, today, each)
	}, write, report)
}

// deleteOtherGenerations removes the disability register's rows of every
// generation but keep, a batch at a time.
func (s *Store) deleteOtherGenerations(ctx context.Context, keep string) error {
	for {
		var gens []string
		if err := s.db.WithContext(ctx).Model(&models.DisabilityEntry{}).Distinct("generation").Where("generation <> ?", keep).
			Limit(10).Pluck("generation", &gens).Error; err != nil {
			return fmt.Errorf("read replaced disability registers: %w", err)
		}
		if len(gens) == 0 {
			return nil
		}
		for _, g := range gens {
			if err := s.deleteGeneration(ctx, "disability_register", g); err != nil {
				return err
			}
		}
	}
}

// onDisabilityRegister reports whether the document with keyed hash
// docHash is on the disability register in force.
func onDisabilityRegister(tx *gormDB, docHash []byte) (bool, error) {
	if len(docHash) == 0 {
		return false, nil
	}
	var n int64
	err := tx.Model(&models.DisabilityEntry{}).
		Where("doc_hash = ? AND generation = (SELECT generation FROM register_generations WHERE name = ?)", docHash, registerDisability).
		Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("read disability register: %w", err)
	}
	return n > 0, nil
}
