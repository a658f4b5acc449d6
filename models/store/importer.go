package store

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"healthcode/models"
	"healthcode/models/fault"
)

// Importer runs this node's import jobs one at a time, from files spooled
// to disk, in the background: no import is cut short by an HTTP timeout,
// and a bounded queue answers busy beyond it. It also finishes or fails the
// jobs of nodes that went away (RecoverImports). It is safe for concurrent
// use.
type Importer struct {
	store  *Store
	tasks  chan importTask
	log    *slog.Logger
	onDone func()
	// queued holds the ids of jobs waiting in tasks, whose heartbeat the
	// importer keeps.
	mu     sync.Mutex
	queued map[string]bool
}

type importTask struct {
	job  *models.ImportJob
	path string
}

// Recovery: a job whose runner has not beaten for importStale is taken up
// by the next node that looks, every importRecoverEvery.
const (
	importStale        = 2 * time.Minute
	importRecoverEvery = 30 * time.Second
)

// NewImporter returns an importer holding at most queue waiting jobs;
// onDone runs after each job (to refresh this node's books at once).
func NewImporter(store *Store, queue int, log *slog.Logger, onDone func()) *Importer {
	return &Importer{store: store, tasks: make(chan importTask, queue), log: log, onDone: onDone, queued: map[string]bool{}}
}

// Submit queues a job over the file at path (empty for a clear), which the
// importer removes when done. A full queue is ErrBusy: the caller removes
// the file and fails the job.
func (im *Importer) Submit(job *models.ImportJob, path string) error {
	// The runner works on its own copy: the caller may still read job.
	own := *job
	im.mu.Lock()
	defer im.mu.Unlock()
	select {
	case im.tasks <- importTask{job: &own, path: path}:
		im.queued[job.ID] = true
		return nil
	default:
		return fault.ErrBusy
	}
}

// Run works through the queue until ctx ends. Its transactions are bulk:
// a batch's status sync may run thousands of statements under the status
// log lock, each still within the query timeout.
func (im *Importer) Run(ctx context.Context) {
	ctx = withBulkTransaction(ctx)
	recover := time.NewTicker(importRecoverEvery)
	defer recover.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-im.tasks:
			im.mu.Lock()
			delete(im.queued, t.job.ID)
			im.mu.Unlock()
			im.run(ctx, t)
		case <-recover.C:
			if err := im.store.TouchQueuedImports(ctx, im.waiting()); err != nil {
				im.log.ErrorContext(ctx, "keep queued imports alive", "err", err)
			}
			if n, err := im.store.RecoverImports(ctx, importStale); err != nil {
				im.log.ErrorContext(ctx, "recover imports", "err", err)
			} else if n > 0 {
				im.log.InfoContext(ctx, "took up interrupted imports", "jobs", n)
				im.done()
			}
		}
	}
}

// waiting returns the ids of the jobs in the queue.
func (im *Importer) waiting() []string {
	im.mu.Lock()
	defer im.mu.Unlock()
	ids := make([]string, 0, len(im.queued))
	for id := range im.queued {
		ids = append(ids, id)
	}
	return ids
}

func (im *Importer) run(ctx context.Context, t importTask) {
	defer func() {
		if t.path != "" {
			os.Remove(t.path)
		}
	}()
	open := func() (io.ReadCloser, error) {
		if t.path == "" {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return os.Open(t.path)
	}
	err := im.store.RunImport(ctx, t.job, open, nil)
	if err != nil {
		// The job stays as it was left: another node's recovery (or this
		// one's) finishes it after the switch or fails it before.
		im.log.ErrorContext(ctx, "import stopped", "import", t.job.ID, "err", err)
		return
	}
	im.log.InfoContext(ctx, "import finished", "import", t.job.ID, "source", t.job.Source, "state", t.job.State, "rows", t.job.RowsRead)
	im.done()
}

func (im *Importer) done() {
	if im.onDone != nil {
		im.onDone()
	}
}
