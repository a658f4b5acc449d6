package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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

	"healthcode/models"
)

// server is the app, built and started by the harness.
type server struct {
	cmd         *exec.Cmd
	base        string
	operatorKey string
	dir         string
	driver, dsn string
	exited      chan error
}

// startServer builds ./app and runs it on a free port with a fresh data
// directory (and a fresh MySQL database with -db mysql), limits raised so
// the load measures capacity rather than per-account rate limits.
func startServer(ctx context.Context, o options) (*server, error) {
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return nil, fmt.Errorf("find the module: %w", err)
	}
	dir, err := os.MkdirTemp("", "healthcode-load-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "healthcode")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./app")
	build.Dir = strings.TrimSpace(string(root))
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	keyBytes := make([]byte, 24)
	rand.Read(keyBytes)
	s := &server{dir: dir, operatorKey: hex.EncodeToString(keyBytes), driver: o.db, exited: make(chan error, 1)}
	env := append(os.Environ(),
		"HEALTHCODE_ADDR=127.0.0.1:0", "HEALTHCODE_DATA_DIR="+filepath.Join(dir, "data"),
		"HEALTHCODE_OPERATOR_KEYS="+s.operatorKey, "HEALTHCODE_LOG_FORMAT=json", "HEALTHCODE_CODE_TTL=5m",
		"HEALTHCODE_RATE_LOGIN_PER_MINUTE_IP=1000000", "HEALTHCODE_RATE_IDENTITY_PER_MINUTE_IP=1000000",
		"HEALTHCODE_RATE_IDENTITY_PER_MINUTE_ACCOUNT=1000000", "HEALTHCODE_RATE_CODE_PER_MINUTE_ACCOUNT=100000000",
		"HEALTHCODE_RATE_VERIFY_PER_MINUTE_ACCOUNT=100000000",
	)
	switch o.db {
	case "sqlite":
		s.dsn = filepath.Join(dir, "data", "healthcode.db")
	case "mysql":
		if s.dsn, err = recreateDatabase(o.dsn); err != nil {
			return nil, err
		}
		env = append(env, "HEALTHCODE_DB_DRIVER=mysql", "HEALTHCODE_DB_DSN="+s.dsn, "HEALTHCODE_DB_MAX_OPEN_CONNS=32")
	default:
		return nil, fmt.Errorf("unknown database %q", o.db)
	}
	logPath := o.logFile
	if logPath == "" {
		logPath = filepath.Join(dir, "server.log")
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	s.cmd = pinned(o.serverCPUs, bin)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.exited <- s.cmd.Wait(); logFile.Close() }()
	fmt.Printf("server log: %s\n", logPath)

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if addr := listenAddr(logPath); addr != "" {
			s.base = "http://" + addr
			return s, nil
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("server exited: %v (see %s)", err, logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.stop()
	return nil, errors.New("server did not start within a minute")
}

// listenAddr finds the address in the server's "healthcode listening" line.
func listenAddr(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "healthcode listening" {
			return line.Addr
		}
	}
	return ""
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
	if s.cmd != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
		}
	}
	os.RemoveAll(s.dir)
}

// countRows counts the rows of table (verifications, samples) straight
// from the database.
func (s *server) countRows(ctx context.Context, table string) (int64, error) {
	db, err := models.OpenDB(ctx, models.DBOptions{Driver: s.driver, DSN: s.dsn, MaxOpenConns: 1})
	if err != nil {
		return 0, err
	}
	defer models.CloseDB(db)
	var n int64
	err = db.Table(table).Count(&n).Error
	return n, err
}

// shutdownCheck stops the server with SIGTERM halfway through a run of
// o.shutdownTarget (verify or register) and checks that the database holds
// exactly the rows of the accepted writes: verifications answered 200, or
// registrations answered 201 (a 200 to a registration is a resend that
// writes nothing).
func shutdownCheck(ctx context.Context, c *http.Client, s *server, seed *seeded, o options) error {
	table, accepted, gen := "verifications", 200, seed.verify(s.base)
	n := o.people
	if o.shutdownTarget == "register" {
		var err error
		if gen, err = seed.register(ctx, c, s.base, registerRequests); err != nil {
			return err
		}
		table, accepted, n = "samples", 201, registerRequests
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
		s.cmd.Process.Signal(syscall.SIGTERM)
	}()
	res := rawClosedLoop(ctx, reqs, slices.Max(o.clients), o.duration)
	var exitErr error
	select {
	case exitErr = <-s.exited:
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
