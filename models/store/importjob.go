package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"healthcode/models"
	"healthcode/models/fault"

	"gorm.io/gorm/clause"
)

// Batch sizes of an import: small on SQLite, whose one writer every other
// write waits for (a 200-row transaction holds the lock for a few ms; 500
// rows kept a concurrent write waiting 0.2 s at p99 on a loaded machine,
// scripts/citysim), larger on MySQL.
func (s *Store) importBatch() int {
	if s.db.Dialector.Name() == "mysql" {
		return 2000
	}
	return 200
}

// NewStatusImport records a queued import of source's list (or, with clear,
// an import that empties it). An unknown source is KindInvalid.
func (s *Store) NewStatusImport(ctx context.Context, source string, clear bool, actor, requestID string) (*models.ImportJob, error) {
	if !models.ValidSource(source) {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidSource, "名单来源只能是 cdc、community、nucleic_acid 或 operator")
	}
	var running int64
	if err := s.db.WithContext(ctx).Model(&models.ImportJob{}).Where("source = ? AND state IN ?", source, unfinishedImports).Count(&running).Error; err != nil {
		return nil, fmt.Errorf("read imports: %w", err)
	}
	if running > 0 {
		// The later upload must not be overtaken by the earlier one.
		return nil, fault.Errorf(fault.KindConflict, fault.CodeImportInProgress, "该来源已有名单正在导入，请等待其完成后再上传")
	}
	now := s.clock.Now().UTC()
	job := &models.ImportJob{ID: models.NewID(), Source: source, State: models.ImportQueued, Clear: clear, Actor: actor, RequestID: requestID, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(job).Error; err != nil {
		return nil, fmt.Errorf("record import: %w", err)
	}
	return job, nil
}

// unfinishedImports are the states of a job still under way.
var unfinishedImports = []string{models.ImportQueued, models.ImportValidating, models.ImportApplying}

// errLostLease is what a run's write finds when another run owns the job.
var errLostLease = errors.New("import taken over by another run")

// ImportJobByID returns an import job, or an *Error of KindNotFound.
func (s *Store) ImportJobByID(ctx context.Context, id string) (*models.ImportJob, error) {
	var j models.ImportJob
	if err := s.db.WithContext(ctx).Take(&j, "id = ?", id).Error; err != nil {
		return nil, notFound(err, fault.CodeImportNotFound, "未找到该导入任务")
	}
	return &j, nil
}

// RunStatusImport runs a queued job over the file open returns, calling
// progress after each step: validating reads the file once, sorting its
// rows by document as it goes; applying writes them from that sort. A
// rejected file is a job in state rejected, not an error; an error is the
// database's, and the job is then picked up again by RecoverImports (after
// the switch) or failed there (before it).
func (s *Store) RunStatusImport(ctx context.Context, job *models.ImportJob, open func() (io.ReadCloser, error), progress func(models.ImportJob)) (err error) {
	// Claim the queued job: a job recovery already failed is not run.
	if ok, err := s.claimImport(ctx, job); err != nil || !ok {
		return err
	}
	stop := s.heartbeat(ctx, job)
	defer stop()
	defer func() {
		if errors.Is(err, errLostLease) && !job.Switched {
			// The new owner failed the job; rows this run wrote since go too.
			s.deleteEntries(context.WithoutCancel(ctx), job.ID, s.importBatch())
		}
	}()
	report := reporter(job, progress)
	var sorted hashSorter
	defer sorted.close()
	if job.Clear {
		err = s.enterApplying(ctx, job, report)
	} else {
		var rejected bool
		rejected, err = s.validateImport(ctx, job, report, func() error {
			return s.scanImport(ctx, job, open, func(rows []models.StatusRow) error {
				for _, r := range rows {
					if err := sorted.add(s.vault.DocumentHash(r.Doc), r.Colour, truncate(r.Reason, 256)); err != nil {
						return err
					}
				}
				return nil
			}, report)
		})
		if rejected {
			return err
		}
	}
	if err != nil {
		return err
	}
	if !job.Clear {
		if err := s.stageImport(ctx, job, &sorted, report); err != nil {
			return err
		}
	}
	if err := s.switchImport(ctx, job); err != nil {
		return err
	}
	return s.finishImport(ctx, job, report)
}

