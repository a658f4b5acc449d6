package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"healthcode/models"
)

// DBOptions says which database to open.
type DBOptions struct {
	// Driver is "sqlite" or "mysql".
	Driver string
	// DSN is a file path (sqlite) or a go-sql-driver/mysql DSN.
	DSN          string
	MaxOpenConns int
	// QueryTimeout is the deadline of every statement and, unless the store
	// marks it as bulk, of every transaction; on MySQL also the connection's
	// dial, read and write timeout. 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	Clock        models.Clock
}

// maxBusyTimeout bounds how long SQLite waits for its write lock, whatever
// the query timeout (the operator commands have a long one).
const maxBusyTimeout = 10 * time.Second

// OpenDB opens the database and checks that it answers. Every statement and
// transaction on it has a deadline (see deadline.go), and errors that say
// the database is down or too slow come back as ErrUnavailable (ErrBusy for
// lock contention). SQLite runs in WAL mode with foreign keys on and a busy
// timeout of three quarters of the query timeout (at most 10 s), so a held
// write lock is reported before the deadline; a MySQL DSN is completed with parseTime,
// UTC, utf8mb4, client-side interpolation and, unless it sets its own, the
// query timeout as its dial, read and write timeouts. Errors never contain
// the DSN, which may hold a password.
func OpenDB(ctx context.Context, o DBOptions) (*gorm.DB, error) {
	timeout := o.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	var sqlDB *sql.DB
	var dialector gorm.Dialector
	switch o.Driver {
	case "sqlite":
		busy := min(max(timeout*3/4, time.Millisecond), maxBusyTimeout)
		dsn := "file:" + o.DSN + fmt.Sprintf("?_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)", busy.Milliseconds()) +
			"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		var err error
		if sqlDB, err = sql.Open(sqlite.DriverName, dsn); err != nil {
			return nil, fmt.Errorf("open sqlite database: %w", err)
		}
		dialector = sqliteDialector{&sqlite.Dialector{DSN: dsn, Conn: &pool{DB: sqlDB, timeout: timeout, writer: newWriteGate(busy)}}}
	case "mysql":
		cfg, err := mysqldriver.ParseDSN(o.DSN)
		if err != nil {
			return nil, fmt.Errorf("the MySQL DSN does not parse (check HEALTHCODE_DB_DSN)")
		}
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["charset"] = "utf8mb4"
		// Arguments are interpolated by the driver (safe with utf8mb4) unless
		// the DSN says otherwise: one round trip per statement instead of
		// prepare, execute and close, which matters for batch inserts.
		if !strings.Contains(o.DSN, "interpolateParams=") {
			cfg.InterpolateParams = true
		}
		// The driver sends COMMIT and ROLLBACK without a context: only
		// these bound them on a server that stopped answering.
		for _, d := range []*time.Duration{&cfg.Timeout, &cfg.ReadTimeout, &cfg.WriteTimeout} {
			if *d == 0 {
				*d = timeout
			}
		}
		connector, err := mysqldriver.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("the MySQL DSN does not parse (check HEALTHCODE_DB_DSN)")
		}
		sqlDB = sql.OpenDB(connector)
		dialector = mysqlDialector{&mysql.Dialector{Config: &mysql.Config{DSNConfig: cfg, Conn: &pool{DB: sqlDB, timeout: timeout}}}}
	default:
		return nil, fmt.Errorf("unknown database driver %q", o.Driver)
	}
	maxOpen := max(o.MaxOpenConns, 1)
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	clock := o.Clock
	if clock == nil {
		clock = models.SystemClock{}
	}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("reach %s database: %w", o.Driver, err)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:         logger.Default.LogMode(logger.Silent),
		NowFunc:        func() time.Time { return clock.Now().UTC() },
		TranslateError: true,
		// Pinged above, with a deadline.
		DisableAutomaticPing: true,
	})
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open %s database: %w", o.Driver, err)
	}
	if err := (deadlines{timeout: timeout}).register(db); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open %s database: %w", o.Driver, err)
	}
	return db, nil
}

// CloseDB closes the database's connection pool.
func CloseDB(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}
