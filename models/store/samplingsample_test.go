package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/groupcommit"
	"healthcode/models/storetest"
)

// Two nodes (two group-commit writers of their own, each committing
// batches in parallel) registering into the same tube: the database is the
// arbiter, so the tube takes exactly its mode, each position once, and a
// sample id resent through the other node is answered as the first record.
func TestTwoNodesFillOneTube(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		const tube, site = "T-TWONODES", "徐汇区采样点"
		if _, err := s.OpenTube(ctx, tube, 20, site, "sampler-1"); err != nil {
			t.Fatal(err)
		}
		opts := groupcommit.Options{MaxBatch: 4, MaxWait: time.Millisecond, Queue: 100, Writers: 2}
		nodes := []*groupcommit.Writer[*models.SampleRegistration]{
			groupcommit.New(opts, s.RecordSamples), groupcommit.New(opts, s.RecordSamples),
		}
		defer func() {
			for _, n := range nodes {
				n.Close()
			}
		}()
		now := time.Now().UTC()
		registration := func(i int) *models.SampleRegistration {
			return &models.SampleRegistration{Sample: models.Sample{SampleID: fmt.Sprintf("two-nodes-%04d", i), Tube: tube, Site: site,
				PersonID: fmt.Sprintf("person-%04d", i), PersonNo: uint32(i + 1), MaskedName: "张*", MaskedDoc: "11**2X",
				SamplerAccountID: "sampler-1", Method: "nucleic", SampledAt: now}}
		}
		// 30 people for 20 places, each sent to one node; the first ten are
		// sent again through the other.
		var regs []*models.SampleRegistration
		var via []int
		for i := range 30 {
			regs, via = append(regs, registration(i)), append(via, i%2)
		}
		for i := range 10 {
			regs, via = append(regs, registration(i)), append(via, 1-i%2)
		}
		errs := make([]error, len(regs))
		var wg sync.WaitGroup
		for i, r := range regs {
			wg.Go(func() { errs[i] = nodes[via[i]].Submit(ctx, r) })
		}
		wg.Wait()
		var positions []int
		full := 0
		records := map[string]models.Sample{}
		for i, r := range regs {
			var refusal *fault.Error
			switch {
			case errs[i] != nil:
				t.Fatalf("registration %d: batch failed: %v", i, errs[i])
			case errors.As(r.Err, &refusal) && refusal.Code == fault.CodeTubeFull:
				full++
			case r.Err != nil:
				t.Errorf("registration %d refused: %v", i, r.Err)
			case r.Replayed:
			default:
				positions = append(positions, r.Sample.Position)
				records[r.Sample.SampleID] = r.Sample
			}
		}
		slices.Sort(positions)
		want := make([]int, 20)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(positions, want) {
			t.Errorf("positions %v, want each of 1…20 once", positions)
		}
		// Resends answer the record as it was made (or are full with it,
		// when neither made it in).
		for i, r := range regs {
			if errs[i] == nil && r.Err == nil && r.Replayed {
				if first, ok := records[r.Sample.SampleID]; !ok || first.Position != r.Sample.Position {
					t.Errorf("resend of %s answered position %d, the record has %+v", r.Sample.SampleID, r.Sample.Position, first)
				}
			}
		}
		tb, samples, err := s.TubeOf(ctx, tube, site)
		if err != nil {
			t.Fatal(err)
		}
		if tb.Count != 20 || len(samples) != 20 || len(records) != 20 || full < 10 {
			t.Errorf("tube count %d, %d rows, %d registered, %d full; want 20, 20, 20 and at least 10", tb.Count, len(samples), len(records), full)
		}
	})
}

