package models

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"healthcode/models/fault"

	"gorm.io/gorm/clause"
)

// NucleicResult is a person's latest nucleic-acid result from the lab
// (table nucleic_results): the status source nucleic_acid, kept per person
// beside the lists so the worst-colour rule still holds.
type NucleicResult struct {
	PersonNo  uint32 `gorm:"primaryKey;autoIncrement:false"`
	Result    string
	Tube      string
	SampledAt time.Time
	TestedAt  time.Time
}

// TableName names the table.
func (NucleicResult) TableName() string { return "nucleic_results" }

// Reasons of the colours nucleic-acid results give.
const (
	ReasonPositive      = "核酸阳性"
	ReasonMixedPositive = "混管阳性，待单管复核"
)

// colour is the colour a result gives its person: red for a positive
// single tube, yellow for a positive mixed tube (until a single-tube
// result), none (green) for a negative.
func (r NucleicResult) colour() (Colour, string) {
	switch r.Result {
	case NucleicPositive:
		return Red, ReasonPositive
	case NucleicMixedPositive:
		return Yellow, ReasonMixedPositive
	}
	return Green, ""
}

// ImportKindResults is the kind of an import job of lab results (the
// status-list jobs' kind is "").
const ImportKindResults = "nucleic_results"

// ResultRow is one validated row of a lab's results file.
type ResultRow struct {
	Line     int
	Tube     string
	Result   string
	TestedAt time.Time
}

// resultsHeader is the optional header row of a results file.
var resultsHeader = []string{"tube", "result", "tested_at"}