// claimImport takes a queued job for this run: false when another run or
// recovery has it. Every later write of the run holds the lease.
func (s *Store) claimImport(ctx context.Context, job *models.ImportJob) (bool, error) {
	runner := models.NewID()
	res := s.db.WithContext(ctx).Model(&models.ImportJob{}).Where("id = ? AND state = ? AND runner = ''", job.ID, models.ImportQueued).
		Updates(map[string]any{"runner": runner, "updated_at": s.clock.Now().UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("claim import %s: %w", job.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	job.Runner = runner
	return true, nil
}

// reporter calls progress, if any, with the job as it stands.
func reporter(job *models.ImportJob, progress func(models.ImportJob)) func() {
	return func() {
		if progress != nil {
			progress(*job)
		}
	}
}

// validateImport moves a claimed job to validating and reads its file
// through with validate: a file refused there (CodeImportRejected) leaves
// the job rejected (rejected true, err the recording's); otherwise the job
// moves on to applying.
func (s *Store) validateImport(ctx context.Context, job *models.ImportJob, report func(), validate func() error) (rejected bool, err error) {
	job.State = models.ImportValidating
	if err := s.saveJob(ctx, job); err != nil {
		return false, err
	}
	report()
	if err := validate(); err != nil {
		var e *fault.Error
		if !errors.As(err, &e) || e.Code != fault.CodeImportRejected {
			return false, err
		}
		return true, s.rejectJob(ctx, job, e)
	}
	return false, s.enterApplying(ctx, job, report)
}

// enterApplying records that the job writes its rows now.
func (s *Store) enterApplying(ctx context.Context, job *models.ImportJob, report func()) error {
	job.State = models.ImportApplying
	if err := s.saveJob(ctx, job); err != nil {
		return err
	}
	report()
	return nil
}

// scanJobFile reads a job's file through with scan, counting rows; with
// write set it hands each batch of batchSize rows to write. After each
// batch the job's progress is saved and reported.
func scanJobFile[T any](ctx context.Context, s *Store, job *models.ImportJob, open func() (io.ReadCloser, error), batchSize int,
	scan func(r io.Reader, each func(T) error) error, write func([]T) error, report func()) error {
	f, err := open()
	if err != nil {
		return fmt.Errorf("open import file: %w", err)
	}
	defer f.Close()
	job.RowsRead = 0
	batch := make([]T, 0, batchSize)
	flush := func() error {
		if write != nil && len(batch) > 0 {
			if err := write(batch); err != nil {
				return err
			}
		}
		batch = batch[:0]
		if err := s.saveJob(ctx, job); err != nil {
			return err
		}
		report()
		return ctx.Err()
	}
	err = scan(f, func(r T) error {
		job.RowsRead++
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// scanImport reads the file through, counting rows; with write set it
// hands each batch of rows to write.
func (s *Store) scanImport(ctx context.Context, job *models.ImportJob, open func() (io.ReadCloser, error), write func([]models.StatusRow) error, report func()) error {
	today := s.Today()
	return scanJobFile(ctx, s, job, open, s.stageBatch(), func(r io.Reader, each func(models.StatusRow) error) error {
		return models.ScanStatusCSV(r, today, each)
	}, write, report)
}

// stageImport writes the list's entries under the job's id, beside the
// list in force, in document order and in short transactions: each batch's
// entries commit with the job's count of rows applied, so the count says
// whether a batch is in. A batch that fails because the database was busy
// or slow is tried again; one whose commit was lost on the way back (the
// count has it) is not written twice.
func (s *Store) stageImport(ctx context.Context, job *models.ImportJob, sorted *hashSorter, report func()) error {
	job.RowsApplied = 0
	return sorted.each(s.stageBatch(), func(entries []sortedEntry) error {
		before, after := job.RowsApplied, job.RowsApplied
		for _, e := range entries {
			after += int64(e.Rows)
		}
		tries := 0
		err := retryBusy(ctx, func() error {
			if tries++; tries > 1 {
				var applied int64
				if err := s.db.WithContext(ctx).Model(&models.ImportJob{}).Where("id = ?", job.ID).Pluck("rows_applied", &applied).Error; err != nil {
					return err
				}
				if applied == after {
					return nil
				}
			}
			err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
				if err := s.stageEntries(ctx, tx, job, entries); err != nil {
					return err
				}
				job.RowsApplied = after
				if err := saveJobIn(tx, job, s.clock.Now().UTC()); err != nil {
					job.RowsApplied = before
					return err
				}
				return nil
			})
			if err == nil && s.staged != nil {
				err = s.staged()
			}
			return err
		})
		if err != nil {
			job.RowsApplied = before
			return fmt.Errorf("stage import rows: %w", err)
		}
		job.RowsApplied = after
		report()
		return ctx.Err()
	})
}

// importTries is how many times an import tries a batch the database
// refused for now (busy, a lock wait, a deadline): each batch is a
// transaction of its own, so a retry starts clean.
const importTries = 4

// retryBusy runs step until it succeeds, fails for good or has been tried
// importTries times, waiting 100, 200, then 400 ms between tries.
func retryBusy(ctx context.Context, step func() error) error {
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		err := step()
		if err == nil || try == importTries || !notNow(err) {
			return err
		}
		if err := pause(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

// notNow reports whether err is the database refusing for now rather than
// for good.
func notNow(err error) bool {
	switch fault.KindOf(err) {
	case fault.KindBusy, fault.KindUnavailable:
		return true
	}
	return contended(err) || unreachable(err)
}

// stageEntries writes a batch of the list's entries under the job's id in
// tx: on MySQL as one LOAD DATA stream, elsewhere as one multi-row insert.
func (s *Store) stageEntries(ctx context.Context, tx *gormDB, job *models.ImportJob, sorted []sortedEntry) error {
	if s.db.Dialector.Name() == "mysql" && !s.noLoadData.Load() {
		values := make([][]any, len(sorted))
		for i, e := range sorted {
			values[i] = []any{job.Source, e.DocHash, e.Colour, e.Reason, job.ID}
		}
		err := loadData(ctx, tx, "status_entries", []string{"source", "doc_hash", "colour", "reason", "import_id"},
			map[string]bool{"doc_hash": true}, values)
		if !loadDataRefused(err) {
			return err
		}
		s.noLoadData.Store(true)
	}
	entries := make([]models.StatusEntry, len(sorted))
	for i, e := range sorted {
		entries[i] = models.StatusEntry{Source: job.Source, DocHash: e.DocHash, Colour: e.Colour, Reason: e.Reason, ImportID: job.ID}
	}
	return tx.WithContext(ctx).Create(&entries).Error
}

// switchImport puts the job's list in force for its source, in one short
// transaction under the status log lock.
func (s *Store) switchImport(ctx context.Context, job *models.ImportJob) error {
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if _, err := openStatusLog(tx, now, true, &s.noLoadData); err != nil {
			return err
		}
		var prev models.StatusSource
		if err := tx.Where("source = ?", job.Source).Limit(1).Find(&prev).Error; err != nil {
			return err
		}
		src := models.StatusSource{Source: job.Source, ImportID: job.ID, UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&src).Error; err != nil {
			return err
		}
		job.Switched, job.PrevImport = true, prev.ImportID
		return saveJobIn(tx, job, now)
	})
}

// finishImport brings the status of every person on the old list or the
// new one up to date (in batches, each under the status log lock, resuming
// from the job's cursor), removes the old list, and records the import.
func (s *Store) finishImport(ctx context.Context, job *models.ImportJob, report func()) error {
	batch := s.importBatch()
	// Phase 0 walks the old list's entries, phase 1 the new one's, each in
	// document order (see migration 19).
	for ; job.Phase < 2; job.Phase, job.CursorDoc, job.Cursor = job.Phase+1, nil, 0 {
		importID := job.PrevImport
		if job.Phase == 1 {
			importID = job.ID
		}
		for importID != "" {
			var rows []struct {
				ID      uint64
				No      uint32
				DocHash []byte
				Colour  models.Colour
				Source  string
				Reason  string
			}
			err := retryBusy(ctx, func() error {
				return importWalk(s.db.WithContext(ctx), importID, job.CursorDoc, job.Cursor, batch).Scan(&rows).Error
			})
			if err != nil {
				return fmt.Errorf("read people of import %s: %w", importID, err)
			}
			if len(rows) == 0 {
				break
			}
			// The new list is in force: its entries come with the walk. The
			// old one is not, and its people are synced from the rest.
			walked := ""
			if job.Phase == 1 {
				walked = job.ID
			}
			people := make([]listedPerson, len(rows))
			for i, r := range rows {
				people[i] = listedPerson{No: r.No, DocHash: r.DocHash}
				if walked != "" {
					people[i].Entry = &models.StatusEntry{DocHash: r.DocHash, Colour: r.Colour, Source: r.Source, Reason: r.Reason}
				}
			}
			// A sync makes each person's status what their lists say:
			// done twice (a commit lost on the way back), it changes
			// nothing the second time.
			err = retryBusy(ctx, func() error {
				now := s.clock.Now().UTC()
				return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
					log, err := openStatusLog(tx, now, true, &s.noLoadData)
					if err != nil {
						return err
					}
					if err := syncStatuses(log, people, nil, walked); err != nil {
						return err
					}
					return log.close()
				})
			})
			if err != nil {
				return fmt.Errorf("apply import %s: %w", job.ID, err)
			}
			last := rows[len(rows)-1]
			job.CursorDoc, job.Cursor = last.DocHash, last.ID
			if err := s.saveJob(ctx, job); err != nil {
				return err
			}
			report()
			if len(rows) < batch {
				break
			}
		}
	}
	if err := s.deleteEntries(ctx, job.PrevImport, batch); err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		job.State, job.FinishedAt = models.ImportDone, &now
		if err := saveJobIn(tx, job, now); err != nil {
			return err
		}
		imp := &models.StatusImport{ID: job.ID, Source: job.Source, Rows: int(job.RowsApplied), Actor: job.Actor, CreatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(imp).Error; err != nil {
			return err
		}
		action := "status.import"
		if job.Clear {
			action = "status.clear"
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: job.Actor, Action: action, Subject: job.ID,
			Detail: fmt.Sprintf("source=%s rows=%d", job.Source, job.RowsApplied), RequestID: job.RequestID}).Error
	})
	if err != nil {
		return fmt.Errorf("finish import %s: %w", job.ID, err)
	}
	report()
	return nil
}

