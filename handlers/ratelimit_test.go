package handlers

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// wantLimited checks a 429 rate_limited answer and its Retry-After.
func wantLimited(t *testing.T, rec *httptest.ResponseRecorder, retryAfter string) {
	t.Helper()
	wantError(t, rec, 429, "rate_limited")
	if got := rec.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
}

// A relative's code and status lookup spend the account's code tokens, the
// same as the holder's own code, before anything is read or audited. They
// were once unlimited: 300 calls in 1.3 s all answered 200 and wrote 600
// audit rows.
func TestRelativeEndpointsShareTheCodeLimit(t *testing.T) {
	e, alice := familyEnv(t, func(s *testSetup) { s.cfg.RateLimit.CodePerMinuteUser = 4 })
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	code, status := "/api/v1/relatives/"+mother.ID+"/code", "/api/v1/relatives/"+mother.ID+"/status"

	decode[codeResponse](t, e.json("GET", code, alice, nil), 200)
	decode[relativeStatusResponse](t, e.json("GET", status, alice, nil), 200)
	decode[relativeStatusResponse](t, e.json("GET", status, alice, nil), 200)
	decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200)
	// Four a minute: one token every 15 s, whichever route asks.
	for range 20 {
		for _, path := range []string{code, status, "/api/v1/me/code"} {
			wantLimited(t, e.json("GET", path, alice, nil), "15")
		}
	}
	for action, want := range map[string]int{"relative.code": 1, "relative.lookup": 2} {
		if got, _ := e.store.AuditEntries(t.Context(), action, mother.ID); len(got) != want {
			t.Errorf("%d %s audit rows after refused calls, want %d", len(got), action, want)
		}
	}

	e.clock.Advance(15 * time.Second)
	decode[codeResponse](t, e.json("GET", code, alice, nil), 200)
	wantLimited(t, e.json("GET", status, alice, nil), "15")
	if got, _ := e.store.AuditEntries(t.Context(), "relative.code", mother.ID); len(got) != 2 {
		t.Errorf("%d relative.code audit rows, want 2", len(got))
	}
}

// Each page ticket opened is a database row: an account may be given a few a
// minute, and another account is not held back by it.
func TestPageTicketsAreLimitedPerAccount(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) { s.cfg.RateLimit.TicketPerMinuteUser = 3 })
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	bob, _ := e.verifiedUser(t, "bob", "王小明", staffNumber)
	for range 3 {
		decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, nil), 201)
	}
	for range 20 {
		wantLimited(t, e.json("POST", "/api/v1/h5/tickets", alice, map[string]string{"purpose": "verify"}), "20")
	}
	decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", bob, nil), 201)
	e.clock.Advance(20 * time.Second)
	decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, nil), 201)
}

// Limits per address take an IPv6 client by its /64: one host holds all of
// it, and each of its addresses must not get a fresh burst (nor a bucket of
// its own in the limiter).
func TestAnIPv6ClientIsLimitedByIts64(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) { s.cfg.RateLimit.LoginPerMinuteIP = 1 })
	login := func(addr string) int {
		req := httptest.NewRequest("POST", "/api/v1/auth/sandbox", strings.NewReader(`{"user":"mallory"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := login("[2001:db8:1:2::1]:40000"); got != 200 {
		t.Fatalf("first login = %d", got)
	}
	for i := 2; i < 50; i++ {
		if got := login(fmt.Sprintf("[2001:db8:1:2::%x]:40000", i)); got != 429 {
			t.Fatalf("login from another address of the /64 = %d, want 429", got)
		}
	}
	// Another /64 and an IPv4 client are other clients.
	for _, addr := range []string{"[2001:db8:1:3::1]:40000", "192.0.2.7:40000", "[::ffff:192.0.2.8]:40000"} {
		if got := login(addr); got != 200 {
			t.Errorf("login from %s = %d, want 200", addr, got)
		}
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7": "192.0.2.7", "2001:db8:1:2:aaaa::1": "2001:db8:1:2::/64", "::ffff:192.0.2.8": "192.0.2.8", "": "",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
