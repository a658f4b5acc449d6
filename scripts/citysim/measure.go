package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/store"
)

// heapAndColdStart loads a fresh book, on a pool of its own as a node
// starting cold would, and reports the time it took and the heap it holds
// per person (HeapAlloc after two GCs, before and after).
func (c *city) heapAndColdStart(ctx context.Context) (*models.StatusBook, error) {
	db, err := c.open(ctx, 2)
	if err != nil {
		return nil, err
	}
	st := store.NewStore(db, c.vault, models.SystemClock{}, c.loc)
	c.queries.take()
	before := heapAfterGC()
	book := models.NewStatusBook()
	start := time.Now()
	err = st.RefreshStatus(ctx, book)
	cold := time.Since(start)
	store.CloseDB(db)
	if err != nil {
		return nil, fmt.Errorf("cold load: %w", err)
	}
	after := heapAfterGC()
	c.printProfile("the cold start")
	c.printf("N = %d: cold start (fresh StatusBook, RefreshStatus from %s) %.1f s = %.0f people/s%s",
		c.n, c.o.db, cold.Seconds(), float64(c.n)/cold.Seconds(), target(cold <= time.Minute || c.n < 5_000_000, "≤ 60 s at 5 M"))
	c.printf("N = %d: status book heap %.2f bytes a person (HeapAlloc after GC %.1f → %.1f MB; target ≤ 48)",
		c.n, float64(after-before)/float64(c.n), mb(before), mb(after))
	runtime.KeepAlive(book)
	return book, nil
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// timedImport writes a list of importRows rows (half registered people,
// mixed colours), imports it through the pipeline and reports its wall
// time, its steps and the growth of this process's RSS; then the node
// that holds book catches up.
func (c *city) timedImport(ctx context.Context, book *models.StatusBook) error {
	list := newList(models.SourceCommunity, c.o.importRows, c.n, 1, 1<<24, mixedColours)
	path := filepath.Join(c.work, "community.csv")
	start := time.Now()
	if err := list.write(path, c.n); err != nil {
		return err
	}
	size := fileSize(path)
	fmt.Printf("wrote %s: %d rows (%d registered), %.0f MB in %.1f s\n", path, list.rows, list.registered, mb(uint64(size)), time.Since(start).Seconds())

	seqBefore, err := c.lastSeq(ctx)
	if err != nil {
		return err
	}
	debug.FreeOSMemory()
	load, pool := loadAverage(), c.poolCounters(ctx)
	rss := startRSS()
	c.queries.take()
	stopProfile, err := c.startProfile()
	if err != nil {
		return err
	}
	probe := startWriteProbe(ctx, c.db, 20*time.Millisecond)
	res, err := c.runImport(ctx, c.store, list.source, path)
	probeDesc, worstWait := probe.finish()
	stopProfile()
	peak, before := rss.stop()
	c.printProfile("the import")
	if err != nil {
		return err
	}
	seqAfter, err := c.lastSeq(ctx)
	if err != nil {
		return err
	}
	c.printf("import of %d rows (%d registered, %.0f MB CSV, source %s) through NewStatusImport + RunStatusImport: %.1f s wall%s",
		list.rows, list.registered, mb(uint64(size)), list.source, res.wall.Seconds(), target(res.wall <= time.Minute, "≤ 60 s"))
	c.printf("  steps: validate %.1f s, stage %.1f s, switch + sync %d people's statuses + remove old list %.1f s; %d changes logged",
		res.validated.Seconds(), (res.staged - res.validated).Seconds(), list.registered, (res.wall - res.staged).Seconds(), seqAfter-seqBefore)
	growth := max(peak, before) - before
	c.printf("  while it ran: %s", c.machine(ctx, load, pool))
	waitTarget := ""
	if c.o.db == "sqlite" {
		waitTarget = target(worstWait <= 100*time.Millisecond, "≤ 100 ms on SQLite")
	}
	c.printf("  a concurrent write every 20 ms (an audit row) during it: %s%s", probeDesc, waitTarget)
	c.printf("  RSS before %.0f MB, peak %.0f MB (VmHWM reset before, VmRSS sampled every 10 ms): growth %.0f MB%s",
		mb(before), mb(peak), mb(growth), target(growth <= 100<<20, "≤ 100 MB"))

	start = time.Now()
	if err := c.store.RefreshStatus(ctx, book); err != nil {
		return err
	}
	c.printf("  a node that held the book before the import catches up in %.2f s (%d changes, one RefreshStatus)", time.Since(start).Seconds(), seqAfter-seqBefore)
	return c.checkList(book, list, 2000)
}

// startProfile starts the CPU profile -cpuprofile asks for; the function
// it returns stops it.
func (c *city) startProfile() (func(), error) {
	if c.o.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(c.o.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// importResult is how an import went: wall time, and when validation and
// staging ended (from the start).
type importResult struct {
	wall, validated, staged time.Duration
	job                     models.ImportJob
}

// runImport runs an import of the file at path for source through the
// pipeline the server and the CLI use, printing progress.
func (c *city) runImport(ctx context.Context, st *store.Store, source, path string) (importResult, error) {
	var res importResult
	start := time.Now()
	job, err := st.NewStatusImport(ctx, source, false, "operator:citysim", "citysim")
	if err != nil {
		return res, err
	}
	last := start
	progress := func(j models.ImportJob) {
		now := time.Since(start)
		if res.validated == 0 && j.State == models.ImportApplying {
			res.validated = now
		}
		if res.staged == 0 && j.Switched {
			res.staged = now
		}
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			fmt.Printf("  %5.1f s: %s, %d read, %d applied, phase %d\n", now.Seconds(), j.State, j.RowsRead, j.RowsApplied, j.Phase)
		}
	}
	open := func() (io.ReadCloser, error) { return os.Open(path) }
	err = st.RunStatusImport(ctx, job, open, progress)
	res.wall, res.job = time.Since(start), *job
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	if job.State != models.ImportDone {
		return res, fmt.Errorf("import ended %s: %s %s", job.State, job.Message, job.Problems)
	}
	if res.staged == 0 {
		res.staged = res.wall
	}
	return res, nil
}

// lastSeq returns the change log's last sequence.
func (c *city) lastSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := c.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(seq), 0) FROM status_changes").Scan(&seq).Error
	return seq, err
}

