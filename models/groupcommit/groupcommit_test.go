package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"healthcode/models/fault"
)

// recorder is a flush that remembers its batches.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	gate    chan struct{} // when set, each flush waits for a value
	fail    error
}

func (r *recorder) flush(_ context.Context, batch []int) error {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]int(nil), batch...))
	return r.fail
}

func (r *recorder) all() (rows []int, batches int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		rows = append(rows, b...)
	}
	return rows, len(r.batches)
}

func TestGroupCommitBatchesAndKeepsOrder(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	g := New(Options{MaxBatch: 4, MaxWait: 50 * time.Millisecond, Queue: 100}, rec.flush)
	var wg sync.WaitGroup
	// Submit 10 rows one after another while the first flush is held, so
	// the rest queue in order behind it.
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() { errs[i] = g.Submit(context.Background(), i) })
		time.Sleep(3 * time.Millisecond)
	}
	close(rec.gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	rows, batches := rec.all()
	if len(rows) != 10 {
		t.Fatalf("committed %v", rows)
	}
	for i := range rows {
		if rows[i] != i {
			t.Fatalf("rows committed out of order: %v", rows)
		}
	}
	rec.mu.Lock()
	for _, b := range rec.batches {
		if len(b) > 4 {
			t.Errorf("batch of %d rows, limit 4", len(b))
		}
	}
	rec.mu.Unlock()
	if batches >= 10 {
		t.Errorf("%d batches for 10 rows: nothing was grouped", batches)
	}
	if st := g.Stats(); st.Rows != 10 || st.Batches != int64(batches) || st.FailedBatches != 0 || st.CommitTime <= 0 {
		t.Errorf("stats %+v, want 10 rows in %d batches, none failed, some commit time", st, batches)
	}
	g.Close()
}

func TestGroupCommitWaitIsBounded(t *testing.T) {
	rec := &recorder{}
	g := New(Options{MaxBatch: 1000, MaxWait: 20 * time.Millisecond}, rec.flush)
	defer g.Close()
	start := time.Now()
	if err := g.Submit(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("a lone row waited %v for a batch that never filled", waited)
	}
}

func TestGroupCommitFailureReachesEveryWaiter(t *testing.T) {
	boom := errors.New("disk full")
	rec := &recorder{fail: boom, gate: make(chan struct{})}
	g := New(Options{MaxBatch: 8, MaxWait: 30 * time.Millisecond, Queue: 16}, rec.flush)
	defer g.Close()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 5 {
		wg.Go(func() {
			if err := g.Submit(context.Background(), i); errors.Is(err, boom) {
				failed.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(rec.gate)
	wg.Wait()
	if failed.Load() != 5 {
		t.Errorf("%d of 5 callers heard of the failed batch", failed.Load())
	}
	if st := g.Stats(); st.FailedBatches != st.Batches || st.Rows != 5 {
		t.Errorf("stats %+v, want every batch failed and 5 rows", st)
	}
}

func TestGroupCommitShedsWhenFull(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	g := New(Options{MaxBatch: 1, MaxWait: time.Millisecond, Queue: 2}, rec.flush)
	var wg sync.WaitGroup
	results := make(chan error, 10)
	// The first row goes into the held flush before the others arrive.
	wg.Go(func() { results <- g.Submit(context.Background(), 0) })
	for g.QueueLength() != 0 || len(rec.gate) != 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	for i := 1; i < 10; i++ {
		wg.Go(func() { results <- g.Submit(context.Background(), i) })
	}
	// One row is in the held flush, two wait in the queue; the rest are shed.
	deadline := time.After(2 * time.Second)
	busy := 0
	for busy < 7 {
		select {
		case err := <-results:
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("got %v before the flush was released, want ErrBusy", err)
			}
			busy++
		case <-deadline:
			t.Fatalf("only %d submissions were shed", busy)
		}
	}
	close(rec.gate)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("an accepted row failed: %v", err)
		}
	}
	g.Close()
	if rows, _ := rec.all(); len(rows) != 3 {
		t.Errorf("%d rows committed, want the 3 accepted", len(rows))
	}
}

func TestGroupCommitCloseDrains(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	g := New(Options{MaxBatch: 2, MaxWait: time.Millisecond, Queue: 50}, rec.flush)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 20 {
		wg.Go(func() {
			if g.Submit(context.Background(), i) == nil {
				ok.Add(1)
			}
		})
	}
	for g.QueueLength() < 18 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	time.Sleep(10 * time.Millisecond)
	if err := g.Submit(context.Background(), 99); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v", err)
	}
	close(rec.gate)
	<-closed
	wg.Wait()
	rows, _ := rec.all()
	if ok.Load() != 20 || len(rows) != 20 {
		t.Errorf("%d accepted, %d committed; want all 20 drained", ok.Load(), len(rows))
	}
}

