package main

import (
	"context"
	"fmt"

	"healthcode/config"
	"healthcode/models"
)

// migrate applies pending migrations and prints what it applied.
func migrate(ctx context.Context, cfg config.Config, e env) error {
	db, err := openDB(ctx, cfg, models.SystemClock{})
	if err != nil {
		return err
	}
	defer models.CloseDB(db)
	applied, err := models.Migrate(ctx, db, models.SystemClock{})
	for _, m := range applied {
		fmt.Fprintln(e.stdout, "applied", m)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is current (version %d)\n", models.LatestSchemaVersion())
	}
	return nil
}