// checkList checks that book shows, for a sample of the list's registered
// people, the colour the list gives them.
func (c *city) checkList(book *models.StatusBook, list listSpec, sample int) error {
	bad := 0
	for s := range sample {
		j := s * list.registered / sample
		no := spread(uint64(j), uint64(list.registered), uint64(c.n), list.residue)
		want, _ := list.colour(j)
		if got := book.Of(no).Colour; got != want {
			bad++
			if bad <= 3 {
				fmt.Printf("  person %d: book says %s, list %s\n", no, got, want)
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d sampled people of the %s list have another colour in the book", bad, sample, list.source)
	}
	c.printf("  checked: %d sampled people of the %s list have its colour in the book", sample, list.source)
	return nil
}

// propagation starts a second node (its own pool and book, loaded cold,
// polling every -poll), imports a list that turns deltaRows registered
// people yellow, and reports when the second node's book held the last
// change after the import returned.
func (c *city) propagation(ctx context.Context, book *models.StatusBook) error {
	db, err := c.open(ctx, 2)
	if err != nil {
		return err
	}
	defer store.CloseDB(db)
	nodeB := store.NewStore(db, c.vault, models.SystemClock{}, c.loc)
	bookB := models.NewStatusBook()
	start := time.Now()
	if err := nodeB.RefreshStatus(ctx, bookB); err != nil {
		return err
	}
	c.printf("second node: cold start %.1f s with the lists in force", time.Since(start).Seconds())

	type seen struct {
		at   time.Time
		seq  uint64
		took time.Duration
	}
	var (
		mu    sync.Mutex
		polls []seen
	)
	pollCtx, stop := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		t := time.NewTicker(c.o.poll)
		defer t.Stop()
		for {
			select {
			case <-pollCtx.Done():
				return
			case <-t.C:
			}
			began := time.Now()
			if err := nodeB.RefreshStatus(pollCtx, bookB); err != nil && pollCtx.Err() == nil {
				fmt.Println("  second node: refresh:", err)
			}
			mu.Lock()
			polls = append(polls, seen{at: time.Now(), seq: bookB.Seq(), took: time.Since(began)})
			mu.Unlock()
		}
	}()
	defer func() { stop(); <-polled }()

	list := listSpec{source: models.SourceOperator, rows: c.o.deltaRows, registered: c.o.deltaRows, residue: 3, colour: allYellow}
	if uint64(c.n)/5 < uint64(list.registered) {
		return fmt.Errorf("-delta-rows %d: the city has only %d people of residue 3", list.registered, c.n/5)
	}
	path := filepath.Join(c.work, "operator.csv")
	if err := list.write(path, c.n); err != nil {
		return err
	}
	seqBefore, err := c.lastSeq(ctx)
	if err != nil {
		return err
	}
	c.queries.take()
	load, pool := loadAverage(), c.poolCounters(ctx)
	res, err := c.runImport(ctx, c.store, list.source, path)
	if err != nil {
		return err
	}
	done := time.Now()
	machine := c.machine(ctx, load, pool)
	c.printProfile("the delta import and the second node's polls")
	last, err := c.lastSeq(ctx)
	if err != nil {
		return err
	}
	var reached seen
	for deadline := time.Now().Add(time.Minute); reached.seq < last; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		for _, p := range polls {
			if p.seq >= last {
				reached = p
				break
			}
		}
		mu.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("the second node did not reach sequence %d within a minute of the import", last)
		}
	}
	lag := max(reached.at.Sub(done), 0)
	var slowest time.Duration
	mu.Lock()
	for _, p := range polls {
		slowest = max(slowest, p.took)
	}
	count := len(polls)
	mu.Unlock()
	c.printf("delta: an import of %d rows turning %d registered people yellow took %.1f s and logged %d changes; "+
		"the second node (polling every %s) held the last %.2f s after it returned%s; its slowest poll of %d took %.2f s",
		list.rows, list.registered, res.wall.Seconds(), last-seqBefore, c.o.poll, lag.Seconds(), target(lag <= 5*time.Second, "≤ 5 s"), count, slowest.Seconds())
	start = time.Now()
	if err := c.store.RefreshStatus(ctx, book); err != nil {
		return err
	}
	c.printf("  while it ran: %s", machine)
	c.printf("  a node that polled last before the import catches up in %.2f s (%d changes, one RefreshStatus)", time.Since(start).Seconds(), last-seqBefore)
	return c.checkList(bookB, list, 2000)
}

