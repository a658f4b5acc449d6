// Package serverrun builds the app and runs it as a process for the load
// scripts (scripts/loadtest, scripts/citysim): on a free port of 127.0.0.1,
// with a random operator key, JSON logs to a file and the per-account and
// per-address rate limits raised so a run measures capacity; it waits until
// the server logs its address and stops it with SIGTERM.
package serverrun

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"healthcode/models/clocktest"
)

// Build compiles the module's package pkg (such as ./app) into bin.
func Build(ctx context.Context, pkg, bin string) error {
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("find the module: %w", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Dir = strings.TrimSpace(string(root))
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
	}
	return nil
}

// Options say how to run the server.
type Options struct {
	// Bin is the built app.
	Bin string
	// DataDir is its HEALTHCODE_DATA_DIR (keys, and the SQLite file).
	DataDir string
	// Driver is "sqlite" or "mysql"; DSN, when set, is HEALTHCODE_DB_DSN.
	Driver, DSN string
	// Log is the file the server's output goes to.
	Log string
	// Env holds further HEALTHCODE_* settings, applied last.
	Env []string
	// Command makes the command that runs bin (for example pinned to CPUs
	// with taskset); nil runs bin itself.
	Command func(bin string) *exec.Cmd
	// StartTimeout bounds the wait for the listening line (default 1 min).
	StartTimeout time.Duration
}

// Server is the app running as a process.
type Server struct {
	Cmd *exec.Cmd
	// Addr is where it listens (host:port), Base the same as a URL.
	Addr, Base  string
	OperatorKey string
	Log         string
	// Started is how long it took to listen.
	Started time.Duration
	exited  chan struct{}
	exitErr error
}

// Start runs the server and waits until it listens.
func Start(ctx context.Context, o Options) (*Server, error) {
	key := make([]byte, 24)
	rand.Read(key)
	s := &Server{OperatorKey: hex.EncodeToString(key), Log: o.Log, exited: make(chan struct{})}
	env := append(os.Environ(),
		"HEALTHCODE_ADDR=127.0.0.1:0", "HEALTHCODE_DATA_DIR="+o.DataDir,
		"HEALTHCODE_OPERATOR_KEYS="+s.OperatorKey, "HEALTHCODE_LOG_FORMAT=json", "HEALTHCODE_CODE_TTL=5m",
		"HEALTHCODE_RATE_LOGIN_PER_MINUTE_IP=1000000", "HEALTHCODE_RATE_IDENTITY_PER_MINUTE_IP=1000000",
		"HEALTHCODE_RATE_IDENTITY_PER_MINUTE_ACCOUNT=1000000", "HEALTHCODE_RATE_CODE_PER_MINUTE_ACCOUNT=100000000",
		"HEALTHCODE_RATE_VERIFY_PER_MINUTE_ACCOUNT=100000000", "HEALTHCODE_RATE_CHECKIN_PER_MINUTE_ACCOUNT=100000000",
		// A run keeps real time, in a zone far from the day's end: seeded
		// people's face checks of today must hold for the whole run.
		"HEALTHCODE_TIME_ZONE="+clocktest.Zone(),
	)
	switch o.Driver {
	case "sqlite":
	case "mysql":
		env = append(env, "HEALTHCODE_DB_DRIVER=mysql", "HEALTHCODE_DB_MAX_OPEN_CONNS=32")
	default:
		return nil, fmt.Errorf("unknown database %q", o.Driver)
	}
	if o.DSN != "" {
		env = append(env, "HEALTHCODE_DB_DSN="+o.DSN)
	}
	env = append(env, o.Env...)
	logFile, err := os.Create(o.Log)
	if err != nil {
		return nil, err
	}
	if o.Command != nil {
		s.Cmd = o.Command(o.Bin)
	} else {
		s.Cmd = exec.Command(o.Bin)
	}
	s.Cmd.Env = env
	s.Cmd.Stdout, s.Cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := s.Cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		s.exitErr = s.Cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	wait := o.StartTimeout
	if wait == 0 {
		wait = time.Minute
	}
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		if addr := listenAddr(o.Log); addr != "" {
			s.Addr, s.Base, s.Started = addr, "http://"+addr, time.Since(start)
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited: %v (see %s)", s.exitErr, o.Log)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.Stop()
	return nil, fmt.Errorf("server did not start within %v (see %s)", wait, o.Log)
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

// Exited is closed once the process has ended.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// ExitErr is how the process ended (nil: exit 0); valid once Exited is
// closed.
func (s *Server) ExitErr() error { return s.exitErr }

// Stop ends the server, if it still runs, with SIGTERM (SIGKILL after
// 30 s) and waits for it.
func (s *Server) Stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.Cmd.Process.Kill()
		<-s.exited
	}
}
