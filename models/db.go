package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DBOptions says which database to open.
type DBOptions struct {
	// Driver is "sqlite" or "mysql".
	Driver string
	// DSN is a file path (sqlite) or a go-sql-driver/mysql DSN.
	DSN          string
	MaxOpenConns int
	Clock        Clock
}

// OpenDB opens the database and checks that it answers. SQLite runs in WAL
// mode with a busy timeout and foreign keys on; a MySQL DSN is completed
// with parseTime, UTC, utf8mb4 and client-side interpolation. Errors never
// contain the DSN, which may hold a password.
func OpenDB(ctx context.Context, o DBOptions) (*gorm.DB, error) {
	var dialector gorm.Dialector
	switch o.Driver {
	case "sqlite":
		dialector = sqlite.Open("file:" + o.DSN +
			"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate")
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
		dialector = mysql.Open(cfg.FormatDSN())
	default:
		return nil, fmt.Errorf("unknown database driver %q", o.Driver)
	}
	clock := o.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:         logger.Default.LogMode(logger.Silent),
		NowFunc:        func() time.Time { return clock.Now().UTC() },
		TranslateError: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", o.Driver, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	maxOpen := max(o.MaxOpenConns, 1)
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("reach %s database: %w", o.Driver, err)
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
