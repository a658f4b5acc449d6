package handlers

import (
	"bytes"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode/miniprogram"
	"healthcode/miniprogram/platformtest"
	"healthcode/models"
)

// withWeChat adds the real WeChat adapter, talking to a fake server.
func withWeChat(t *testing.T) (*platformtest.FakeWeChat, func(*testSetup)) {
	fake := platformtest.NewWeChat(t)
	return fake, func(s *testSetup) {
		s.platforms[models.PlatformWeChat] = miniprogram.NewWeChat(fake.Options(models.SystemClock{}))
	}
}

// withAlipay adds the real Alipay adapter, talking to a fake gateway.
func withAlipay(t *testing.T) (*platformtest.FakeAlipay, func(*testSetup)) {
	fake := platformtest.NewAlipay(t)
	return fake, func(s *testSetup) {
		a, err := miniprogram.NewAlipay(fake.Options(models.SystemClock{}))
		if err != nil {
			t.Fatal(err)
		}
		s.platforms[models.PlatformAlipay] = a
	}
}

type loginBody struct {
	Token     string      `json:"token"`
	ExpiresAt string      `json:"expires_at"`
	Account   accountView `json:"account"`
}

// sandboxLogin logs a sandbox user in and returns the token.
func (e *testEnv) sandboxLogin(t testing.TB, user string) loginBody {
	t.Helper()
	return decode[loginBody](t, e.json("POST", "/api/v1/auth/sandbox", "", map[string]string{"user": user}), 200)
}

func TestWeChatLogin(t *testing.T) {
	fake, wechat := withWeChat(t)
	fake.Users["wx-code-1"] = platformtest.WeChatUser{OpenID: "openid-1", UnionID: "union-1", SessionKey: "U2Vzc2lvbktleVNlY3JldA=="}
	e := newTestEnv(t, wechat)

	got := decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "wx-code-1"}), 200)
	if got.Token == "" || got.Account.Platform != "wechat" || got.Account.IdentityBound || got.Account.FaceVerifiedToday || got.Account.ID == "" {
		t.Errorf("login = %+v", got)
	}
	exp, err := time.Parse(time.RFC3339, got.ExpiresAt)
	if err != nil || exp.Sub(e.clock.Now()) != 7*24*time.Hour {
		t.Errorf("expires_at = %q (%v), want RFC 3339 seven days ahead", got.ExpiresAt, err)
	}
	me := decode[meResponse](t, e.json("GET", "/api/v1/me", got.Token, nil), 200)
	if me.Account.ID != got.Account.ID || me.Identity != nil {
		t.Errorf("me = %+v", me)
	}

	// The session key is kept sealed, never in clear.
	var sealed []byte
	e.db.Table("accounts").Select("session_key_sealed").Where("id = ?", got.Account.ID).Scan(&sealed)
	if len(sealed) == 0 || bytes.Contains(sealed, []byte("U2Vzc2lvbktleVNlY3JldA==")) {
		t.Errorf("session key stored as %q", sealed)
	}

	// A second login of the same user is the same account.
	fake.Users["wx-code-2"] = fake.Users["wx-code-1"]
	again := decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "wx-code-2"}), 200)
	if again.Account.ID != got.Account.ID {
		t.Errorf("second login made account %s, want %s", again.Account.ID, got.Account.ID)
	}

	wantError(t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "expired"}), 401, "login_failed")
	wantError(t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{}), 400, "code_required")
	wantError(t, e.do("POST", "/api/v1/auth/wechat", strings.NewReader("{"), "Content-Type", "application/json"), 400, "invalid_json")

	out := e.allOutput()
	for _, secret := range []string{"U2Vzc2lvbktleVNlY3JldA==", fake.AppSecret, base64.StdEncoding.EncodeToString(e.sessKey), base64.RawURLEncoding.EncodeToString(e.sessKey)} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret (%.6s…) reached a response or a log line", secret)
		}
	}
	if !strings.Contains(e.logs.String(), "route=/api/v1/auth/wechat") {
		t.Error("the logs were not captured")
	}
}

func TestAlipayLogin(t *testing.T) {
	fake, alipay := withAlipay(t)
	fake.Users["auth-1"] = platformtest.AlipayUser{OpenID: "open-abc"}
	e := newTestEnv(t, alipay)

	got := decode[loginBody](t, e.json("POST", "/api/v1/auth/alipay", "", map[string]string{"auth_code": "auth-1"}), 200)
	if got.Account.Platform != "alipay" || got.Token == "" {
		t.Errorf("login = %+v", got)
	}
	// code 40002 inside the answer: a 401, not a success.
	wantError(t, e.json("POST", "/api/v1/auth/alipay", "", map[string]string{"auth_code": "used"}), 401, "login_failed")

	fake.Mu.Lock()
	fake.SignWithWrongKey = true
	fake.Mu.Unlock()
	rec := e.json("POST", "/api/v1/auth/alipay", "", map[string]string{"auth_code": "auth-1"})
	if rec.Code == 200 {
		t.Fatalf("an answer signed with the wrong key logged in: %s", rec.Body)
	}
}

