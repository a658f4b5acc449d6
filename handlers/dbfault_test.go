package handlers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/config"
	"healthcode/models/store"
)

// TestReadinessIsCachedForASecond: /readyz answers from a check at most a
// second old, so a flood of probes costs the database one check; a failed
// check answers 503 not_ready with Retry-After.
func TestReadinessIsCachedForASecond(t *testing.T) {
	e := newTestEnv(t)
	var statements atomic.Int64
	count := func(*gorm.DB) {
		statements.Add(1)
		time.Sleep(20 * time.Millisecond) // a database some way off: probes overlap a check
	}
	cb := e.db.Callback()
	for _, err := range []error{
		cb.Query().Before("*").Register("test:count", count),
		cb.Row().Before("*").Register("test:count", count),
		cb.Raw().Before("*").Register("test:count", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ready := func() int {
		rec := e.do("GET", "/readyz", nil)
		if rec.Code != 200 {
			t.Errorf("readyz = %d %s", rec.Code, rec.Body)
		}
		return rec.Code
	}
	// A flood of probes from cold: all ready (those that came during the
	// first check waited for it), one check run.
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { ready() })
	}
	wg.Wait()
	oneCheck := statements.Load()
	if oneCheck == 0 {
		t.Fatal("the readiness check ran no statement")
	}
	ready()
	e.clock.Advance(999 * time.Millisecond)
	ready()
	if n := statements.Load(); n != oneCheck {
		t.Errorf("102 probes within a second ran %d statements, one check runs %d", n, oneCheck)
	}
	e.clock.Advance(time.Millisecond)
	ready()
	if n := statements.Load(); n != 2*oneCheck {
		t.Errorf("a probe a second later ran %d statements in all, want a second check (%d)", n, 2*oneCheck)
	}

	// The database goes away: the cached answer holds for the rest of
	// the second, then the next check says not ready.
	store.CloseDB(e.db)
	ready()
	e.clock.Advance(time.Second)
	rec := e.do("GET", "/readyz", nil)
	wantError(t, rec, 503, "not_ready")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("not ready without Retry-After")
	}
}

// TestSQLiteLockedIsBusyAndCodesStillShow: while another connection holds
// SQLite's write lock longer than the busy timeout, writes answer 503 busy
// with Retry-After within the query timeout, reads still work, and showing
// a code (which reads nothing from the database) is unaffected; when the
// lock goes, writes work again.
func TestSQLiteLockedIsBusyAndCodesStillShow(t *testing.T) {
	const timeout = 400 * time.Millisecond
	e := newTestEnv(t, func(s *testSetup) { s.cfg.DB.QueryTimeout = config.Duration(timeout) })
	holder, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	verifier := e.makeVerifier(t, "staff", "王小明", staffNumber)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", holder, nil), 200)

	sqlDB, err := e.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	lock, err := sqlDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			lock.ExecContext(context.Background(), "ROLLBACK")
			lock.Close()
			released = true
		}
	}
	defer release()

	timed := func(what string, send func() int, want int) {
		t.Helper()
		start := time.Now()
		if got := send(); got != want {
			t.Errorf("%s under the lock = %d, want %d", what, got, want)
		}
		if took := time.Since(start); took > timeout+time.Second {
			t.Errorf("%s under the lock took %v, query timeout %v", what, took, timeout)
		}
	}
	timed("login", func() int {
		rec := e.json("POST", "/api/v1/auth/sandbox", "", map[string]string{"user": "bob"})
		wantError(t, rec, 503, "busy")
		if rec.Header().Get("Retry-After") == "" {
			t.Error("busy without Retry-After")
		}
		return rec.Code
	}, 503)
	timed("verify", func() int {
		rec := e.json("POST", "/api/v1/verify", verifier, map[string]string{"qr": code.QR})
		wantError(t, rec, 503, "busy")
		return rec.Code
	}, 503)
	timed("reading the account", func() int { return e.json("GET", "/api/v1/me", holder, nil).Code }, 200)
	timed("show-code", func() int { return e.json("GET", "/api/v1/me/code", holder, nil).Code }, 200)

	release()
	if rec := e.json("POST", "/api/v1/auth/sandbox", "", map[string]string{"user": "bob"}); rec.Code != 200 {
		t.Errorf("login after the lock = %d %s", rec.Code, rec.Body)
	}
	if rec := e.json("POST", "/api/v1/verify", verifier, map[string]string{"qr": code.QR}); rec.Code != 200 {
		t.Errorf("verify after the lock = %d %s", rec.Code, rec.Body)
	}
}
