package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"healthcode/models/fault"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// TestDatabaseErrorsInTheVocabulary: the errors drivers give for a database
// that is down, slow or refusing work become unavailable (or busy, for lock
// contention), with the driver's error kept as the cause; every other error
// passes unchanged.
func TestDatabaseErrorsInTheVocabulary(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	domain := fault.Errorf(fault.KindNotFound, "account_not_found", "账号不存在")
	for _, c := range []struct {
		name string
		err  error
		kind fault.Kind // "" means unchanged
	}{
		{"connection refused", fmt.Errorf("read: %w", refused), fault.KindUnavailable},
		{"i/o timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, fault.KindUnavailable},
		{"statement deadline", fmt.Errorf("record: %w", context.DeadlineExceeded), fault.KindUnavailable},
		{"bad connection", driver.ErrBadConn, fault.KindUnavailable},
		{"mysql invalid connection", mysqldriver.ErrInvalidConn, fault.KindUnavailable},
		{"connection done", sql.ErrConnDone, fault.KindUnavailable},
		{"transaction rolled back at its deadline", sql.ErrTxDone, fault.KindUnavailable},
		{"too many connections", &mysqldriver.MySQLError{Number: 1040, Message: "Too many connections"}, fault.KindUnavailable},
		{"server shutting down", &mysqldriver.MySQLError{Number: 1053}, fault.KindUnavailable},
		{"read-only during failover", &mysqldriver.MySQLError{Number: 1290}, fault.KindUnavailable},
		{"disk full", &mysqldriver.MySQLError{Number: 1021}, fault.KindUnavailable},
		{"table full", &mysqldriver.MySQLError{Number: 1114}, fault.KindUnavailable},
		{"credentials rotated", &mysqldriver.MySQLError{Number: 1045}, fault.KindUnavailable},
		{"lock wait timeout", &mysqldriver.MySQLError{Number: 1205}, fault.KindBusy},
		{"deadlock", &mysqldriver.MySQLError{Number: 1213}, fault.KindBusy},
		{"syntax error", &mysqldriver.MySQLError{Number: 1064}, ""},
		{"duplicate key", gorm.ErrDuplicatedKey, ""},
		{"not found", gorm.ErrRecordNotFound, ""},
		{"a domain error", domain, ""},
		{"caller gone", context.Canceled, ""},
		{"anything else", errors.New("disk full"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := databaseError(c.err)
			if c.kind == "" {
				if got != c.err {
					t.Errorf("%v became %v, want it unchanged", c.err, got)
				}
				return
			}
			var e *fault.Error
			if !errors.As(got, &e) || e.Kind != c.kind || !errors.Is(got, c.err) {
				t.Fatalf("%v became %#v, want kind %s wrapping it", c.err, got, c.kind)
			}
			if want := map[fault.Kind]string{fault.KindUnavailable: fault.CodeUnavailable, fault.KindBusy: "busy"}[c.kind]; e.Code != want || e.Message == "" {
				t.Errorf("code %q message %q, want code %q and a message", e.Code, e.Message, want)
			}
		})
	}
	if databaseError(nil) != nil {
		t.Error("nil became an error")
	}
}

// A SQLite file the service cannot write (read-only here; full or failing
// alike) is the database unavailable, not an internal error.
func TestAReadOnlySQLiteFileIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	rw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.Exec("INSERT INTO t VALUES (1)")
	if err == nil {
		t.Fatal("a read-only file took a write")
	}
	if got := databaseError(err); fault.KindOf(got) != fault.KindUnavailable {
		t.Errorf("%v became %v, want unavailable", err, got)
	}
}
