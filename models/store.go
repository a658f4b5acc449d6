package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"healthcode/models/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Store reads and writes the service's entities. It owns its transactions;
// every method takes the request's context. It is safe for concurrent use.
type Store struct {
	db    *gorm.DB
	vault *Vault
	clock Clock
	loc   *time.Location
	// noLoadData is set once the MySQL server refused LOAD DATA LOCAL.
	noLoadData atomic.Bool
	// staged, in tests, runs after each staging transaction committed; an
	// error from it is a commit whose answer was lost.
	staged func() error
}

// NewStore builds a store over an open database. loc is the service's time
// zone, in which "today" is reckoned.
func NewStore(db *gorm.DB, vault *Vault, clock Clock, loc *time.Location) *Store {
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

// newID returns a random opaque identifier of 26 lower-case characters.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return idEncoding.EncodeToString(b)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newOrderedID returns a random identifier that sorts by t: six bytes of
// Unix milliseconds, then ten random, in an alphabet whose text order is
// its numeric order. A table keyed by it is written at its end, the way an
// auto-increment key is, and its old rows are its first keys.
func newOrderedID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	rand.Read(b[6:])
	return orderedEncoding.EncodeToString(b[:])
}

// orderedEncoding is base32hex, in lower case: "0" < "9" < "a" < "v".
var orderedEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

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
