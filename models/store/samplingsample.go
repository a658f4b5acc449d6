package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"healthcode/models"
	"healthcode/models/fault"
)

var (
	// errSampleIDTaken is a sample id another site used: ids are the
	// devices' random UUIDs, so this is a fault, not a resend.
	errSampleIDTaken = fault.Errorf(fault.KindConflict, fault.CodeSampleIDTaken, "采样记录编号已被使用，请重新登记")
)

// resampleWindow is how far back a sample at another open tube flags a
// person as re-sampled.
const resampleWindow = time.Hour

// RecordSamples registers a batch of samples (group commit). Its
// transaction locks the batch's tubes (in order, so concurrent batches never
// deadlock; between nodes the database is the arbiter), reads in one
// statement the samples of those tubes and any of the sample ids seen
// before, decides every registration in memory — a replayed id, a missing,
// sealed or full tube, a person already in it — and writes the rest in one
// INSERT and the tubes' new counts in one UPDATE: the same few statements
// whatever the batch's size. Whether each person was sampled at another open
// tube within the hour (a flag, which needs no lock) is read on another
// connection meanwhile. Per-sample refusals are in each registration's Err;
// the error returned is the batch's (the database's).
func (s *Store) RecordSamples(ctx context.Context, regs []*models.SampleRegistration) error {
	if len(regs) == 0 {
		return nil
	}
	// A retry after a failed commit starts clean.
	for _, r := range regs {
		r.Replayed, r.Err = false, nil
	}
	tubeIDs, sampleIDs := make([]string, 0, len(regs)), make([]string, 0, len(regs))
	asked := make([][2]string, len(regs)) // each registration's person and tube
	for i, r := range regs {
		tubeIDs, sampleIDs = append(tubeIDs, r.Sample.Tube), append(sampleIDs, r.Sample.SampleID)
		asked[i] = [2]string{r.Sample.PersonID, r.Sample.Tube}
	}
	slices.Sort(tubeIDs)
	tubeIDs = slices.Compact(tubeIDs)
	// Whether each person was sampled at another open tube within the
	// hour: a flag, which needs no lock, read beside the transaction.
	type flags struct {
		resampled []bool
		err       error
	}
	read := make(chan flags, 1)
	go func() {
		f, err := s.resampled(ctx, asked, regs[0].Sample.SampledAt.Add(-resampleWindow))
		read <- flags{f, err}
	}()
	// Read committed: after waiting for a tube's lock, see what the batch
	// that held it wrote.
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var tubes []models.Tube
		if err := tx.Clauses(lockForUpdate).Where("tube IN ?", tubeIDs).Order("tube").Find(&tubes).Error; err != nil {
			return fmt.Errorf("lock tubes: %w", err)
		}
		byTube := make(map[string]*models.Tube, len(tubes))
		for i := range tubes {
			byTube[tubes[i].Tube] = &tubes[i]
		}
		// The ids asked for that exist already, and who is in the tubes
		// (at most a tube's mode each: asking for the batch's people
		// instead lets the database read all their samples by person).
		var seen []models.Sample
		if err := tx.Where("sample_id IN ? OR tube IN ?", sampleIDs, tubeIDs).Find(&seen).Error; err != nil {
			return fmt.Errorf("read samples: %w", err)
		}
		byID := make(map[string]models.Sample, len(seen))
		held := make(map[[2]string]bool, len(seen))
		for _, sm := range seen {
			byID[sm.SampleID] = sm
			held[[2]string{sm.Tube, sm.PersonID}] = true
		}
		f := <-read
		if f.err != nil {
			return f.err
		}
		// The tubes this batch put each person in so far.
		batchTubes := map[string][]string{}
		var fresh []models.Sample
		changed := map[string]bool{}
		for i, r := range regs {
			sm := &r.Sample
			if old, ok := byID[sm.SampleID]; ok {
				if old.Site != sm.Site {
					// Another site's id: never answer its record.
					r.Err = errSampleIDTaken
					continue
				}
				r.Sample, r.Replayed = old, true
				continue
			}
			t := byTube[sm.Tube]
			switch {
			case t == nil || t.Site != sm.Site:
				r.Err = errTubeMissing
			case t.State != models.TubeOpen:
				r.Err = errTubeSealed
			case held[[2]string{t.Tube, sm.PersonID}]:
				r.Err = errInTube
			case t.Count >= t.Mode:
				r.Err = errTubeFull
			}
			if r.Err != nil {
				continue
			}
			// Tubes of this batch are open: one other than this is a
			// re-sampling too.
			earlier := batchTubes[sm.PersonID]
			sm.Resampled = f.resampled[i] || len(earlier) > 0
			batchTubes[sm.PersonID] = append(earlier, sm.Tube)
			t.Count++
			sm.Position = t.Count
			held[[2]string{t.Tube, sm.PersonID}] = true
			byID[sm.SampleID] = *sm
			changed[t.Tube] = true
			fresh = append(fresh, *sm)
		}
		if len(fresh) == 0 {
			return nil
		}
		conn := tx.Statement.ConnPool
		insert, values := insertSamples(fresh)
		if _, err := conn.ExecContext(ctx, insert, values...); err != nil {
			return fmt.Errorf("record %d samples: %w", len(fresh), databaseError(err))
		}
		// Every tube that took a sample, in one statement.
		var set, in strings.Builder
		var args, ids []any
		for _, id := range tubeIDs {
			if changed[id] {
				set.WriteString(" WHEN ? THEN ?")
				args = append(args, id, byTube[id].Count)
				in.WriteString(",?")
				ids = append(ids, id)
			}
		}
		update := "UPDATE sampling_tubes SET `count` = CASE tube" + set.String() + " END WHERE tube IN (" + in.String()[1:] + ")"
		if _, err := conn.ExecContext(ctx, update, append(args, ids...)...); err != nil {
			return fmt.Errorf("count tubes: %w", databaseError(err))
		}
		return nil
	}, s.readCommitted()...)
}