// parseTestedAt reads a test time: RFC 3339, or "2006-01-02 15:04[:05]"
// in loc.
func parseTestedAt(s string, loc *time.Location) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	for _, layout := range []string{time.DateTime, "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// scanResultsCSV reads a results file (tube,result,tested_at) as a stream,
// calling each for every valid row; lookup finds a tube (nil when unknown).
// A row naming an unknown or unsealed tube, a result other than negative
// or positive, or a test time that is malformed or later than now refuses
// the whole file, after it was read through (an *Error with
// CodeImportRejected listing the rows). An error each returns stops the
// scan and comes back as it is.
func scanResultsCSV(r io.Reader, now time.Time, loc *time.Location, lookup func(string) (*Tube, error), each func(ResultRow) error) error {
	var stop error
	err := readCSV(r, resultsHeader, func(row int, f []string) error {
		if len(f) != 3 {
			return fault.Errorf(fault.KindInvalid, fault.CodeColumns, "应有3列：试管条码,结果,检测时间")
		}
		if err := CheckTube(f[0]); err != nil {
			return err
		}
		result := strings.ToLower(f[1])
		if result != NucleicNegative && result != NucleicPositive {
			return fault.Errorf(fault.KindInvalid, fault.CodeResult, "结果只能是 negative 或 positive")
		}
		tested, ok := parseTestedAt(f[2], loc)
		if !ok {
			return fault.Errorf(fault.KindInvalid, fault.CodeTestedAt, "检测时间格式应为 2006-01-02T15:04:05+08:00 或 2006-01-02 15:04")
		}
		if tested.After(now.Add(5 * time.Minute)) {
			return fault.Errorf(fault.KindInvalid, fault.CodeTestedAt, "检测时间晚于当前时间")
		}
		t, err := lookup(f[0])
		if err != nil {
			stop = err
			return errStopScan
		}
		switch {
		case t == nil:
			return fault.Errorf(fault.KindInvalid, fault.CodeTubeNotFound, "未找到该试管")
		case t.State != TubeSealed:
			return fault.Errorf(fault.KindInvalid, fault.CodeTubeOpen, "该试管尚未封管")
		}
		if err := each(ResultRow{Line: row, Tube: f[0], Result: result, TestedAt: tested.UTC()}); err != nil {
			stop = err
			return errStopScan
		}
		return nil
	})
	if stop != nil {
		return stop
	}
	return err
}

// NewResultsImport records a queued import of lab results.
func (s *Store) NewResultsImport(ctx context.Context, actor, requestID string) (*ImportJob, error) {
	now := s.clock.Now().UTC()
	job := &ImportJob{ID: newID(), Kind: ImportKindResults, Source: ImportKindResults, State: ImportQueued,
		Actor: actor, RequestID: requestID, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(job).Error; err != nil {
		return nil, fmt.Errorf("record results import: %w", err)
	}
	return job, nil
}

// RunImport runs a queued job of any kind; see RunStatusImport,
// RunResultsImport and RunDisabilityImport.
func (s *Store) RunImport(ctx context.Context, job *ImportJob, open func() (io.ReadCloser, error), progress func(ImportJob)) error {
	switch job.Kind {
	case ImportKindResults:
		return s.RunResultsImport(ctx, job, open, progress)
	case ImportKindDisability:
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
func (s *Store) RunResultsImport(ctx context.Context, job *ImportJob, open func() (io.ReadCloser, error), progress func(ImportJob)) error {
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
		job.State, job.FinishedAt = ImportDone, &now
		if err := saveJobIn(tx, job, now); err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: now, Actor: job.Actor, Action: "nucleic.results", Subject: job.ID,
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
func (s *Store) scanResults(ctx context.Context, job *ImportJob, open func() (io.ReadCloser, error), apply func(context.Context, []ResultRow) error, report func()) error {
	var write func([]ResultRow) error
	if apply != nil {
		write = func(batch []ResultRow) error {
			if err := apply(ctx, batch); err != nil {
				return err
			}
			job.RowsApplied += int64(len(batch))
			return nil
		}
	}
	lookup := func(tube string) (*Tube, error) {
		var t Tube
		if err := s.db.WithContext(ctx).Where("tube = ?", tube).Limit(1).Find(&t).Error; err != nil {
			return nil, fmt.Errorf("read tube: %w", err)
		}
		if t.Tube == "" {
			return nil, nil
		}
		return &t, nil
	}
	return scanJobFile(ctx, s, job, open, s.importBatch(), func(r io.Reader, each func(ResultRow) error) error {
		return scanResultsCSV(r, s.clock.Now(), s.loc, lookup, each)
	}, write, report)
}

// applyResults records one batch of results in one transaction under the
// status log lock: each tube's result, each of its people's latest result
// (a single tube's as it is, a mixed tube's positive as mixed_positive),
// and their status through syncStatuses.
func (s *Store) applyResults(ctx context.Context, rows []ResultRow) error {
	tubes := make([]string, len(rows))
	for i, r := range rows {
		tubes[i] = r.Tube
	}
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		log, err := openStatusLog(tx, now, true)
		if err != nil {
			return err
		}
		var held []Tube
		if err := tx.Where("tube IN ?", tubes).Find(&held).Error; err != nil {
			return fmt.Errorf("read tubes: %w", err)
		}
		mode := make(map[string]int, len(held))
		for _, t := range held {
			mode[t.Tube] = t.Mode
		}
		var samples []Sample
		if err := tx.Select("tube, person_no, sampled_at").Where("tube IN ?", tubes).Find(&samples).Error; err != nil {
			return fmt.Errorf("read samples: %w", err)
		}
		byTube := map[string][]Sample{}
		var nos []uint32
		for _, sm := range samples {
			byTube[sm.Tube] = append(byTube[sm.Tube], sm)
			nos = append(nos, sm.PersonNo)
		}
		var current []NucleicResult
		if err := tx.Where("person_no IN ?", nos).Find(&current).Error; err != nil {
			return fmt.Errorf("read results: %w", err)
		}
		latest := make(map[uint32]NucleicResult, len(current))
		for _, r := range current {
			latest[r.PersonNo] = r
		}
		changed := map[uint32]bool{}
		for _, r := range rows {
			if err := tx.Model(&Tube{}).Where("tube = ?", r.Tube).Updates(map[string]any{"result": r.Result, "tested_at": r.TestedAt}).Error; err != nil {
				return fmt.Errorf("record tube result: %w", err)
			}
			result := r.Result
			if result == NucleicPositive && mode[r.Tube] > 1 {
				result = NucleicMixedPositive
			}
			for _, sm := range byTube[r.Tube] {
				if old, ok := latest[sm.PersonNo]; ok && r.TestedAt.Before(old.TestedAt) {
					continue // an older result never replaces a newer one
				}
				latest[sm.PersonNo] = NucleicResult{PersonNo: sm.PersonNo, Result: result, Tube: r.Tube, SampledAt: sm.SampledAt.UTC(), TestedAt: r.TestedAt}
				changed[sm.PersonNo] = true
			}
		}
		if len(changed) == 0 {
			return log.close()
		}
		var people []listedPerson
		var fresh []NucleicResult
		for no := range changed {
			fresh = append(fresh, latest[no])
		}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).CreateInBatches(fresh, 200).Error; err != nil {
			return fmt.Errorf("record results: %w", err)
		}
		if err := tx.Model(&Person{}).Select("no, doc_hash").Where("no IN ?", keysOf(changed)).Scan(&people).Error; err != nil {
			return fmt.Errorf("read people: %w", err)
		}
		if err := syncStatuses(log, people); err != nil {
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