func TestGroupCommitSurvivesAPanickingFlush(t *testing.T) {
	calls := 0
	g := New(Options{MaxBatch: 1}, func(context.Context, []int) error {
		calls++
		if calls == 1 {
			panic("bug")
		}
		return nil
	})
	defer g.Close()
	if err := g.Submit(context.Background(), 1); !errors.Is(err, errFlushPanicked) {
		t.Errorf("first = %v", err)
	}
	if err := g.Submit(context.Background(), 2); err != nil {
		t.Errorf("the writer died with the panic: %v", err)
	}
}

// TestGroupCommitAnswersWithinItsTimeout: when a commit hangs (the database
// froze), the caller is answered unavailable by the writer's timeout rather
// than waiting for the commit, and the flush itself gets that deadline.
func TestGroupCommitAnswersWithinItsTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	flushDeadline := make(chan time.Duration, 1)
	g := New(Options{MaxBatch: 8, Timeout: timeout}, func(ctx context.Context, _ []int) error {
		d, _ := ctx.Deadline()
		flushDeadline <- time.Until(d)
		// A server that never answers, reported as the store reports it.
		<-ctx.Done()
		return fault.ErrUnavailable.Wrap(ctx.Err())
	})
	defer g.Close()
	start := time.Now()
	err := g.Submit(context.Background(), 1)
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("Submit took %v with a timeout of %v", took, timeout)
	}
	if fault.KindOf(err) != fault.KindUnavailable {
		t.Errorf("Submit = %v, want unavailable", err)
	}
	if d := <-flushDeadline; d <= 0 || d > timeout {
		t.Errorf("the flush had %v left, want a deadline within %v", d, timeout)
	}
}

// TestGroupCommitDropsRowsItCouldNotCommitInTime: rows whose callers were
// answered unavailable while the commits were stuck are not written when
// the database returns, and the writer then commits new rows at once.
func TestGroupCommitDropsRowsItCouldNotCommitInTime(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	g := New(Options{MaxBatch: 1, Queue: 10, Timeout: 100 * time.Millisecond}, rec.flush)
	defer g.Close()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() { errs[i] = g.Submit(context.Background(), i) })
	}
	wg.Wait() // all four gave up: one in the stuck flush, three queued
	for i, err := range errs {
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("row %d: %v, want ErrTimeout", i, err)
		}
	}
	close(rec.gate) // the database returns
	if err := g.Submit(context.Background(), 99); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	// The row that was being committed when its caller left may be
	// written; the three that only waited are not.
	rows, _ := rec.all()
	if len(rows) > 2 || rows[len(rows)-1] != 99 {
		t.Errorf("committed %v, want at most the stuck row and 99", rows)
	}
}

// BenchmarkGroupCommitSubmit is what a row costs the group commit itself,
// with a flush that writes nothing: queueing, batching, waking the caller,
// and the caller's wait deadline.
func BenchmarkGroupCommitSubmit(b *testing.B) {
	g := New(Options{MaxBatch: 256, Queue: 8192, Writers: 4}, func(context.Context, []int) error { return nil })
	defer g.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := g.Submit(context.Background(), 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A partitioned writer never has two batches of one key committing at
// once, commits a key's rows in the order submitted, and still commits
// batches of different keys side by side.
func TestPartitionedGroupCommitKeepsAKeyOnOneWriter(t *testing.T) {
	// Twenty keys over four writers: some share a writer, and not all can.
	const keys = 20
	var mu sync.Mutex
	inFlight := map[int]int{} // key → flushes holding it
	var order [keys][]int
	most, overlap := 0, false
	running := 0
	flush := func(_ context.Context, batch []int) error {
		mu.Lock()
		held := map[int]bool{}
		for _, row := range batch {
			held[row%keys] = true
			order[row%keys] = append(order[row%keys], row)
		}
		for k := range held {
			if inFlight[k]++; inFlight[k] > 1 {
				overlap = true
			}
		}
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		for k := range held {
			inFlight[k]--
		}
		running--
		mu.Unlock()
		return nil
	}
	g := NewPartitioned(Options{MaxBatch: 4, Queue: 400, Writers: 4}, func(row int) string { return fmt.Sprint(row % keys) }, flush)
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			// Each key's rows one after another, so their order is known.
			for i := range 5 {
				if err := g.Submit(context.Background(), k+keys*i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	g.Close()
	if overlap {
		t.Error("two batches of one key committed at once")
	}
	if most < 2 {
		t.Errorf("at most %d batches at once: the writers did not work side by side", most)
	}
	for k, rows := range order {
		if len(rows) != 5 || !slices.IsSorted(rows) {
			t.Errorf("key %d committed %v", k, rows)
		}
	}
	if st := g.Stats(); st.Rows != 5*keys || g.QueueLength() != 0 {
		t.Errorf("stats %+v, queue %d", st, g.QueueLength())
	}
}
