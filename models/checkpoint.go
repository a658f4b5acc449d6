package models

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// checkpointEvery is the least time between two checkpoints of SQLite's
// write-ahead log.
const checkpointEvery = 250 * time.Millisecond

// walCheckpointer copies SQLite's write-ahead log into the database file
// outside the write lock. SQLite's own automatic checkpoint runs inside the
// COMMIT that crosses its threshold, while that writer still holds the
// write gate, so every writer queued behind it waited for the copy and its
// fsyncs (the longest waits beside an import). Connections are opened with
// wal_autocheckpoint(0) and this checkpoints instead, after writes, at most
// every checkpointEvery, PASSIVE: it waits for no reader and no writer.
type walCheckpointer struct {
	db      *sql.DB
	timeout time.Duration
	due     chan struct{}
	stop    chan struct{}
	once    sync.Once
}

func newWALCheckpointer(db *sql.DB, timeout time.Duration) *walCheckpointer {
	c := &walCheckpointer{db: db, timeout: timeout, due: make(chan struct{}, 1), stop: make(chan struct{})}
	go c.run()
	return c
}

// wrote says a write committed: a checkpoint is due.
func (c *walCheckpointer) wrote() {
	select {
	case c.due <- struct{}{}:
	default:
	}
}

// close stops the checkpoints (the pool is closing).
func (c *walCheckpointer) close() { c.once.Do(func() { close(c.stop) }) }

func (c *walCheckpointer) run() {
	for {
		select {
		case <-c.stop:
			return
		case <-c.due:
		}
		// A failed checkpoint leaves the log to the next one; the log only
		// grows meanwhile.
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		cancel()
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}