// importWalk selects the next batch of an import's people (entry id,
// person number, document hash, and the entry's colour, source and reason)
// in document order, after the cursor
// (cursorDoc, cursor) when cursorDoc is set: a range of
// idx_status_entries_import_doc read in order, each entry joined through
// idx_persons_doc_no. The join order is fixed: when a list is longer than
// the registered population MariaDB otherwise starts from persons and sorts
// every person after the cursor for each batch.
func importWalk(db *gormDB, importID string, cursorDoc []byte, cursor uint64, batch int) *gormDB {
	q := db.Table("status_entries AS e "+useIndex(db, "idx_status_entries_import_doc")).Select("e.id, p.no, e.doc_hash, e.colour, e.source, e.reason").
		Joins(joinInOrder(db)+" persons AS p "+useIndex(db, "idx_persons_doc_no")+" ON p.doc_hash = e.doc_hash").Where("e.import_id = ?", importID)
	if cursorDoc != nil {
		q = q.Where("(e.doc_hash > ? OR (e.doc_hash = ? AND e.id > ?))", cursorDoc, cursorDoc, cursor)
	}
	return q.Order("e.doc_hash, e.id").Limit(batch)
}

// useIndex is the hint that makes a table's lookups use the named index:
// the optimizers prefer a unique index to a covering one, and for the join
// of a whole list with persons the covering one is the one that fits in
// memory.
func useIndex(db *gormDB, name string) string {
	if db.Dialector.Name() == "mysql" {
		return "FORCE INDEX (" + name + ")"
	}
	return "INDEXED BY " + name
}