func TestSandboxLoginOnlyWhenEnabled(t *testing.T) {
	e := newTestEnv(t)
	if got := e.sandboxLogin(t, "alice"); got.Account.Platform != "sandbox" {
		t.Errorf("sandbox login = %+v", got)
	}
	wantError(t, e.json("POST", "/api/v1/auth/sandbox", "", map[string]string{"user": ""}), 400, "code_required")
	wantError(t, e.json("POST", "/api/v1/auth/sandbox", "", map[string]string{"user": strings.Repeat("长", 65)}), 400, "invalid_user")

	off := newTestEnv(t, func(s *testSetup) {
		s.cfg.Sandbox = "false"
		delete(s.platforms, models.PlatformSandbox)
	})
	wantError(t, off.json("POST", "/api/v1/auth/sandbox", "", map[string]string{"user": "alice"}), 404, "not_found")
	wantError(t, off.do("GET", "/dev", nil), 404, "not_found")
	wantError(t, off.json("POST", "/api/v1/sandbox/face/x", "", map[string]string{"outcome": "pass"}), 404, "not_found")
}

func TestTokens(t *testing.T) {
	e := newTestEnv(t)
	login := e.sandboxLogin(t, "alice")

	wantError(t, e.json("GET", "/api/v1/me", "", nil), 401, "unauthorized")
	wantError(t, e.json("GET", "/api/v1/me", "v1.garbage.sig", nil), 401, "unauthorized")
	tampered := []byte(login.Token)
	tampered[10] ^= 1
	wantError(t, e.json("GET", "/api/v1/me", string(tampered), nil), 401, "unauthorized")
	forged := models.NewSessions(make([]byte, 32), time.Hour, e.clock, time.UTC, nil)
	forgedToken, _ := forged.Issue(&models.Account{ID: login.Account.ID, Platform: "sandbox", SessionVersion: 1}, nil)
	wantError(t, e.json("GET", "/api/v1/me", forgedToken, nil), 401, "unauthorized")

	e.clock.Advance(7*24*time.Hour + time.Second)
	wantError(t, e.json("GET", "/api/v1/me", login.Token, nil), 401, "session_expired")
}

func TestLogoutRevokesEveryTokenOfTheAccount(t *testing.T) {
	e := newTestEnv(t)
	first := e.sandboxLogin(t, "alice")
	second := e.sandboxLogin(t, "alice")
	other := e.sandboxLogin(t, "bob")

	if rec := e.json("POST", "/api/v1/auth/logout", first.Token, nil); rec.Code != 200 {
		t.Fatalf("logout = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.json("GET", "/api/v1/me", first.Token, nil), 401, "session_revoked")
	wantError(t, e.json("GET", "/api/v1/me", second.Token, nil), 401, "session_revoked")
	if rec := e.json("GET", "/api/v1/me", other.Token, nil); rec.Code != 200 {
		t.Errorf("another account's token was revoked too: %d", rec.Code)
	}
	fresh := e.sandboxLogin(t, "alice")
	if rec := e.json("GET", "/api/v1/me", fresh.Token, nil); rec.Code != 200 {
		t.Errorf("a login after logout does not work: %d %s", rec.Code, rec.Body)
	}

	// Another node learns of the logout from the database.
	elsewhere := models.NewRevocations()
	if err := e.store.RefreshRevocations(t.Context(), elsewhere, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if !elsewhere.IsRevoked(first.Account.ID, 1) || elsewhere.IsRevoked(first.Account.ID, 2) {
		t.Error("a fresh node does not see the logout")
	}
	audit, _ := e.store.AuditEntries(t.Context(), "session.logout", first.Account.ID)
	if len(audit) != 1 {
		t.Errorf("%d logout audit entries, want 1", len(audit))
	}
}

func TestConcurrentWeChatLogins(t *testing.T) {
	fake, wechat := withWeChat(t)
	for i := range 20 {
		fake.Users["code-"+string(rune('a'+i))] = platformtest.WeChatUser{OpenID: "openid-same", SessionKey: "a2V5"}
	}
	e := newTestEnv(t, wechat)
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			rec := e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "code-" + string(rune('a'+i))})
			if rec.Code == 200 {
				ids[i] = decode[loginBody](t, rec, 200).Account.ID
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("concurrent logins of one user gave accounts %v", ids)
		}
	}
}

func TestLoginIsRateLimitedPerAddress(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) { s.cfg.RateLimit.LoginPerMinuteIP = 3 })
	for range 3 {
		e.sandboxLogin(t, "alice")
	}
	rec := e.json("POST", "/api/v1/auth/sandbox", "", map[string]string{"user": "alice"})
	wantError(t, rec, 429, "rate_limited")
	if ra := rec.Header().Get("Retry-After"); ra != "20" {
		t.Errorf("Retry-After = %q, want 20 (one token every 20 s)", ra)
	}
	e.clock.Advance(20 * time.Second)
	e.sandboxLogin(t, "alice")
}
