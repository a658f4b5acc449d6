package main

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"healthcode/config"
	"healthcode/models"
)

// deps are the long-lived parts every command builds the same way.
type deps struct {
	db       *gorm.DB
	store    *models.Store
	clock    models.Clock
	keys     config.KeyMaterial
	sessions *models.Sessions
}

// openDB opens the configured database; for sqlite with no DSN, the file
// under the data directory, created on first run.
func openDB(ctx context.Context, cfg config.Config, clock models.Clock) (*gorm.DB, error) {
	if err := ensureDataDir(cfg); err != nil {
		return nil, err
	}
	dsn := cfg.DB.DSN
	if cfg.DB.Driver == config.DriverSQLite && dsn == "" {
		dsn = cfg.SQLitePath()
	}
	return models.OpenDB(ctx, models.DBOptions{
		Driver: cfg.DB.Driver, DSN: dsn, MaxOpenConns: cfg.DB.MaxOpenConns, Clock: clock,
	})
}

// build opens the database and loads the keys. The caller closes d.db.
func build(ctx context.Context, cfg config.Config) (*deps, error) {
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
	db, err := openDB(ctx, cfg, clock)
	if err != nil {
		return nil, err
	}
	return &deps{
		db:       db,
		store:    models.NewStore(db, vault, clock, cfg.Location()),
		clock:    clock,
		keys:     keys,
		sessions: models.NewSessions(keys.Session, cfg.SessionTTL.D(), clock, cfg.Location(), models.NewRevocations()),
	}, nil
}
