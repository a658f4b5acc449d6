package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"healthcode/config"
	"healthcode/models/store"
)

// retentionPolicy is the purge's policy under cfg, paced so the hot paths'
// writes pass between its batches.
func retentionPolicy(cfg config.Config) store.RetentionPolicy {
	return store.RetentionPolicy{
		Scans: cfg.Retention.Scans.D(), Tickets: cfg.Retention.Tickets.D(), CheckIns: cfg.Retention.CheckIns.D(),
		Samples: cfg.Retention.Samples.D(), Audit: cfg.Retention.Audit.D(),
		SessionTTL: cfg.SessionTTL.D(),
		BatchSize:  store.DefaultPurgeBatch, Pause: store.DefaultPurgePause, Deadline: store.DefaultPurgeDeadline,
	}
}

// purge removes the data past its retention once and prints what it
// removed from each table: `app purge`.
func purge(ctx context.Context, cfg config.Config, e env) error {
	d, err := openForCommand(ctx, cfg, commandQueryTimeout)
	if err != nil {
		return err
	}
	defer store.CloseDB(d.db)
	report, err := d.store.Purge(ctx, retentionPolicy(cfg))
	if report.Skipped {
		fmt.Fprintln(e.stdout, "another node is purging now; nothing removed")
		return nil
	}
	for _, t := range report.Tables {
		fmt.Fprintf(e.stdout, "%-20s removed %d (%s before %s)\n", t.Table, t.Removed, t.Rule, t.Before.UTC().Format(time.RFC3339))
	}
	return err
}

// purgeLoop purges every interval, jittered by ±10 % so nodes started
// together do not all reach for the lock at once, until ctx ends. Each run
// logs one line with its counts; a run skipped for another node's lock
// logs at debug level.
func purgeLoop(ctx context.Context, interval time.Duration, log *slog.Logger, st *store.Store, policy store.RetentionPolicy) {
	for {
		t := time.NewTimer(jitter(interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		report, err := st.Purge(ctx, policy)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("purge", "err", err, "removed", report.String())
		case report.Skipped:
			log.Debug("purge skipped: another node is purging")
		default:
			attrs := []any{"removed", report.Removed()}
			for _, t := range report.Tables {
				attrs = append(attrs, t.Table, t.Removed)
			}
			log.Info("purged expired data", attrs...)
		}
	}
}

// jitter returns d moved by up to 10 % either way.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}
