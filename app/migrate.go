package main

import (
	"context"
	"fmt"
	"time"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/store"
)

// migrate applies pending migrations and prints what it applied.
func migrate(ctx context.Context, cfg config.Config, e env) error {
	applied, err := runMigrations(ctx, cfg, models.SystemClock{})
	for _, m := range applied {
		fmt.Fprintln(e.stdout, "applied", m)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is current (version %d)\n", store.LatestSchemaVersion())
	}
	return nil
}

// runMigrations applies pending migrations on a connection pool of their
// own, whose statements may run for commandQueryTimeout, and closes it.
func runMigrations(ctx context.Context, cfg config.Config, clock models.Clock) ([]string, error) {
	db, err := openDB(ctx, cfg, clock, commandQueryTimeout)
	if err != nil {
		return nil, err
	}
	defer store.CloseDB(db)
	return store.Migrate(ctx, db, clock)
}

// openForCommand builds what an operator command needs, its statements held
// to queryTimeout, after applying pending migrations when the configuration
// asks serve to (HEALTHCODE_DB_AUTO_MIGRATE). The caller closes d.db.
func openForCommand(ctx context.Context, cfg config.Config, queryTimeout time.Duration) (*deps, error) {
	d, err := build(ctx, cfg, queryTimeout)
	if err != nil {
		return nil, err
	}
	if cfg.DB.AutoMigrate {
		if _, err := runMigrations(ctx, cfg, d.clock); err != nil {
			store.CloseDB(d.db)
			return nil, err
		}
	}
	return d, nil
}
