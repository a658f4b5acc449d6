package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"

	"healthcode/models/fault"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	sqlite3 "modernc.org/sqlite/lib"
)

// databaseError puts a database error into the domain's vocabulary: one
// that says the database is down, too slow or refusing work becomes
// ErrUnavailable (or ErrBusy for lock contention) with the driver's error as
// its cause; any other error comes back unchanged. Every error GORM reports
// passes through here (see translating dialectors below); the few calls made
// past GORM pass theirs explicitly.
func databaseError(err error) error {
	var domain *fault.Error
	switch {
	case err == nil || errors.As(err, &domain):
		return err
	case contended(err):
		return fault.ErrBusy.Wrap(err)
	case unreachable(err):
		return fault.ErrUnavailable.Wrap(err)
	}
	return err
}

// unreachable reports whether err says the database could not be reached,
// dropped the connection, missed a deadline or refuses work for now.
func unreachable(err error) bool {
	var netErr net.Error
	var myErr *mysqldriver.MySQLError
	var liteErr *gosqlite.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, mysqldriver.ErrInvalidConn),
		errors.Is(err, sql.ErrConnDone),
		// A transaction past its deadline is rolled back under the
		// statement that was running; the next one finds it done.
		errors.Is(err, sql.ErrTxDone):
		return true
	case errors.As(err, &netErr): // refused, reset, unreachable, i/o timeout
		return true
	case errors.As(err, &myErr):
		return mysqlUnavailable[myErr.Number]
	case errors.As(err, &liteErr):
		return sqliteUnavailable[liteErr.Code()&0xff]
	}
	return false
}

// sqliteUnavailable are the SQLite primary result codes of a database that
// cannot serve: a deadline interrupted the statement, or the file's disk
// is full, failing, read-only or gone. (A corrupt file is not among them:
// that is a disaster to log as one, not an outage to wait out.)
var sqliteUnavailable = map[int]bool{
	sqlite3.SQLITE_INTERRUPT: true,
	sqlite3.SQLITE_FULL:      true,
	sqlite3.SQLITE_IOERR:     true,
	sqlite3.SQLITE_READONLY:  true,
	sqlite3.SQLITE_CANTOPEN:  true,
	sqlite3.SQLITE_NOMEM:     true,
}

// mysqlUnavailable are the MySQL, MariaDB and TiDB errors that mean the
// database cannot serve now (down, full, out of memory, refusing the
// service's account) rather than that the statement is wrong: a citizen is
// told to retry later, and the operator's alert is the outage log line.
var mysqlUnavailable = map[uint16]bool{
	1021: true, // ER_DISK_FULL
	1026: true, // ER_ERROR_ON_WRITE: a failing disk
	1030: true, // ER_GET_ERRNO: the storage engine failed (a full or failing disk)
	1037: true, // ER_OUTOFMEMORY
	1038: true, // ER_OUT_OF_SORTMEMORY
	1041: true, // ER_OUT_OF_RESOURCES
	1044: true, // ER_DBACCESS_DENIED_ERROR: the account lost its grant
	1045: true, // ER_ACCESS_DENIED_ERROR: credentials rotated under the node
	1114: true, // ER_RECORD_FILE_FULL: the table is full
	1040: true, // ER_CON_COUNT_ERROR: too many connections
	1203: true, // ER_TOO_MANY_USER_CONNECTIONS
	1053: true, // ER_SERVER_SHUTDOWN
	1290: true, // ER_OPTION_PREVENTS_STATEMENT: read-only, as during a failover
	1317: true, // ER_QUERY_INTERRUPTED
	1927: true, // ER_CONNECTION_KILLED (MariaDB)
	1969: true, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
	3024: true, // ER_QUERY_TIMEOUT (MySQL max_execution_time)
	9001: true, // TiDB: PD server timeout
	9002: true, // TiDB: TiKV server timeout
	9003: true, // TiDB: TiKV server is busy
	9005: true, // TiDB: region is unavailable
}

// contended reports whether err says the statement lost a race for a lock:
// the database is up but busy, and a retry will likely pass.
func contended(err error) bool {
	var myErr *mysqldriver.MySQLError
	var liteErr *gosqlite.Error
	switch {
	case errors.Is(err, errWriteWait):
		return true
	case errors.As(err, &myErr):
		// ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK, TiDB's write conflict.
		return myErr.Number == 1205 || myErr.Number == 1213 || myErr.Number == 9007
	case errors.As(err, &liteErr):
		// "database is locked": another connection held the write lock
		// for longer than the busy timeout.
		code := liteErr.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

// mysqlDialector is GORM's MySQL dialect with its errors put into the
// domain's vocabulary (GORM passes every error it reports, BEGIN and COMMIT
// included, through Translate).
type mysqlDialector struct{ *mysql.Dialector }

// Translate maps the driver's errors to GORM's, then to the domain's.
func (d mysqlDialector) Translate(err error) error {
	return databaseError(d.Dialector.Translate(err))
}

// sqliteDialector is GORM's SQLite dialect with its errors put into the
// domain's vocabulary.
type sqliteDialector struct{ *sqlite.Dialector }

// Translate maps the driver's errors to GORM's, then to the domain's.
func (d sqliteDialector) Translate(err error) error {
	return databaseError(d.Dialector.Translate(err))
}
