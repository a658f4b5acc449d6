// Package groupcommit turns many small writes into few transactions: each
// caller hands a row to a Writer and returns once the batch holding it has
// committed, so throughput does not cost durability. It knows nothing of
// the store; the caller's flush writes a batch.
package groupcommit

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"healthcode/models/fault"
)

// ErrBusy means the group-commit queue is full: the caller should
// shed the request (503) rather than wait without bound.
var ErrBusy = fault.ErrBusy

// ErrClosed means the writer has shut down and takes no more rows.
var ErrClosed = fault.Errorf(fault.KindBusy, fault.CodeBusy, "系统正在重启，请稍后再试")

// ErrTimeout means the row's batch did not commit within the
// writer's timeout (the database is down or too slow): 503.
var ErrTimeout = fault.ErrUnavailable

// DefaultTimeout is Options.Timeout when it is not set: the deadline of a
// store statement (models.DefaultQueryTimeout).
const DefaultTimeout = 3 * time.Second

// Options bound a group-commit writer.
type Options struct {
	// MaxBatch is the most rows one transaction takes.
	MaxBatch int
	// MaxWait is how long a writer lingers for more rows after taking all
	// that wait; 0 commits at once. Rows that arrive during a commit always
	// join the next batch, so batches grow with load without lingering.
	MaxWait time.Duration
	// Queue is how many rows may wait; beyond it Submit answers ErrBusy.
	Queue int
	// Writers is how many batches may commit at once (1 for SQLite).
	Writers int
	// Timeout bounds one commit, and how long Submit waits for its row's;
	// 0 means DefaultTimeout.
	Timeout time.Duration
}

// Writer turns many small writes into few transactions: callers hand
// it a row and wait; a writer takes up to MaxBatch waiting rows (or what
// came within MaxWait), commits them in one transaction, and tells every
// caller of the batch how it went. A caller returns nil only after its row
// is committed, so nothing answered as accepted is lost; a caller that
// waited Timeout is answered ErrTimeout, and its row, unless a commit
// has already taken it, is dropped unwritten. It is safe for concurrent use.
type Writer[T any] struct {
	opts  Options
	flush func(ctx context.Context, batch []T) error
	// queues are the rows waiting: one that every writer takes from, or,
	// partitioned, one a writer, each row in the queue its key hashes to.
	queues []chan pending[T]
	key    func(T) string
	seed   maphash.Seed
	mu     sync.RWMutex // guards closed against Submit racing Close
	closed bool
	done   sync.WaitGroup
	// timers are the callers' wait timers, reused: a timer made per row
	// cost 3 allocations and about 2 µs (BenchmarkGroupCommitSubmit).
	timers sync.Pool

	batches, rows, failed, commitMicros atomic.Int64
}

// Stats counts what the writers have done since they started.
type Stats struct {
	Batches, Rows, FailedBatches int64
	// CommitTime is the time spent in flush, summed over writers.
	CommitTime time.Duration
}

type pending[T any] struct {
	row    T
	result chan error
	// until is when the caller stops waiting; a writer that finds the row
	// later drops it.
	until time.Time
}

// New starts the writers. flush must write the whole batch in
// one transaction: all rows or none.
func New[T any](opts Options, flush func(ctx context.Context, batch []T) error) *Writer[T] {
	return NewPartitioned(opts, nil, flush)
}

// NewPartitioned starts writers that each commit the rows of
// their own keys: rows of the same key (a tube) always go to the same
// writer, so two batches of this process never wait for each other's locks
// on the rows a key names, and batches of one key commit in the order they
// were submitted. Each writer's queue holds Queue/Writers rows (at least
// MaxBatch). A nil key shares one queue among the writers.
func NewPartitioned[T any](opts Options, key func(T) string, flush func(ctx context.Context, batch []T) error) *Writer[T] {
	opts.MaxBatch = max(opts.MaxBatch, 1)
	opts.Queue = max(opts.Queue, opts.MaxBatch)
	opts.Writers = max(opts.Writers, 1)
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	g := &Writer[T]{opts: opts, flush: flush, key: key, seed: maphash.MakeSeed()}
	queues, size := 1, opts.Queue
	if key != nil {
		queues, size = opts.Writers, max(opts.Queue/opts.Writers, opts.MaxBatch)
	}
	for range queues {
		g.queues = append(g.queues, make(chan pending[T], size))
	}
	for w := range opts.Writers {
		g.done.Add(1)
		go g.write(g.queues[w%queues])
	}
	return g
}

