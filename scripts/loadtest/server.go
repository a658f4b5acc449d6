package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"healthcode/models/store"
	"healthcode/scripts/internal/serverrun"
)

// server is the app, built and started by the harness, with the data
// directory and database it runs on.
type server struct {
	*serverrun.Server
	dir         string
	driver, dsn string
}

// startServer builds ./app and runs it on a free port with a fresh data
// directory (and a fresh MySQL database with -db mysql), limits raised so
// the load measures capacity rather than per-account rate limits.
func startServer(ctx context.Context, o options) (*server, error) {
	dir, err := os.MkdirTemp("", "healthcode-load-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "healthcode")
	if err := serverrun.Build(ctx, "./app", bin); err != nil {
		return nil, err
	}
	s := &server{dir: dir, driver: o.db}
	run := serverrun.Options{Bin: bin, DataDir: filepath.Join(dir, "data"), Driver: o.db, Log: o.logFile,
		Command: func(bin string) *exec.Cmd { return pinned(o.serverCPUs, bin) }}
	switch o.db {
	case "sqlite":
		s.dsn = filepath.Join(dir, "data", "healthcode.db")
	case "mysql":
		if s.dsn, err = recreateDatabase(o.dsn); err != nil {
			return nil, err
		}
		run.DSN = s.dsn
	}
	if run.Log == "" {
		run.Log = filepath.Join(dir, "server.log")
	}
	fmt.Printf("server log: %s\n", run.Log)
	if s.Server, err = serverrun.Start(ctx, run); err != nil {
		return nil, err
	}
	return s, nil
}

// recreateDatabase drops and creates the DSN's database and returns the DSN.
func recreateDatabase(dsn string) (string, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	if cfg.Addr != "127.0.0.1:3306" && !strings.HasPrefix(cfg.Addr, "127.0.0.1:") {
		return "", errors.New("load tests use a database on 127.0.0.1 only")
	}
	name := cfg.DBName
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", err
	}
	defer db.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name, "CREATE DATABASE " + name + " CHARACTER SET utf8mb4"} {
		if _, err := db.Exec(q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	cfg.DBName = name
	return cfg.FormatDSN(), nil
}

// stop ends the server if it still runs and removes its files.
func (s *server) stop() {
	if s.Server != nil {
		s.Stop()
	}
	os.RemoveAll(s.dir)
}

// countRows counts the rows of table (verifications, samples, check_ins)
// straight from the database.
func (s *server) countRows(ctx context.Context, table string) (int64, error) {
	db, err := store.OpenDB(ctx, store.DBOptions{Driver: s.driver, DSN: s.dsn, MaxOpenConns: 1})
	if err != nil {
		return 0, err
	}
	defer store.CloseDB(db)
	var n int64
	err = db.Table(table).Count(&n).Error
	return n, err
}

// shutdownCheck stops the server with SIGTERM halfway through a run of
// o.shutdownTarget (verify, register or checkin) and checks that the
// database holds exactly the rows of the accepted writes: verifications
// answered 200, registrations or check-ins answered 201 (a 200 to a
// registration is a resend that writes nothing).
func shutdownCheck(ctx context.Context, c *http.Client, s *server, seed *seeded, o options) error {
	table, accepted, gen := "verifications", 200, seed.verify(s.Base)
	n := o.people
	switch o.shutdownTarget {
	case "register":
		var err error
		if gen, err = seed.register(ctx, c, s.Base, registerRequests); err != nil {
			return err
		}
		table, accepted, n = "samples", 201, registerRequests
	case "checkin":
		// One person a scan, so a check-in answered is one row.
		table, accepted, gen = "check_ins", 201, seed.checkIn(s.Base)
	}
	reqs, err := prepare(gen, n)
	if err != nil {
		return err
	}
	before, err := s.countRows(ctx, table)
	if err != nil {
		return err
	}
	go func() {
		time.Sleep(o.duration / 2)
		s.Cmd.Process.Signal(syscall.SIGTERM)
	}()
	res := rawClosedLoop(ctx, reqs, slices.Max(o.clients), o.duration)
	var exitErr error
	select {
	case <-s.Exited():
		exitErr = s.ExitErr()
	case <-time.After(60 * time.Second):
		return errors.New("server did not exit after SIGTERM")
	}
	after, err := s.countRows(ctx, table)
	if err != nil {
		return err
	}
	answered := res.count(func(st int) bool { return st == accepted })
	verdict := "OK"
	if after-before != int64(answered) {
		verdict = "FAIL"
	}
	fmt.Printf("  %d %s answered %d, %d rows written, exit %v, other outcomes %s: %s\n",
		answered, table, accepted, after-before, exitStatus(exitErr), res.statuses(), verdict)
	if verdict != "OK" {
		return fmt.Errorf("rows and %d answers differ", accepted)
	}
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// describeMachine names the machine size for the report.
func describeMachine() string {
	mem := ""
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(raw), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/1024/1024)
	}
	return fmt.Sprintf("%d cores%s, %s", runtime.NumCPU(), mem, runtime.Version())
}