// A person sampled at another tube within the hour is flagged while that
// tube is open: not for a sealed one, not for one sampled longer ago, not
// for the same tube; two tubes of one batch flag the second.
func TestResampledFlag(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		const site = "静安区采样点"
		for _, tube := range []string{"T-OPEN-0001", "T-SEAL-0001", "T-LATE-0001", "T-NEXT-0001", "T-NEXT-0002"} {
			if _, err := s.OpenTube(ctx, tube, 20, site, "sampler-1"); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
		sample := func(id, tube, person string, at time.Time) *models.SampleRegistration {
			return &models.SampleRegistration{Sample: models.Sample{SampleID: id, Tube: tube, Site: site, PersonID: person,
				PersonNo: 1, MaskedName: "张*", MaskedDoc: "11**2X", SamplerAccountID: "sampler-1", Method: "nucleic", SampledAt: at}}
		}
		record := func(regs ...*models.SampleRegistration) {
			t.Helper()
			if err := s.RecordSamples(ctx, regs); err != nil {
				t.Fatal(err)
			}
			for _, r := range regs {
				if r.Err != nil {
					t.Fatalf("%s: %v", r.Sample.SampleID, r.Err)
				}
			}
		}
		// Earlier samples: in an open tube 30 minutes ago, in a tube sealed
		// since, and in an open tube two hours ago.
		record(sample("early-open-1", "T-OPEN-0001", "p-open", now.Add(-30*time.Minute)),
			sample("early-seal-1", "T-SEAL-0001", "p-sealed", now.Add(-30*time.Minute)),
			sample("early-late-1", "T-LATE-0001", "p-late", now.Add(-2*time.Hour)))
		if _, err := s.SealTube(ctx, "T-SEAL-0001", site); err != nil {
			t.Fatal(err)
		}
		regs := []*models.SampleRegistration{
			sample("next-open-1", "T-NEXT-0001", "p-open", now),
			sample("next-seal-1", "T-NEXT-0001", "p-sealed", now),
			sample("next-late-1", "T-NEXT-0001", "p-late", now),
			sample("next-new1-1", "T-NEXT-0001", "p-new", now),
			sample("next-new2-1", "T-NEXT-0002", "p-new", now),
		}
		record(regs...)
		want := []bool{true, false, false, false, true}
		for i, r := range regs {
			if r.Sample.Resampled != want[i] {
				t.Errorf("%s resampled = %v, want %v", r.Sample.SampleID, r.Sample.Resampled, want[i])
			}
		}
		// One person alone in a batch (a question of one row), in the tube
		// they are in already: not another tube.
		alone := sample("open-again", "T-OPEN-0001", "p-other", now)
		record(alone)
		again := sample("open-again2", "T-NEXT-0002", "p-other", now.Add(time.Minute))
		record(again)
		if alone.Sample.Resampled || !again.Sample.Resampled {
			t.Errorf("alone = %v, again = %v; want false, true", alone.Sample.Resampled, again.Sample.Resampled)
		}
	})
}

// A batch that holds resends (of an earlier batch's sample and within
// itself) and a person scanned twice besides new people writes the new
// people at the next positions, answers each resend with its first record
// and refuses the second scan; a retry of the same batch (a commit whose
// answer was lost) finds its own samples and answers them as resends.
func TestBatchWithResendAndSecondScan(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		const tube, site = "T-RESEND-01", "长宁区采样点"
		if _, err := s.OpenTube(ctx, tube, 10, site, "sampler-1"); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		sample := func(id, person string) *models.SampleRegistration {
			return &models.SampleRegistration{Sample: models.Sample{SampleID: id, Tube: tube, Site: site, PersonID: person, PersonNo: 1,
				MaskedName: "张*", MaskedDoc: "11**2X", SamplerAccountID: "sampler-1", Method: "nucleic", SampledAt: now}}
		}
		first := []*models.SampleRegistration{sample("first-0001", "p1"), sample("first-0002", "p2")}
		if err := s.RecordSamples(ctx, first); err != nil || first[0].Err != nil || first[1].Err != nil {
			t.Fatal(err, first[0].Err, first[1].Err)
		}
		batch := []*models.SampleRegistration{
			sample("second-001", "p3"),
			sample("first-0002", "p2"), // the device resent it
			sample("second-002", "p1"), // p1 scanned again
			sample("second-003", "p4"),
			sample("second-003", "p4"), // resent within the batch
		}
		decided := func() string {
			got := make([]string, len(batch))
			for i, r := range batch {
				code := ""
				var fe *fault.Error
				if errors.As(r.Err, &fe) {
					code = fe.Code
				}
				got[i] = fmt.Sprintf("%s:%d:%v:%s", r.Sample.SampleID, r.Sample.Position, r.Replayed, code)
			}
			return fmt.Sprint(got)
		}
		if err := s.RecordSamples(ctx, batch); err != nil {
			t.Fatal(err)
		}
		want := "[second-001:3:false: first-0002:2:true: second-002:0:false:" + fault.CodeAlreadyInTube + " second-003:4:false: second-003:4:true:]"
		if got := decided(); got != want {
			t.Errorf("decided %s, want %s", got, want)
		}
		// The same batch again (a retry after a commit whose answer was
		// lost): its new samples are resends now, the second scan still
		// refused.
		if err := s.RecordSamples(ctx, batch); err != nil {
			t.Fatal(err)
		}
		want = "[second-001:3:true: first-0002:2:true: second-002:0:false:" + fault.CodeAlreadyInTube + " second-003:4:true: second-003:4:true:]"
		if got := decided(); got != want {
			t.Errorf("again, decided %s, want %s", got, want)
		}
		tb, samples, err := s.TubeOf(ctx, tube, site)
		if err != nil || tb.Count != 4 || len(samples) != 4 {
			t.Fatalf("tube %+v, %d samples, %v", tb, len(samples), err)
		}
	})
}