// Submit hands row to the writer and waits until its batch has committed.
// It returns ErrBusy at once when the queue is full, ErrClosed
// after Close, the batch's error when the commit failed, ErrTimeout
// when no commit took the row within Timeout, or ctx's error if the caller
// gives up first. After ErrTimeout or ctx's error the row may still
// be committed, if a commit had taken it already.
func (g *Writer[T]) Submit(ctx context.Context, row T) error {
	wait, _ := g.timers.Get().(*time.Timer)
	if wait == nil {
		wait = time.NewTimer(g.opts.Timeout)
	} else {
		wait.Reset(g.opts.Timeout)
	}
	defer func() { wait.Stop(); g.timers.Put(wait) }()
	p := pending[T]{row: row, result: make(chan error, 1), until: time.Now().Add(g.opts.Timeout)}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return ErrClosed
	}
	queue := g.queues[0]
	if g.key != nil {
		queue = g.queues[maphash.String(g.seed, g.key(row))%uint64(len(g.queues))]
	}
	select {
	case queue <- p:
		g.mu.RUnlock()
	default:
		g.mu.RUnlock()
		return ErrBusy
	}
	select {
	case err := <-p.result:
		return err
	case <-wait.C:
		return lateResult(p, ErrTimeout)
	case <-ctx.Done():
		return lateResult(p, ctx.Err())
	}
}

// lateResult returns the row's result if it came at the same moment the
// caller stopped waiting (a committed row is answered as committed), else
// giveUp.
func lateResult[T any](p pending[T], giveUp error) error {
	select {
	case err := <-p.result:
		return err
	default:
		return giveUp
	}
}

// Close stops taking rows, commits every row already queued, and returns
// when the writers have finished.
func (g *Writer[T]) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		for _, q := range g.queues {
			close(q)
		}
	}
	g.mu.Unlock()
	g.done.Wait()
}

// QueueLength reports how many rows wait.
func (g *Writer[T]) QueueLength() int {
	n := 0
	for _, q := range g.queues {
		n += len(q)
	}
	return n
}

// Stats reports the batches committed so far, for metrics.
func (g *Writer[T]) Stats() Stats {
	return Stats{Batches: g.batches.Load(), Rows: g.rows.Load(), FailedBatches: g.failed.Load(),
		CommitTime: time.Duration(g.commitMicros.Load()) * time.Microsecond}
}

// write commits batches of the rows of queue until it is closed and empty.
func (g *Writer[T]) write(queue chan pending[T]) {
	defer g.done.Done()
	batch := make([]pending[T], 0, g.opts.MaxBatch)
	rows := make([]T, 0, g.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
		// Take everything already waiting: rows that arrived while the last
		// commit ran form the next batch, with no waiting when none are.
	drain:
		for len(batch) < g.opts.MaxBatch {
			select {
			case p, ok := <-queue:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		// Optionally linger for stragglers, bounded by MaxWait.
		if len(batch) < g.opts.MaxBatch && g.opts.MaxWait > 0 {
			timer.Reset(g.opts.MaxWait)
		linger:
			for len(batch) < g.opts.MaxBatch {
				select {
				case p, ok := <-queue:
					if !ok {
						break linger
					}
					batch = append(batch, p)
				case <-timer.C:
					break linger
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		// Rows whose callers have stopped waiting (the database was down)
		// are dropped: they were answered 503, not accepted.
		now := time.Now()
		live := batch[:0]
		for _, p := range batch {
			if now.After(p.until) {
				p.result <- ErrTimeout
				continue
			}
			live = append(live, p)
		}
		batch = live
		if len(batch) == 0 {
			continue
		}
		rows = rows[:0]
		for _, p := range batch {
			rows = append(rows, p.row)
		}
		// The commit must not be cut short by a caller leaving: others in
		// the batch wait for it.
		start := time.Now()
		err := g.commit(rows)
		g.commitMicros.Add(time.Since(start).Microseconds())
		g.batches.Add(1)
		g.rows.Add(int64(len(rows)))
		if err != nil {
			g.failed.Add(1)
		}
		for _, p := range batch {
			p.result <- err
		}
	}
}

// errFlushPanicked is reported to a batch whose flush panicked.
var errFlushPanicked = errors.New("group commit flush panicked")

// commit runs flush for one batch, turning a panic into an error for its
// callers instead of killing the writer.
func (g *Writer[T]) commit(rows []T) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
	defer cancel()
	defer func() {
		if recover() != nil {
			err = errFlushPanicked
		}
	}()
	return g.flush(ctx, rows)
}