// joinInOrder is the inner join that reads its left table first:
// STRAIGHT_JOIN on MySQL, MariaDB and TiDB, CROSS JOIN on SQLite.
func joinInOrder(db *gormDB) string {
	if db.Dialector.Name() == "mysql" {
		return "STRAIGHT_JOIN"
	}
	return "CROSS JOIN"
}

// deleteEntries removes an import's entries, a batch at a time.
func (s *Store) deleteEntries(ctx context.Context, importID string, batch int) error {
	for importID != "" {
		var ids []uint64
		if err := s.db.WithContext(ctx).Model(&models.StatusEntry{}).Where("import_id = ?", importID).Limit(batch).Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("read entries of import %s: %w", importID, err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := s.db.WithContext(ctx).Where("id IN ?", ids).Delete(&models.StatusEntry{}).Error; err != nil {
			return fmt.Errorf("remove entries of import %s: %w", importID, err)
		}
	}
	return nil
}

// FailImport ends a job that never ran (its node could not take it), with a
// message for the operator; nothing changed.
func (s *Store) FailImport(ctx context.Context, job *models.ImportJob, message string) error {
	now := s.clock.Now().UTC()
	job.State, job.Message, job.FinishedAt = models.ImportFailed, message, &now
	return s.saveJob(ctx, job)
}

// rejectJob records a refused file: nothing was written.
func (s *Store) rejectJob(ctx context.Context, job *models.ImportJob, e *fault.Error) error {
	now := s.clock.Now().UTC()
	job.State, job.Message, job.FinishedAt = models.ImportRejected, e.Message, &now
	if d, ok := e.Details.(models.ImportProblems); ok {
		job.BadRows = int64(d.BadRows)
		b, _ := json.Marshal(d.Problems)
		job.Problems = string(b)
	}
	return s.saveJob(ctx, job)
}

// saveJob writes the job's progress and the runner's heartbeat, if the run
// still owns it (errLostLease otherwise).
func (s *Store) saveJob(ctx context.Context, job *models.ImportJob) error {
	return saveJobIn(s.db.WithContext(ctx), job, s.clock.Now().UTC())
}

func saveJobIn(tx *gormDB, job *models.ImportJob, now time.Time) error {
	job.UpdatedAt = now
	res := tx.Model(&models.ImportJob{}).Where("id = ? AND runner = ?", job.ID, job.Runner).Select("*").Omit("id", "created_at").UpdateColumns(job)
	if res.Error != nil {
		return fmt.Errorf("save import %s: %w", job.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		// MySQL counts the rows an UPDATE changed, not those it matched: a
		// save that repeats the one before (a file that fills its last batch
		// exactly is saved there and at its end, often in the same
		// millisecond) changes nothing and is still this run's.
		var mine int64
		if err := tx.Model(&models.ImportJob{}).Where("id = ? AND runner = ?", job.ID, job.Runner).Count(&mine).Error; err != nil {
			return fmt.Errorf("save import %s: %w", job.ID, err)
		}
		if mine == 0 {
			return errLostLease
		}
	}
	return nil
}

// heartbeatEvery is how often a run tells others it is alive, well within
// importStale.
const heartbeatEvery = 20 * time.Second

// heartbeat keeps the job's heartbeat fresh while its run works (also
// through long steps that write no progress); stop ends it.
func (s *Store) heartbeat(ctx context.Context, job *models.ImportJob) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	id, runner := job.ID, job.Runner
	go func() {
		defer close(done)
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.db.WithContext(ctx).Model(&models.ImportJob{}).Where("id = ? AND runner = ?", id, runner).
					Update("updated_at", s.clock.Now().UTC())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// TouchQueuedImports refreshes the heartbeat of jobs waiting in this node's
// queue, so a long import ahead of them does not make them look abandoned.
func (s *Store) TouchQueuedImports(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.db.WithContext(ctx).Model(&models.ImportJob{}).Where("id IN ? AND state = ? AND runner = ''", ids, models.ImportQueued).
		Update("updated_at", s.clock.Now().UTC()).Error
}

// RecoverImports looks for jobs whose runner stopped beating for staleAfter
// (its node went away): one whose list is already in force is finished
// here; one that stopped before is failed, its written rows removed, and
// the list in force stays. It returns how many jobs it took up.
func (s *Store) RecoverImports(ctx context.Context, staleAfter time.Duration) (int, error) {
	var stale []models.ImportJob
	cut := s.clock.Now().Add(-staleAfter).UTC()
	if err := s.db.WithContext(ctx).Where("state IN ? AND updated_at < ?", []string{models.ImportQueued, models.ImportValidating, models.ImportApplying}, cut).
		Order("created_at").Limit(10).Find(&stale).Error; err != nil {
		return 0, fmt.Errorf("read stale imports: %w", err)
	}
	taken := 0
	for i := range stale {
		job := &stale[i]
		// Claim it: only one node wins the lease and heartbeat it saw.
		runner := models.NewID()
		res := s.db.WithContext(ctx).Model(&models.ImportJob{}).Where("id = ? AND updated_at = ? AND runner = ?", job.ID, job.UpdatedAt, job.Runner).
			Updates(map[string]any{"updated_at": s.clock.Now().UTC(), "runner": runner})
		if res.Error != nil {
			return taken, res.Error
		}
		if res.RowsAffected == 0 {
			continue
		}
		taken++
		job.Runner = runner
		if job.Kind == models.ImportKindDisability {
			// The register is put in force as the job ends: an unfinished
			// job never was, and its rows go.
			if err := s.deleteGeneration(ctx, "disability_register", job.ID); err != nil {
				return taken, err
			}
			if err := s.FailImport(ctx, job, "导入中断，原名单继续有效，请重新上传"); err != nil {
				return taken, err
			}
			continue
		}
		if job.Kind == models.ImportKindResults {
			// Results applied so far stand; applying the file again is safe.
			now := s.clock.Now().UTC()
			job.State, job.Message, job.FinishedAt = models.ImportFailed, "导入中断，已导入的结果有效，请重新上传该文件", &now
			if err := s.saveJob(ctx, job); err != nil {
				return taken, err
			}
			continue
		}
		if job.Switched {
			stop := s.heartbeat(ctx, job)
			err := s.finishImport(ctx, job, func() {})
			stop()
			if err != nil {
				return taken, err
			}
			continue
		}
		if err := s.deleteEntries(ctx, job.ID, s.importBatch()); err != nil {
			return taken, err
		}
		now := s.clock.Now().UTC()
		job.State, job.Message, job.FinishedAt = models.ImportFailed, "导入中断，原名单继续有效，请重新上传", &now
		if err := s.saveJob(ctx, job); err != nil {
			return taken, err
		}
	}
	return taken, nil
}