// The re-sampling check compares tubes and people byte for byte (on
// MariaDB too, whose subquery cache would otherwise answer one barcode with
// another's that differs in case), answers every question of a chunk in
// order across the statements' bounds, and takes any text.
func TestResampledComparesBytes(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		const site = "静安区采样点"
		for _, tube := range []string{"T-case-0001", "T-CASE-0001", "T-OTHER-001", "T-OTHER-002", "T-ASK-00001"} {
			if _, err := s.OpenTube(ctx, tube, 20, site, "sampler-1"); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC()
		rec := func(id, tube, person string) {
			regs := []*models.SampleRegistration{{Sample: models.Sample{SampleID: id, Tube: tube, Site: site, PersonID: person,
				PersonNo: 1, MaskedName: "张*", MaskedDoc: "11**2X", SamplerAccountID: "sampler-1", Method: "nucleic", SampledAt: now.Add(-10 * time.Minute)}}}
			if err := s.RecordSamples(ctx, regs); err != nil || regs[0].Err != nil {
				t.Fatal(err, regs[0].Err)
			}
		}
		rec("case-sample-1", "T-case-0001", "pc")     // tube differs only in case from T-CASE-0001
		rec("case-sample-2", "T-OTHER-001", "pUPPER") // person differs only in case from "pupper"
		for _, i := range []int{11, 150, 199, 200, 201, 249} {
			rec(fmt.Sprintf("flag-sample-%d", i), "T-OTHER-002", fmt.Sprintf("flag-%d", i))
		}
		since := now.Add(-time.Hour)
		// Case: asked in T-CASE-0001 (a different tube, byte for byte): flagged.
		// Person "pupper": not the same person as "pUPPER": not flagged.
		got, err := s.Resampled(ctx, [][2]string{{"pc", "T-CASE-0001"}, {"pupper", "T-ASK-00001"}, {"pc", "T-case-0001"}}, since)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[true false false]" {
			t.Errorf("case: got %v, want [true false false]", got)
		}
		for _, n := range []int{1, 2, 199, 200, 201, 250, 401} {
			asked := make([][2]string, n)
			want := make([]bool, n)
			for i := range asked {
				asked[i] = [2]string{fmt.Sprintf("none-%d", i), "T-ASK-00001"}
				switch i {
				case 11, 150, 199, 200, 201, 249:
					asked[i][0] = fmt.Sprintf("flag-%d", i)
					want[i] = true
				}
			}
			got, err := s.Resampled(ctx, asked, since)
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("n=%d: got %v\nwant %v", n, got, want)
			}
		}
		// Empty strings, unicode and quotes.
		got, err = s.Resampled(ctx, [][2]string{{"", ""}, {"张'\\", "T-ASK-00001"}}, since)
		if err != nil || fmt.Sprint(got) != "[false false]" {
			t.Errorf("odd values: %v %v", got, err)
		}
	})
}
