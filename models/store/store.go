package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"healthcode/models"
	"healthcode/models/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Store reads and writes the service's entities. It owns its transactions;
// every method takes the request's context. It is safe for concurrent use.
type Store struct {
	db    *gorm.DB
	vault *models.Vault
	clock models.Clock
	loc   *time.Location
	// noLoadData is set once the MySQL server refused LOAD DATA LOCAL.
	noLoadData atomic.Bool
	// staged, in tests, runs after each staging transaction committed; an
	// error from it is a commit whose answer was lost.
	staged func() error
}

// NewStore builds a store over an open database. loc is the service's time
// zone, in which "today" is reckoned.
func NewStore(db *gorm.DB, vault *models.Vault, clock models.Clock, loc *time.Location) *Store {
	return &Store{db: db, vault: vault, clock: clock, loc: loc}
}

// Today returns the current date in the service's time zone, as a time at
// midnight UTC of that date (the form document.Parse expects).
func (s *Store) Today() time.Time {
	y, m, d := s.clock.Now().In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Ready reports whether the database answers and its schema is the one the
// code expects. The error says which check failed.
func (s *Store) Ready(ctx context.Context) (version int, err error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return 0, err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return 0, fmt.Errorf("database unreachable: %w", databaseError(err))
	}
	version, err = SchemaVersion(ctx, s.db)
	if err != nil {
		return 0, err
	}
	if version != LatestSchemaVersion() {
		return version, fmt.Errorf("schema at version %d, code expects %d: run migrate", version, LatestSchemaVersion())
	}
	return version, nil
}

// notFound turns gorm's record-not-found into a domain error naming what.
func notFound(err error, code, message string) error {
	return notFoundAs(err, &fault.Error{Kind: fault.KindNotFound, Code: code, Message: message})
}

// gormDB shortens transaction signatures.
type gormDB = gorm.DB

// readCommitted returns the options of a transaction that must see what
// others committed while it waited for a lock: READ COMMITTED on MySQL,
// whose default snapshot would hide it; SQLite runs one writer at a time.
func (s *Store) readCommitted() []*sql.TxOptions {
	if s.db.Dialector.Name() != "mysql" {
		return nil
	}
	return []*sql.TxOptions{{Isolation: sql.LevelReadCommitted}}
}

// lockForUpdate locks the rows a query reads until the transaction ends (on
// MySQL; SQLite transactions are already exclusive).
var lockForUpdate = clause.Locking{Strength: "UPDATE"}

// notFoundAs turns gorm's record-not-found into the given domain error.
func notFoundAs(err error, as *fault.Error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return as
	}
	return err
}
