package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"healthcode/config"
	"healthcode/handlers"
	"healthcode/models"
)

// serve runs the HTTP service until ctx is cancelled, then stops accepting,
// lets in-flight requests finish within the shutdown timeout, closes the
// database and returns nil.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, e env) error {
	d, err := build(ctx, cfg)
	if err != nil {
		return err
	}
	defer models.CloseDB(d.db)

	if cfg.DB.AutoMigrate {
		applied, err := models.Migrate(ctx, d.db, d.clock)
		for _, m := range applied {
			log.Info("applied migration", "migration", m)
		}
		if err != nil {
			return err
		}
	}

	platforms, err := buildPlatforms(cfg, d.clock)
	if err != nil {
		return err
	}
	// Logouts on other nodes reach this one within the poll interval.
	if err := d.store.RefreshRevocations(ctx, d.sessions.Revoked, cfg.SessionTTL.D()); err != nil {
		return err
	}
	if err := d.store.RefreshStatus(ctx, d.status); err != nil {
		return err
	}
	watchCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	go d.store.WatchRevocations(watchCtx, d.sessions.Revoked, cfg.SessionTTL.D(), 2*time.Second, log)
	go d.store.WatchStatus(watchCtx, d.status, 2*time.Second, log)
	go watchSigningKeys(watchCtx, cfg, d, log)
	if d.keys.NewOperatorKey != "" {
		// Shown once, on the console only: never written to the log.
		fmt.Fprintf(e.stdout, "Development operator key (shown once; kept in %s/keys/operator.key):\n  Authorization: Operator %s\n",
			cfg.DataDir, d.keys.NewOperatorKey)
	}

	handler, err := handlers.New(handlers.Deps{
		Config: cfg, Store: d.store, Sessions: d.sessions, Platforms: platforms,
		Keys: d.signing, Status: d.status, OperatorKeys: d.keys.OperatorKeys, Clock: d.clock, Logger: log,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout.D(),
		WriteTimeout:      cfg.HTTP.WriteTimeout.D(),
		IdleTimeout:       cfg.HTTP.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	log.Info("healthcode listening", "addr", ln.Addr().String(), "mode", cfg.Mode,
		"db", cfg.DB.Driver, "platforms", strings.Join(slices.Sorted(maps.Keys(platforms)), ","))
	if cfg.SandboxEnabled() {
		log.Info("development page", "url", "http://"+ln.Addr().String()+"/dev")
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish in time: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// watchSigningKeys reloads the signing keys every 30 s, so a `keys rotate`
// reaches running servers without a restart.
func watchSigningKeys(ctx context.Context, cfg config.Config, d *deps, log *slog.Logger) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			keys, err := loadSigningKeys(cfg, d.clock.Now())
			if err == nil {
				err = d.signing.Replace(keys)
			}
			if err != nil {
				log.Warn("reload signing keys", "err", err)
			}
		}
	}
}
