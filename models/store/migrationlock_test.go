package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// TestMigrationLockIsPerDatabase: nodes of one database take turns to
// migrate, but a migration of another database on the same server does
// not wait for them (lock names are the whole server's; with deadlines on
// every statement, waiting for another deployment's, or another test's,
// migration made migrations fail).
func TestMigrationLockIsPerDatabase(t *testing.T) {
	busy, free := storetest.MySQLDSN(t), storetest.MySQLDSN(t)
	// A node of the first database is migrating: it holds that database's
	// lock on a connection of its own.
	held, err := sql.Open("mysql", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	conn, err := held.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got int
	if err := conn.QueryRowContext(context.Background(), "SELECT GET_LOCK(CONCAT('healthcode_migrate:', MD5(DATABASE())), 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the first database's lock: %d, %v", got, err)
	}

	migrate := func(dsn string) (time.Duration, error) {
		db, err := store.OpenDB(context.Background(), store.DBOptions{Driver: "mysql", DSN: dsn, QueryTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer store.CloseDB(db)
		start := time.Now()
		_, err = store.Migrate(context.Background(), db, models.SystemClock{})
		return time.Since(start), err
	}
	if took, err := migrate(free); err != nil {
		t.Errorf("migrating another database waited for this one's lock: %v after %v", err, took)
	}
	// The same database's next node waits its turn (here it gives up at
	// its one-second deadline).
	if took, err := migrate(busy); err == nil {
		t.Errorf("a second node migrated the same database while the first held the lock (%v)", took)
	}
}
