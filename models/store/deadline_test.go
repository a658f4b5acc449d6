package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// slowSelect is a query that runs far longer than any deadline in these
// tests: SLEEP on MySQL, a long recursive count on SQLite.
func slowSelect(driver string) string {
	if driver == "mysql" {
		return "SELECT SLEEP(20) AS n"
	}
	return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000000) SELECT max(x) AS n FROM c"
}

// within runs fn, which must finish within limit; a safety deadline of 10 s
// on its context stops it on code that sets none of its own, so the test
// fails rather than hangs.
func within(t *testing.T, limit time.Duration, what string, fn func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	if took := time.Since(start); took > limit {
		t.Errorf("%s took %v, want at most %v", what, took.Round(time.Millisecond), limit)
	}
	return err
}

// TestEveryStatementHasADeadline: with a query timeout of 300 ms, a slow
// statement ends by it whichever way it is sent (a query, a raw scan, an
// exec, past GORM on the pool), though its caller gave a 10 s deadline, and
// the error says the database is unavailable.
func TestEveryStatementHasADeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const limit = timeout + 1200*time.Millisecond
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := storetest.OpenWithQueryTimeout(t, driver, timeout)
			slow := slowSelect(driver)
			var n int64
			ways := map[string]func(ctx context.Context) error{
				"query": func(ctx context.Context) error {
					return db.WithContext(ctx).Table("(" + slow + ") AS t").Select("n").Find(&[]struct{ N int64 }{}).Error
				},
				"raw scan": func(ctx context.Context) error { return db.WithContext(ctx).Raw(slow).Scan(&n).Error },
				"exec":     func(ctx context.Context) error { return db.WithContext(ctx).Exec(slow).Error },
				"pool exec": func(ctx context.Context) error {
					_, err := db.ConnPool.ExecContext(ctx, slow)
					return err
				},
			}
			if driver == "sqlite" {
				// The SQLite driver interrupts a statement at its deadline
				// while it executes, but not while the caller steps through
				// its rows: only whole statements are tried here. (SQLite
				// stalls on a held lock, bounded by the busy timeout; see
				// TestSQLiteWriteLockIsBusyNotAHang.)
				delete(ways, "query")
				delete(ways, "raw scan")
			}
			for name, run := range ways {
				err := within(t, limit, name, run)
				if err == nil {
					t.Errorf("%s: the slow statement succeeded", name)
					continue
				}
				if name == "pool exec" {
					continue // past GORM: the caller translates (RecordVerifications does)
				}
				if fault.KindOf(err) != fault.KindUnavailable || fault.CodeOf(err) != fault.CodeUnavailable {
					t.Errorf("%s: error %v is %s/%s, want unavailable", name, err, fault.KindOf(err), fault.CodeOf(err))
				}
			}
			// The pool is fine afterwards.
			if err := db.Raw("SELECT 1").Scan(&n).Error; err != nil || n != 1 {
				t.Errorf("after the deadlines: SELECT 1 = %d, %v", n, err)
			}
		})
	}
}

// TestTransactionsHaveADeadline: a transaction that outlives the query
// timeout is rolled back, its late statement fails as unavailable, and a
// statement inside a transaction ends by the transaction's deadline rather
// than a full query timeout after it started.
func TestTransactionsHaveADeadline(t *testing.T) {
	const timeout = time.Second
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := storetest.OpenWithQueryTimeout(t, driver, timeout)
			insert := func(tx *gorm.DB, name string) error {
				return tx.Exec("INSERT INTO data_versions (name, version, updated_at) VALUES (?, 1, ?)", name, time.Now().UTC()).Error
			}
			err := within(t, timeout+time.Second, "a slow transaction", func(ctx context.Context) error {
				return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					if err := insert(tx, "late"); err != nil {
						return err
					}
					time.Sleep(timeout + 200*time.Millisecond) // work outside the database, too long
					return insert(tx, "later")
				})
			})
			if fault.KindOf(err) != fault.KindUnavailable {
				t.Errorf("transaction past its deadline: %v (%s), want unavailable", err, fault.KindOf(err))
			}
			var n int64
			db.Table("data_versions").Where("name IN ?", []string{"late", "later"}).Count(&n)
			if n != 0 {
				t.Errorf("%d rows of the timed-out transaction were committed", n)
			}

			// 700 ms into the transaction a slow statement has 300 ms left,
			// not the full second.
			err = within(t, timeout+600*time.Millisecond, "a slow statement late in a transaction", func(ctx context.Context) error {
				return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					time.Sleep(700 * time.Millisecond)
					return tx.Exec(slowSelect(driver)).Error
				})
			})
			if fault.KindOf(err) != fault.KindUnavailable {
				t.Errorf("slow statement in a transaction: %v (%s), want unavailable", err, fault.KindOf(err))
			}

			// A quick transaction commits.
			if err := db.Transaction(func(tx *gorm.DB) error { return insert(tx, "quick") }); err != nil {
				t.Fatalf("quick transaction: %v", err)
			}
		})
	}
}

