package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"healthcode/models/clocktest"
	"healthcode/models/storetest"
)

// binary is the app built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "healthcode-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "healthcode")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary returns the built app.
func buildBinary(t *testing.T) string {
	t.Helper()
	return binary
}

// server is the real binary running as `go run ./app` would.
type server struct {
	cmd    *exec.Cmd
	base   string
	logs   *syncLog
	exited chan error
}

// syncLog collects the server's output while tests read it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listenLine = regexp.MustCompile(`msg="healthcode listening" addr=(\S+) mode=(\S+)`)

func startServer(t *testing.T, bin string, extraEnv ...string) *server {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	// The server runs on the real clock, in a zone where the test is far
	// from the day's end (today's face check); a test may name another.
	cmd.Env = append(os.Environ(), "HEALTHCODE_ADDR=127.0.0.1:0", "HEALTHCODE_TIME_ZONE="+clocktest.Zone())
	cmd.Env = append(cmd.Env, extraEnv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &syncLog{}, exited: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteString(line + "\n")
			if m := listenLine.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		s.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.exited:
		t.Fatalf("server exited before listening: %v\n%s", err, s.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not log its address\n%s", s.logs)
	}
	return s
}

type errorEnvelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func call(t *testing.T, method, url string, wantStatus int, into any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s = %d %s, want %d", method, url, resp.StatusCode, body, wantStatus)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON", method, url, ct)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("%s %s: body %s is not JSON: %v", method, url, body, err)
	}
}

func (s *server) checkEndpointsAndStop(t *testing.T) {
	t.Helper()
	var health, ready map[string]any
	call(t, "GET", s.base+"/healthz", 200, &health)
	if health["status"] != "ok" {
		t.Errorf("healthz = %v", health)
	}
	call(t, "GET", s.base+"/readyz", 200, &ready)
	if ready["status"] != "ready" {
		t.Errorf("readyz = %v", ready)
	}
	var e errorEnvelope
	call(t, "GET", s.base+"/no/such/route", 404, &e)
	if e.Error.Code != "not_found" || e.Error.Message == "" {
		t.Errorf("404 body = %+v", e)
	}
	e = errorEnvelope{}
	call(t, "DELETE", s.base+"/healthz", 405, &e)
	if e.Error.Code != "method_not_allowed" || e.Error.Message == "" {
		t.Errorf("405 body = %+v", e)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not stop after SIGTERM\n%s", s.logs)
	}
	if !strings.Contains(s.logs.String(), "msg=stopped") {
		t.Errorf("no clean stop in the logs:\n%s", s.logs)
	}
	if _, err := http.Get(s.base + "/healthz"); err == nil {
		t.Error("server still answers after SIGTERM")
	}
}

func TestServeOnAFreshMachine(t *testing.T) {
	bin := buildBinary(t)
	s := startServer(t, bin)
	m := listenLine.FindStringSubmatch(s.logs.String())
	if m[2] != "development" {
		t.Errorf("mode = %s, want development", m[2])
	}
	for _, f := range []string{"data/healthcode.db", "data/keys/encryption.key", "data/keys/hash.key", "data/keys/session.key"} {
		info, err := os.Stat(filepath.Join(s.cmd.Dir, f))
		if err != nil {
			t.Errorf("%s not created on first run: %v", f, err)
		} else if strings.HasSuffix(f, ".key") && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, info.Mode().Perm())
		}
	}
	s.checkEndpointsAndStop(t)
}

// A request in flight when SIGTERM arrives is finished, then the server exits 0.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	bin := buildBinary(t)
	s := startServer(t, bin)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"user":"in-flight"}`
	fmt.Fprintf(conn, "POST /api/v1/auth/sandbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	time.Sleep(200 * time.Millisecond) // the server is now reading the body
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-s.exited:
		t.Fatalf("exited with a request in flight: %v\n%s", err, s.logs)
	default:
	}
	fmt.Fprint(conn, body[5:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v\n%s", err, s.logs)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("in-flight request = %d", resp.StatusCode)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestServeOnMariaDB(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	bin := buildBinary(t)
	s := startServer(t, bin, "HEALTHCODE_DB_DRIVER=mysql", "HEALTHCODE_DB_DSN="+dsn)
	if strings.Contains(s.logs.String(), dsn) {
		t.Error("the DSN appears in the logs")
	}
	s.checkEndpointsAndStop(t)
}

func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "HEALTHCODE_DATA_DIR" {
			return dir
		}
		return ""
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"migrate"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 1 create persons") {
		t.Errorf("first migrate printed %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "schema is current") {
		t.Errorf("second migrate printed %q", out.String())
	}
}

func TestCommandLine(t *testing.T) {
	noenv := func(string) string { return "" }
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, noenv, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "healthcode ") {
		t.Errorf("version: %q, %v", out.String(), err)
	}
	err := run(context.Background(), []string{"frobnicate"}, noenv, io.Discard, io.Discard)
	if _, ok := err.(usageError); !ok {
		t.Errorf("unknown command: err = %v, want a usage error", err)
	}
	prod := func(k string) string {
		return map[string]string{"HEALTHCODE_MODE": "production", "HEALTHCODE_SANDBOX": "true"}[k]
	}
	err = run(context.Background(), []string{"serve"}, prod, io.Discard, io.Discard)
	for _, want := range []string{"refuses the sandbox", "refuses generated development keys"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("production with defaults: err = %v, want it to say %q", err, want)
		}
	}
}

func TestConfigCommandMasksSecrets(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{
			"HEALTHCODE_WECHAT_APP_ID":     "wx123",
			"HEALTHCODE_WECHAT_APP_SECRET": "topsecret-app-secret",
			"HEALTHCODE_DB_DRIVER":         "mysql",
			"HEALTHCODE_DB_DSN":            "user:dbpassword@tcp(db:3306)/hc",
		}[k]
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"config"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"topsecret-app-secret", "dbpassword"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("config output shows %q: %s", secret, out.String())
		}
	}
	if !strings.Contains(out.String(), "wx123") {
		t.Errorf("config output hides a non-secret: %s", out.String())
	}
}
