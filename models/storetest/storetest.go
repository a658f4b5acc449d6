// Package storetest gives tests real databases: a fresh SQLite file always,
// and a fresh MariaDB/MySQL database when HEALTHCODE_TEST_MYSQL_DSN names a
// server. When HEALTHCODE_TEST_REQUIRE_ALL=1 (as in CI) a missing real
// dependency fails the test instead of skipping it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/store"
)

// Environment variables the helpers read.
const (
	EnvMySQLDSN   = "HEALTHCODE_TEST_MYSQL_DSN"
	EnvRequireAll = "HEALTHCODE_TEST_REQUIRE_ALL"
)

// Unavailable skips the test because a real dependency is missing, or fails
// it when HEALTHCODE_TEST_REQUIRE_ALL=1.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(EnvRequireAll) == "1" {
		t.Fatalf("required dependency missing ("+EnvRequireAll+"=1): "+format, args...)
	}
	t.Skipf(format, args...)
}

// Drivers runs fn once per database driver, each as a subtest with its own
// freshly migrated database.
func Drivers(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) { fn(t, Open(t, driver)) })
	}
}

// Open returns a freshly migrated database of the given driver, removed
// when the test ends.
func Open(t testing.TB, driver string) *gorm.DB {
	t.Helper()
	return OpenWithQueryTimeout(t, driver, 0)
}

// migrateTimeout is the statement deadline of the test databases'
// migrations, which may wait for the migration lock as a server's do.
const migrateTimeout = 2 * time.Minute

// OpenWithQueryTimeout is Open with the given statement deadline (0: the
// default). The migrations run on a pool of their own with a long deadline,
// as the server runs them.
func OpenWithQueryTimeout(t testing.TB, driver string, timeout time.Duration) *gorm.DB {
	t.Helper()
	var dsn string
	switch driver {
	case "sqlite":
		dsn = filepath.Join(t.TempDir(), "test.db")
	case "mysql":
		dsn = mysqlDatabase(t)
	default:
		t.Fatalf("unknown driver %q", driver)
	}
	ctx := context.Background()
	migrations, err := store.OpenDB(ctx, store.DBOptions{Driver: driver, DSN: dsn, MaxOpenConns: 1, QueryTimeout: migrateTimeout})
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	defer store.CloseDB(migrations)
	if _, err := store.Migrate(ctx, migrations, models.SystemClock{}); err != nil {
		t.Fatalf("migrate %s: %v", driver, err)
	}
	db, err := store.OpenDB(ctx, store.DBOptions{Driver: driver, DSN: dsn, MaxOpenConns: 8, QueryTimeout: timeout})
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { store.CloseDB(db) })
	return db
}

// MySQLDSN returns a DSN for a new, empty database on the configured server,
// dropped when the test ends, or skips (fails under REQUIRE_ALL).
func MySQLDSN(t testing.TB) string {
	t.Helper()
	return mysqlDatabase(t)
}

func mysqlDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvMySQLDSN)
	if base == "" {
		Unavailable(t, "MariaDB/MySQL tests need %s (for example root@tcp(127.0.0.1:3306)/)", EnvMySQLDSN)
	}
	cfg, err := mysqldriver.ParseDSN(base)
	if err != nil {
		t.Fatalf("%s does not parse: %v", EnvMySQLDSN, err)
	}
	cfg.DBName = ""
	server, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open MySQL server: %v", err)
	}
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := server.PingContext(ctx); err != nil {
		Unavailable(t, "MariaDB/MySQL at %s is not reachable: %v", cfg.Addr, err)
	}
	name := "hc_test_" + randomHex(6)
	if _, err := server.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		server, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return
		}
		defer server.Close()
		server.Exec("DROP DATABASE IF EXISTS " + name)
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// Vault returns a vault with random keys.
func Vault(t testing.TB) *models.Vault {
	t.Helper()
	v, err := models.NewVault(RandomKey(), RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// RandomKey returns 32 random bytes.
func RandomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
