package miniprogram_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"healthcode/models/storetest"
)

// shellTestDir holds the mini-program shells' JavaScript tests, their
// package.json and package-lock.json (node_modules is not committed).
const shellTestDir = "shelltest"

// shellTestTimeout bounds each JavaScript run (npm ci, jest, node --test).
const shellTestTimeout = 4 * time.Minute

// TestShells runs the mini-program shells against the real backend: the
// WeChat shell's pages under miniprogram-simulate (jest, jsdom, its
// simulate compiler) and the Alipay shell's logic and pages under Node's
// test runner, each with a wx / my object whose requests are real HTTP to
// the backend started here with the fake WeChat server and fake Alipay
// gateway. It skips when Node.js or npm is missing (fails under
// HEALTHCODE_TEST_REQUIRE_ALL=1), and runs `npm ci` itself when
// node_modules is missing or older than package-lock.json.
func TestShells(t *testing.T) {
	if testing.Short() {
		t.Skip("the shells' JavaScript tests take a while; -short skips them")
	}
	dir, err := filepath.Abs(shellTestDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm", "npx"} {
		if _, err := exec.LookPath(tool); err != nil {
			storetest.Unavailable(t, "%s not found: the mini-program shells' tests need Node.js and npm (Debian packages nodejs npm)", tool)
		}
	}
	ensureNodeModules(t, dir)
	backend := startShellBackend(t, readUsers(t, dir))
	env := append(os.Environ(),
		"HEALTHCODE_SHELL_FIXTURES="+backend.FixturesFile,
		// Traffic stays on the loopback: no proxy may take it elsewhere.
		"NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "HTTP_PROXY=", "http_proxy=", "HTTPS_PROXY=", "https_proxy=",
		"CI=true", "FORCE_COLOR=0")

	t.Run("wechat", func(t *testing.T) {
		runJS(t, dir, env, backend, "npx", "--no-install", "jest", "--ci", "--runInBand", "--config", "jest.config.js")
	})
	t.Run("alipay", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dir, "alipay", "*.test.js"))
		if len(files) == 0 {
			t.Fatal("no Alipay tests under shelltest/alipay")
		}
		args := append([]string{"--test", "--test-concurrency=1", "--test-reporter=spec"}, files...)
		runJS(t, dir, env, backend, "node", args...)
	})
}

// runJS runs one JavaScript test command in dir, bounded in time, and
// fails the test with its output (and the backend's log) when it fails.
func runJS(t *testing.T, dir string, env []string, backend *shellBackend, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), shellTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %v:\n%s", name, strings.Join(args, " "), shellTestTimeout, out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\n--- backend log ---\n%s", name, strings.Join(args, " "), err, out, backend.Logs)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// ensureNodeModules installs the JavaScript test packages with `npm ci`
// (exactly package-lock.json) unless node_modules is already installed from
// the current lock file.
func ensureNodeModules(t *testing.T, dir string) {
	t.Helper()
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	// npm writes node_modules/.package-lock.json at the end of every install.
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err == nil && !installed.ModTime().Before(lock.ModTime()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shellTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		storetest.Unavailable(t, "npm ci in %s failed (is the npm registry reachable?): %v\n%s", dir, err, out)
	}
}
