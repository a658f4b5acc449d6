package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"healthcode/config"
	"healthcode/handlers"
	"healthcode/models"
	"healthcode/models/groupcommit"
	"healthcode/models/store"
)

// serve runs the HTTP service until ctx is cancelled, then stops accepting,
// lets in-flight requests finish within the shutdown timeout, closes the
// database and returns nil.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, e env) error {
	paceGC(log)
	d, err := build(ctx, cfg, cfg.DB.QueryTimeout.D())
	if err != nil {
		return err
	}
	defer store.CloseDB(d.db)

	if cfg.DB.AutoMigrate {
		// Not on the serving pool: a migration may run far longer than a
		// request's query timeout allows.
		applied, err := runMigrations(ctx, cfg, d.clock)
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
	// Everything the hot paths read lives in memory, loaded now and kept
	// fresh by polling version rows, so a change on one node reaches all.
	verifiers := models.NewVerifierBook()
	samplers := models.NewSamplerBook()
	venues := models.NewVenueBook()
	offline := models.NewOfflineBook()
	kiosks := models.NewKioskBook()
	signing := &signingKeys{cfg: cfg, ring: d.signing}
	refreshes := map[string]func(context.Context) error{
		"session revocations": func(ctx context.Context) error {
			return d.store.RefreshRevocations(ctx, d.sessions.Revoked, cfg.SessionTTL.D())
		},
		"status lists":  func(ctx context.Context) error { return d.store.RefreshStatus(ctx, d.status) },
		"verifiers":     func(ctx context.Context) error { return d.store.RefreshVerifiers(ctx, verifiers) },
		"samplers":      func(ctx context.Context) error { return d.store.RefreshSamplers(ctx, samplers) },
		"venues":        func(ctx context.Context) error { return d.store.RefreshVenues(ctx, venues) },
		"offline codes": func(ctx context.Context) error { return d.store.RefreshOffline(ctx, offline) },
		"kiosks":        func(ctx context.Context) error { return d.store.RefreshKiosks(ctx, kiosks) },
		// A `keys rotate` reaches running servers without a restart; the
		// keys are read again only when their files changed.
		"signing keys": func(context.Context) error { return signing.refresh(d.clock.Now()) },
	}
	for name, refresh := range refreshes {
		if err := refresh(ctx); err != nil {
			return fmt.Errorf("load %s: %w", name, err)
		}
	}
	watchCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	go watch(watchCtx, 2*time.Second, log, refreshes)

	writers := cfg.GroupCommit.Writers
	if writers == 0 {
		writers = map[string]int{config.DriverSQLite: 1, config.DriverMySQL: 4}[cfg.DB.Driver]
	}
	verifications := groupcommit.New(groupcommit.Options{
		MaxBatch: cfg.GroupCommit.MaxBatch, MaxWait: cfg.GroupCommit.MaxWait.D(), Queue: cfg.GroupCommit.Queue, Writers: writers,
		Timeout: cfg.DB.QueryTimeout.D(),
	}, d.store.RecordVerifications)
	// Closed after the HTTP server has drained: every verification answered
	// is committed before the database closes.
	defer verifications.Close()
	// Sample registrations the same way: answered once committed. A tube's
	// registrations always go to the same writer, so this node's batches
	// never wait for each other's tube locks (another node's may: the
	// database decides between them).
	samples := groupcommit.NewPartitioned(groupcommit.Options{
		MaxBatch: cfg.GroupCommit.MaxBatch, MaxWait: cfg.GroupCommit.MaxWait.D(), Queue: cfg.GroupCommit.Queue, Writers: writers,
		Timeout: cfg.DB.QueryTimeout.D(),
	}, func(r *models.SampleRegistration) string { return r.Sample.Tube }, d.store.RecordSamples)
	defer samples.Close()
	// Venue check-ins too, each visit with its result page's ticket.
	visits := groupcommit.New(groupcommit.Options{
		MaxBatch: cfg.GroupCommit.MaxBatch, MaxWait: cfg.GroupCommit.MaxWait.D(), Queue: cfg.GroupCommit.Queue, Writers: writers,
		Timeout: cfg.DB.QueryTimeout.D(),
	}, d.store.RecordVisits)
	defer visits.Close()
	// Records past their retention are purged in the background, on one
	// node at a time; stopped and waited for before the database closes.
	purgeCtx, stopPurging := context.WithCancel(context.Background())
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		purgeLoop(purgeCtx, cfg.Retention.Interval.D(), log, d.store, retentionPolicy(cfg))
	}()
	defer func() { stopPurging(); <-purged }()
	// Imports run as jobs in the background, one at a time on this node;
	// a finished one reaches this node's book at once, the others' within
	// their poll. Leftover uploads of a previous run are removed first.
	importer := store.NewImporter(d.store, 4, log, func() {
		if err := d.store.RefreshStatus(context.Background(), d.status); err != nil {
			log.Error("refresh status lists after an import", "err", err)
		}
	})
	removeSpooledUploads(cfg, log)
	importCtx, stopImports := context.WithCancel(context.Background())
	imported := make(chan struct{})
	go func() { defer close(imported); importer.Run(importCtx) }()
	defer func() { stopImports(); <-imported }()
	if d.keys.NewOperatorKey != "" {
		// Shown once, on the console only: never written to the log.
		fmt.Fprintf(e.stdout, "Development operator key (shown once; kept in %s/keys/operator.key):\n  Authorization: Operator %s\n",
			cfg.DataDir, d.keys.NewOperatorKey)
	}

	service, err := handlers.New(handlers.Deps{
		Config: cfg, Store: d.store, Sessions: d.sessions, Platforms: platforms,
		Keys: d.signing, Status: d.status, Verifiers: verifiers, Offline: offline, Kiosks: kiosks, Verifications: verifications, Importer: importer,
		Samplers: samplers, Samples: samples, Venues: venues, Visits: visits, OperatorKeys: d.keys.OperatorKeys, Clock: d.clock, Logger: log,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           service.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout.D(),
		WriteTimeout:      cfg.HTTP.WriteTimeout.D(),
		IdleTimeout:       cfg.HTTP.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext:       handlers.ConnContext,
	}
	// Metrics and profiles on listeners of their own, when configured (not
	// public: pprof is on loopback unless allowed otherwise).
	if cfg.MetricsAddr != "" {
		side, err := listenSide("metrics", cfg.MetricsAddr, service.Metrics, cfg.HTTP.WriteTimeout.D(), log)
		if err != nil {
			return err
		}
		defer side.Close()
	}
	if cfg.PprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		// No write timeout: a profile streams for as long as it was asked.
		side, err := listenSide("profiles", cfg.PprofAddr, mux, 0, log)
		if err != nil {
			return err
		}
		defer side.Close()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	ln = handlers.TrackArrivals(ln)
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

	if delay := cfg.HTTP.DrainDelay.D(); delay > 0 {
		// Readiness fails first; the balancer stops sending new requests
		// while those it sent are still served.
		service.Drain()
		log.Info("draining", "delay", delay.String())
		select {
		case <-time.After(delay):
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		}
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

// serveGCPercent paces a serving node's garbage collector when GOGC is not
// set. A node's heap is mostly its books, which live as long as the process
// (the status book alone is 16 B a person: 80 MB at 5 M people), and each
// request allocates a few kilobytes that die with it; the collector's work
// per cycle is the live heap, its frequency the allocation rate over the
// headroom. At the default 100 a node with a small book collects every few
// megabytes of requests, and marking and the stacks it shrinks (to regrow
// on the next request) took 12-15 % of a show-code's CPU; at 400 it
// collects a quarter as often, for a heap of at most five times the live
// one. GOGC, and GOMEMLIMIT as a ceiling, still override it.
const serveGCPercent = 400

func paceGC(log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(serveGCPercent)
	log.Info("garbage collector paced", "gogc", serveGCPercent)
}

// watch runs every refresh every interval until ctx ends: this is how an
// import, a role change, a logout or a key rotation on one node reaches the
// others. A failed refresh (the database down: each call ends by its query
// deadline) keeps the books as they were, is logged, and is tried again at
// the next tick; the first success after failures is logged too.
func watch(ctx context.Context, interval time.Duration, log *slog.Logger, refreshes map[string]func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := make(map[string]bool, len(refreshes))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for name, refresh := range refreshes {
				err := refresh(ctx)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					log.Warn("refresh "+name, "err", err)
					failing[name] = true
				case failing[name]:
					log.Info("refresh " + name + " recovered")
					failing[name] = false
				}
			}
		}
	}
}

// listenSide serves h on addr beside the service (metrics, profiles) until
// the returned server is closed. It fails when addr cannot be listened on.
func listenSide(name, addr string, h http.Handler, writeTimeout time.Duration, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for %s: %w", addr, name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: writeTimeout, IdleTimeout: time.Minute,
		MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info(name+" listening", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn(name, "err", err)
		}
	}()
	return srv, nil
}
