package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"gorm.io/gorm"
)

// DefaultQueryTimeout is the deadline of a statement, and of a transaction,
// when DBOptions names none.
const DefaultQueryTimeout = 3 * time.Second

// bulkTransaction is how long a transaction the store marks as bulk may
// run in all: one of many batched statements (a cold load of the status
// book, an import job's status sync); each of its statements still has the
// query timeout.
const bulkTransaction = 10 * time.Minute

// Every database call has a deadline, whichever store method makes it and
// whether or not its caller set one:
//
//   - each statement GORM runs gets the earliest of its caller's deadline,
//     its transaction's and now + the query timeout (deadlines.begin);
//   - each transaction ends, committed or rolled back, by its deadline: now +
//     the query timeout at BEGIN, or the caller's if earlier (pool.BeginTx);
//   - a statement sent to the pool directly, past GORM, gets one too
//     (pool.ExecContext);
//   - on MySQL the connection's dial, read and write timeouts are the query
//     timeout as well, so COMMIT and ROLLBACK, which the driver sends without
//     a context, cannot hang on a frozen server (OpenDB).

// deadlines puts a deadline on every statement GORM runs, through callbacks
// registered before and after all others.
type deadlines struct{ timeout time.Duration }

// statementContext is a statement's context under its deadline; endDeadline
// cancels it and gives the statement its caller's context back.
type statementContext struct {
	context.Context
	caller context.Context
	cancel context.CancelFunc
}

// begin gives the statement its deadline.
func (d deadlines) begin(db *gorm.DB) {
	stmt := db.Statement
	deadline := time.Now().Add(d.timeout)
	if tx, ok := stmt.ConnPool.(*deadlineTx); ok && tx.deadline.Before(deadline) {
		deadline = tx.deadline
	}
	// WithDeadline keeps the caller's deadline when it is the earlier one.
	ctx, cancel := context.WithDeadline(stmt.Context, deadline)
	stmt.Context = &statementContext{Context: ctx, caller: stmt.Context, cancel: cancel}
}

// endDeadline releases the statement's deadline once its callbacks have run
// (the rows read, the result taken).
func endDeadline(db *gorm.DB) {
	if sc, ok := db.Statement.Context.(*statementContext); ok {
		sc.cancel()
		db.Statement.Context = sc.caller
	}
}

// register installs the callbacks on every processor. Statements of the row
// processor (Row, Rows, Scan) hand their rows to the caller, who reads them
// after the callbacks return: their deadline is not released early but
// lapses by itself, so those rows too must be read within it.
func (d deadlines) register(db *gorm.DB) error {
	const begin, end = "healthcode:deadline", "healthcode:deadline_release"
	c := db.Callback()
	return errors.Join(
		c.Create().Before("*").Register(begin, d.begin),
		c.Create().After("*").Register(end, endDeadline),
		c.Query().Before("*").Register(begin, d.begin),
		c.Query().After("*").Register(end, endDeadline),
		c.Update().Before("*").Register(begin, d.begin),
		c.Update().After("*").Register(end, endDeadline),
		c.Delete().Before("*").Register(begin, d.begin),
		c.Delete().After("*").Register(end, endDeadline),
		c.Raw().Before("*").Register(begin, d.begin),
		c.Raw().After("*").Register(end, endDeadline),
		c.Row().Before("*").Register(begin, d.begin),
		c.Row().After("*").Register("healthcode:translate_row_error", translateRowError),
	)
}

// translateRowError puts the row processor's error into the domain's
// vocabulary: GORM sets it there directly, not through the dialector's
// Translate as it does everywhere else.
func translateRowError(db *gorm.DB) {
	if db.Error != nil {
		db.Error = databaseError(db.Error)
	}
}

// pool is the connection pool as GORM sees it: the database/sql pool, with
// a deadline on every transaction it begins and on every statement sent to
// it directly.
type pool struct {
	*sql.DB
	timeout time.Duration
	// writer, on SQLite, is the one write lock, taken in Go before BEGIN
	// IMMEDIATE: SQLite's own busy handler polls for it in sleeps of up to
	// 100 ms, so a short write behind an import's stream of transactions
	// could wait for seconds; here waiters queue and take it in turn as
	// soon as it is released. Nil on MySQL.
	writer *writeGate
}

// writeGate is a lock with a bounded wait, handed to waiters in the order
// they came (a channel's senders are woken first in, first out).
type writeGate struct {
	slot chan struct{}
	wait time.Duration
}

func newWriteGate(wait time.Duration) *writeGate {
	return &writeGate{slot: make(chan struct{}, 1), wait: wait}
}

// errWriteWait is a transaction that waited longer than the busy timeout
// for the write lock (a 503 busy, as SQLite's own "database is locked").
var errWriteWait = errors.New("waited too long for the database's write lock")

// acquire takes the lock within the wait and returns its release, which
// also runs when ctx ends.
func (g *writeGate) acquire(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slot <- struct{}{}:
	case <-t.C:
		return nil, errWriteWait
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	release = func() { once.Do(func() { <-g.slot }) }
	context.AfterFunc(ctx, release)
	return release, nil
}

// GetDBConn returns the database/sql pool (for gorm.DB.DB).
func (p *pool) GetDBConn() (*sql.DB, error) { return p.DB, nil }

// bulkKey marks a context whose transactions may run for bulkTransaction.
type bulkKey struct{}

// withBulkTransaction lets the transactions run under ctx take up to
// bulkTransaction in all (their statements keep the query timeout).
func withBulkTransaction(ctx context.Context) context.Context {
	return context.WithValue(ctx, bulkKey{}, true)
}

// BeginTx starts a transaction that ends by its deadline: database/sql rolls
// it back then, and its statements' deadlines are no later.
func (p *pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	timeout := p.timeout
	if bulk, _ := ctx.Value(bulkKey{}).(bool); bulk {
		timeout = max(timeout, bulkTransaction)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	if p.writer != nil {
		// Released by cancel: when the transaction ends or its deadline
		// passes.
		if _, err := p.writer.acquire(ctx); err != nil {
			cancel()
			return nil, err
		}
	}
	tx, err := p.DB.BeginTx(ctx, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	return &deadlineTx{Tx: tx, db: p.DB, deadline: deadline, cancel: cancel}, nil
}

// ExecContext runs a statement with a deadline no later than the query
// timeout from now.
func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	if p.writer != nil {
		// A statement outside a transaction writes: it queues for the lock
		// as a transaction does.
		release, err := p.writer.acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	return p.DB.ExecContext(ctx, query, args...)
}

// PrepareContext prepares a statement with a deadline no later than the
// query timeout from now.
func (p *pool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	return p.DB.PrepareContext(ctx, query)
}

// bound returns ctx when its deadline is already within the query timeout
// (GORM's statements, the group commit), else ctx under that deadline.
func (p *pool) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= p.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.timeout)
}

// deadlineTx is a transaction with its deadline; ending it releases the
// deadline's timer.
type deadlineTx struct {
	*sql.Tx
	db       *sql.DB
	deadline time.Time
	cancel   context.CancelFunc
}

// Commit commits the transaction, or reports the deadline it missed.
func (t *deadlineTx) Commit() error {
	defer t.cancel()
	return t.Tx.Commit()
}

// Rollback rolls the transaction back.
func (t *deadlineTx) Rollback() error {
	defer t.cancel()
	return t.Tx.Rollback()
}

// GetDBConn returns the pool the transaction came from (for gorm.DB.DB).
func (t *deadlineTx) GetDBConn() (*sql.DB, error) { return t.db, nil }