// target marks a figure against its target.
func target(met bool, what string) string {
	if met {
		return " (target " + what + ": met)"
	}
	return " (target " + what + ": MISSED)"
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// poolCounters are the server's buffer pool counters (global: other
// sessions' work is counted too).
type poolCounters struct{ requests, reads int64 }

func (c *city) poolCounters(ctx context.Context) poolCounters {
	var p poolCounters
	if c.o.db != "mysql" {
		return p
	}
	var rows []struct {
		VariableName string `gorm:"column:Variable_name"`
		Value        int64  `gorm:"column:Value"`
	}
	c.db.WithContext(ctx).Raw("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_read%'").Scan(&rows)
	for _, r := range rows {
		switch r.VariableName {
		case "Innodb_buffer_pool_read_requests":
			p.requests = r.Value
		case "Innodb_buffer_pool_reads":
			p.reads = r.Value
		}
	}
	return p
}

// machine says how busy the machine and the database's buffer pool were
// during a step.
func (c *city) machine(ctx context.Context, load string, before poolCounters) string {
	out := fmt.Sprintf("load average %s → %s on %d cores", load, loadAverage(), runtime.NumCPU())
	if c.o.db == "mysql" {
		after := c.poolCounters(ctx)
		var size int64
		c.db.WithContext(ctx).Raw("SELECT @@innodb_buffer_pool_size").Scan(&size)
		req, reads := after.requests-before.requests, after.reads-before.reads
		if req > 0 {
			out += fmt.Sprintf("; InnoDB buffer pool %.0f MB: %d page reads from disk of %d requests (%.1f%%)", mb(uint64(size)), reads, req, 100*float64(reads)/float64(req))
		}
	}
	return out
}

// writeProbe writes a small row (an audit entry, as every operator action
// writes) every interval while an import runs, and keeps how long each
// write took: on SQLite, whose one writer every write waits for, this is
// how long a concurrent writer waits for the import.
type writeProbe struct {
	stop  chan struct{}
	done  chan struct{}
	waits []time.Duration
	fails int
}

func startWriteProbe(ctx context.Context, db *gorm.DB, every time.Duration) *writeProbe {
	p := &writeProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			start := time.Now()
			err := db.WithContext(ctx).Create(&models.AuditEntry{At: start.UTC(), Actor: "system", Action: "citysim.probe", Subject: "write-wait"}).Error
			if err != nil {
				p.fails++
				continue
			}
			p.waits = append(p.waits, time.Since(start))
		}
	}()
	return p
}

// finish stops the probe and describes its writes: count, p99, max.
func (p *writeProbe) finish() (desc string, worst time.Duration) {
	close(p.stop)
	<-p.done
	if len(p.waits) == 0 {
		return fmt.Sprintf("no write completed (%d failed)", p.fails), 0
	}
	slices.Sort(p.waits)
	worst = p.waits[len(p.waits)-1]
	p99 := p.waits[(len(p.waits)*99)/100]
	return fmt.Sprintf("%d writes, p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d failed", len(p.waits),
		ms(p.waits[len(p.waits)/2]), ms(p99), ms(worst), p.fails), worst
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
