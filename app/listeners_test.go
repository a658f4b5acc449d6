package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// get answers a GET's status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// sideAddr is the address a side listener logged.
func (s *server) sideAddr(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`msg="` + name + ` listening" addr=(\S+)`).FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatalf("no %q line in the logs:\n%s", name+" listening", s.logs)
	}
	return "http://" + m[1]
}

// Without HEALTHCODE_METRICS_ADDR the public address serves /metrics; with
// it only the metrics listener does, and the public address answers 404.
func TestMetricsListener(t *testing.T) {
	bin := buildBinary(t)
	t.Run("public", func(t *testing.T) {
		s := startServer(t, bin)
		get(t, s.base+"/healthz")
		status, body := get(t, s.base+"/metrics")
		if status != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, `healthcode_requests_total{method="GET",route="/healthz",status="2xx"} 1`) {
			t.Errorf("public /metrics = %d:\n%.2000s", status, body)
		}
	})
	t.Run("separate", func(t *testing.T) {
		s := startServer(t, bin, "HEALTHCODE_METRICS_ADDR=127.0.0.1:0", "HEALTHCODE_PPROF_ADDR=127.0.0.1:0")
		metrics, profiles := s.sideAddr(t, "metrics"), s.sideAddr(t, "profiles")
		get(t, s.base+"/healthz")
		var e errorEnvelope
		call(t, "GET", s.base+"/metrics", 404, &e)
		if e.Error.Code != "not_found" {
			t.Errorf("public /metrics = %+v", e)
		}
		status, body := get(t, metrics+"/metrics")
		if status != 200 || !strings.Contains(body, "process_resident_memory_bytes") ||
			!strings.Contains(body, `healthcode_requests_total{method="GET",route="/healthz",status="2xx"} 1`) {
			t.Errorf("metrics listener /metrics = %d:\n%.2000s", status, body)
		}
		// Nothing but /metrics is served there.
		if status, _ := get(t, metrics+"/healthz"); status != 404 {
			t.Errorf("metrics listener /healthz = %d, want 404", status)
		}
		if status, body := get(t, profiles+"/debug/pprof/"); status != 200 || !strings.Contains(body, "goroutine") {
			t.Errorf("profiles = %d", status)
		}
	})
}

// Profiles expose the heap: a public pprof address is refused at start-up
// unless allowed.
func TestPprofRefusesAPublicAddress(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		return map[string]string{"HEALTHCODE_DATA_DIR": dir, "HEALTHCODE_ADDR": "127.0.0.1:0", "HEALTHCODE_PPROF_ADDR": ":0"}[k]
	}
	// Were it accepted, serve would run until the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve"}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HEALTHCODE_PPROF_ALLOW_REMOTE") {
		t.Errorf("serve with pprof on every interface: %v", err)
	}
}