// sampleColumns are the columns insertSamples writes.
const sampleColumns = "(sample_id, tube, position, person_id, person_no, masked_name, masked_doc, site, sampler_account_id, method, resampled, sampled_at)"

// insertSamples is one INSERT of the samples and its arguments.
func insertSamples(samples []models.Sample) (string, []any) {
	return multiRowInsert("samples", sampleColumns, len(samples), func(i int, args []any) []any {
		sm := &samples[i]
		return append(args, sm.SampleID, sm.Tube, sm.Position, sm.PersonID, sm.PersonNo, sm.MaskedName, sm.MaskedDoc, sm.Site,
			sm.SamplerAccountID, sm.Method, sm.Resampled, sm.SampledAt.UTC())
	})
}

// resampledPerStatement bounds the registrations one statement of
// resampled asks about (three values each, well within the databases'
// limits on a statement's placeholders).
const resampledPerStatement = 200

// resampled tells, for each person and tube asked about, whether the
// person was sampled since the time given at another tube that is still
// open. Each question stops at the first such sample and reads its tube
// from the index (person, time, tube), so a person sampled often costs an
// index entry, not their rows. The questions are one table of values: its
// first row names the columns, the rest are a VALUES list, which the
// database parses and plans far faster than as many SELECTs.
func (s *Store) resampled(ctx context.Context, asked [][2]string, since time.Time) ([]bool, error) {
	out := make([]bool, 0, len(asked))
	// On MySQL the literals would carry the connection's collation
	// (utf8mb4_general_ci), and MariaDB's subquery cache, keyed by them,
	// would answer "T-abc" with the answer to "T-ABC": compare them as the
	// columns do, byte for byte.
	collate := ""
	if s.db.Dialector.Name() == "mysql" {
		collate = " COLLATE utf8mb4_bin"
	}
	for chunk := range slices.Chunk(asked, resampledPerStatement) {
		var q strings.Builder
		q.WriteString("SELECT EXISTS (SELECT 1 FROM samples JOIN sampling_tubes ON sampling_tubes.tube = samples.tube " +
			"WHERE samples.person_id = asked.person_id AND samples.tube <> asked.tube AND samples.sampled_at >= ? " +
			"AND sampling_tubes.state = ?) AS other FROM (SELECT ? AS n, ?" + collate + " AS person_id, ?" + collate + " AS tube")
		args := []any{since, models.TubeOpen, 0, chunk[0][0], chunk[0][1]}
		for i, a := range chunk[1:] {
			if i == 0 {
				q.WriteString(" UNION ALL VALUES ")
			} else {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, i+1, a[0], a[1])
		}
		q.WriteString(") AS asked ORDER BY asked.n")
		var flags []bool
		if err := s.db.WithContext(ctx).Raw(q.String(), args...).Scan(&flags).Error; err != nil {
			return nil, fmt.Errorf("read recent samples: %w", err)
		}
		if len(flags) != len(chunk) {
			return nil, fmt.Errorf("read recent samples: %d answers to %d questions", len(flags), len(chunk))
		}
		out = append(out, flags...)
	}
	return out, nil
}

// SampleByID returns a registration by its sample id, or an *Error of
// KindNotFound.
func (s *Store) SampleByID(ctx context.Context, id string) (*models.Sample, error) {
	var sm models.Sample
	if err := s.db.WithContext(ctx).Take(&sm, "sample_id = ?", id).Error; err != nil {
		return nil, notFound(err, fault.CodeSampleNotFound, "未找到该采样记录")
	}
	return &sm, nil
}
