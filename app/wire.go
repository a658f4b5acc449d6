package main

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/store"
)

// deps are the long-lived parts every command builds the same way.
type deps struct {
	db       *gorm.DB
	store    *store.Store
	clock    models.Clock
	keys     config.KeyMaterial
	sessions *models.Sessions
	signing  *codetoken.Keyring
	status   *models.StatusBook
}

// commandQueryTimeout is the statement and transaction deadline of the
// operator commands and of migrations, whose work is long by nature: an ALTER
// TABLE on a large table, a whole list in one transaction, or waiting (up to
// 60 s) for another node's migration lock. The server's own requests run
// under HEALTHCODE_DB_QUERY_TIMEOUT.
const commandQueryTimeout = 10 * time.Minute

// keepRetiredKeys is how long a retired signing key stays published: the
// longest a code lives (offline codes, 180 days), and a day to spare.
const keepRetiredKeys = codetoken.LongestLifetime + 24*time.Hour

// loadSigningKeys reads the code-signing keys, generating one on a
// developer's first run; production refuses a generated development key.
func loadSigningKeys(cfg config.Config, now time.Time) ([]*codetoken.Key, error) {
	keys, err := codetoken.LoadDir(cfg.SigningKeyDir(), !cfg.Production(), now, keepRetiredKeys)
	if err != nil {
		return nil, err
	}
	if cfg.Production() {
		for _, k := range keys {
			if k.Development {
				return nil, fmt.Errorf("production mode refuses the development signing key %s", k.ID)
			}
		}
	}
	return keys, nil
}

// keyReloadEvery is how often the signing keys are read again even when
// their directory did not change, so a key retired long enough drops out.
const keyReloadEvery = time.Hour

// signingKeys keeps a keyring in step with the key directory: a refresh
// reads and parses the keys only when the files changed (a `keys rotate`)
// or an hour has passed, not on every poll.
type signingKeys struct {
	cfg      config.Config
	ring     *codetoken.Keyring
	state    string
	loadedAt time.Time
}

// refresh reloads the keys if the directory changed since the last load.
func (k *signingKeys) refresh(now time.Time) error {
	state, err := codetoken.DirState(k.cfg.SigningKeyDir())
	if err != nil {
		return err
	}
	if state == k.state && state != "" && now.Sub(k.loadedAt) < keyReloadEvery {
		return nil
	}
	keys, err := loadSigningKeys(k.cfg, now)
	if err != nil {
		return err
	}
	if err := k.ring.Replace(keys); err != nil {
		return err
	}
	// Read again: loading may have written the first development key.
	if k.state, err = codetoken.DirState(k.cfg.SigningKeyDir()); err != nil {
		return err
	}
	k.loadedAt = now
	return nil
}

// openDB opens the configured database with the given statement deadline;
// for sqlite with no DSN, the file under the data directory, created on
// first run.
func openDB(ctx context.Context, cfg config.Config, clock models.Clock, queryTimeout time.Duration) (*gorm.DB, error) {
	if err := ensureDataDir(cfg); err != nil {
		return nil, err
	}
	dsn := cfg.DB.DSN
	if cfg.DB.Driver == config.DriverSQLite && dsn == "" {
		dsn = cfg.SQLitePath()
	}
	return store.OpenDB(ctx, store.DBOptions{
		Driver: cfg.DB.Driver, DSN: dsn, MaxOpenConns: cfg.DB.MaxOpenConns, QueryTimeout: queryTimeout, Clock: clock,
	})
}

// build opens the database, with the given statement deadline, and loads
// the keys. The caller closes d.db.
func build(ctx context.Context, cfg config.Config, queryTimeout time.Duration) (*deps, error) {
	clock := models.SystemClock{}
	if err := ensureDataDir(cfg); err != nil {
		return nil, err
	}
	keys, err := config.LoadKeys(cfg)
	if err != nil {
		return nil, err
	}
	vault, err := models.NewVault(keys.Encryption, keys.Hash)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	db, err := openDB(ctx, cfg, clock, queryTimeout)
	if err != nil {
		return nil, err
	}
	return &deps{
		db:       db,
		store:    store.NewStore(db, vault, clock, cfg.Location()),
		clock:    clock,
		keys:     keys,
		sessions: models.NewSessions(keys.Session, cfg.SessionTTL.D(), clock, cfg.Location(), models.NewRevocations()),
		// Empty until serve's first refresh loads the keys (commands that
		// do not sign never read them).
		signing: &codetoken.Keyring{},
		status:  models.NewStatusBook(),
	}, nil
}