// TestSQLiteWriteLockIsBusyNotAHang: while another connection holds
// SQLite's write lock, a write waits about three quarters of the query
// timeout and fails as busy (503 with Retry-After), instead of waiting ten
// seconds and failing as an internal error.
func TestSQLiteWriteLockIsBusyNotAHang(t *testing.T) {
	const timeout = 400 * time.Millisecond
	path := filepath.Join(t.TempDir(), "locked.db")
	db, err := store.OpenDB(context.Background(), store.DBOptions{Driver: "sqlite", DSN: path, QueryTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer store.CloseDB(db)
	if _, err := store.Migrate(context.Background(), db, models.SystemClock{}); err != nil {
		t.Fatal(err)
	}
	// Another process's writer, holding the lock.
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer holder.ExecContext(context.Background(), "ROLLBACK")

	st := store.NewStore(db, storetest.Vault(t), models.SystemClock{}, time.UTC)
	err = within(t, timeout+time.Second, "a write under a held lock", func(ctx context.Context) error {
		_, err := st.Login(ctx, models.PlatformSandbox, "locked-out", "", "")
		return err
	})
	if fault.KindOf(err) != fault.KindBusy {
		t.Errorf("write under a held lock: %v (%s), want busy", err, fault.KindOf(err))
	}
	var busy *fault.Error
	if !errors.As(err, &busy) || busy.Message == "" || busy.Err == nil {
		t.Errorf("busy error %#v lacks its message or cause", busy)
	}
}

// Writers of one process queue for SQLite's write lock in Go: a write behind
// a transaction that holds it past the busy wait fails as busy; one whose
// transaction was abandoned (its context cancelled before it ended) does
// not keep the lock; and the writers waiting when it is released all get
// it in turn.
func TestSQLiteWritersQueueForTheLock(t *testing.T) {
	const timeout = 400 * time.Millisecond
	db, err := store.OpenDB(context.Background(), store.DBOptions{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "gate.db"), QueryTimeout: timeout, MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer store.CloseDB(db)
	if _, err := store.Migrate(context.Background(), db, models.SystemClock{}); err != nil {
		t.Fatal(err)
	}
	st := store.NewStore(db, storetest.Vault(t), models.SystemClock{}, time.UTC)
	write := func(ctx context.Context, name string) error {
		_, err := st.Login(ctx, models.PlatformSandbox, name, "", "")
		return err
	}

	// A transaction holding the lock past the busy wait (¾ of the timeout).
	holding, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- db.Transaction(func(tx *gorm.DB) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	if err := write(context.Background(), "behind-a-long-one"); fault.KindOf(err) != fault.KindBusy {
		t.Fatalf("write behind a held lock: %v (%s), want busy", err, fault.KindOf(err))
	}
	// Writers that come while it is held get the lock once it is released.
	results := make(chan error, 5)
	for i := range 5 {
		go func() { results <- write(context.Background(), fmt.Sprintf("queued-%d", i)) }()
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := <-results; err != nil {
			t.Errorf("queued writer: %v", err)
		}
	}

	// An abandoned transaction: its context ends before it does.
	ctx, cancel := context.WithCancel(context.Background())
	tx := db.WithContext(ctx).Begin()
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	cancel()
	if err := write(context.Background(), "after-an-abandoned-one"); err != nil {
		t.Errorf("write after an abandoned transaction: %v", err)
	}
	tx.Rollback()
}
