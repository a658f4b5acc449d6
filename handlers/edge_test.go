package handlers

import (
	"strings"
	"testing"
)

// TestForwardedForIsBelievedOnlyFromTrustedProxies: behind a proxy named in
// HEALTHCODE_HTTP_TRUSTED_PROXIES the per-address login limit counts the
// client the proxy names in X-Forwarded-For, and the access log shows it;
// from any other peer the header is ignored, so a client cannot escape the
// limit by inventing addresses.
func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	login := func(e *testEnv, forwardedFor string) int {
		return e.do("POST", "/api/v1/auth/sandbox", strings.NewReader(`{"user":"alice"}`),
			"Content-Type", "application/json", "X-Forwarded-For", forwardedFor).Code
	}
	// httptest's peer is 192.0.2.1.
	for name, c := range map[string]struct {
		trusted    []string
		wantSecond int // the first login from a second claimed client
	}{
		"trusted proxy":    {[]string{"192.0.2.1"}, 200},
		"trusted range":    {[]string{"192.0.2.0/24"}, 200},
		"untrusted peer":   {[]string{"10.0.0.1"}, 429},
		"no proxy trusted": {nil, 429},
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, func(s *testSetup) {
				s.cfg.RateLimit.LoginPerMinuteIP = 2
				s.cfg.HTTP.TrustedProxies = c.trusted
			})
			for range 2 {
				if got := login(e, "203.0.113.7"); got != 200 {
					t.Fatalf("login = %d, want 200", got)
				}
			}
			if got := login(e, "203.0.113.7"); got != 429 {
				t.Errorf("third login from one client = %d, want 429", got)
			}
			if got := login(e, "203.0.113.8"); got != c.wantSecond {
				t.Errorf("login claiming another client = %d, want %d", got, c.wantSecond)
			}
			wantClient := "client=192.0.2.1"
			if c.wantSecond == 200 {
				wantClient = "client=203.0.113.7"
			}
			if logs := e.logs.String(); !strings.Contains(logs, wantClient) {
				t.Errorf("access log lacks %s:\n%s", wantClient, logs)
			}
		})
	}
}

// TestDrainingNodeIsNotReady: once draining, /readyz answers 503 draining
// with Retry-After while the routes keep serving.
func TestDrainingNodeIsNotReady(t *testing.T) {
	e := newTestEnv(t)
	if rec := e.do("GET", "/readyz", nil); rec.Code != 200 {
		t.Fatalf("readyz = %d %s", rec.Code, rec.Body)
	}
	(&Service{api: e.api}).Drain()
	rec := e.do("GET", "/readyz", nil)
	wantError(t, rec, 503, "draining")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("draining readyz lacks Retry-After")
	}
	e.sandboxLogin(t, "alice")
	if rec := e.do("GET", "/healthz", nil); rec.Code != 200 {
		t.Errorf("healthz while draining = %d", rec.Code)
	}
}
