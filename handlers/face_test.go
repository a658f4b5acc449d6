package handlers

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"healthcode/miniprogram/platformtest"
	"healthcode/models"
	"healthcode/models/fault"
)

type faceStartBody struct {
	Provider  string `json:"provider"`
	VerifyID  string `json:"verify_id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

type faceCallbackBody struct {
	VerifyID string      `json:"verify_id"`
	Status   string      `json:"status"`
	Token    string      `json:"token"`
	Account  accountView `json:"account"`
}

func (e *testEnv) startFace(t testing.TB, token string) faceStartBody {
	t.Helper()
	return decode[faceStartBody](t, e.json("POST", "/api/v1/face/start", token, nil), 200)
}

func (e *testEnv) callback(t testing.TB, token, verifyID string) faceCallbackBody {
	t.Helper()
	return decode[faceCallbackBody](t, e.json("POST", "/api/v1/face/callback", token, map[string]string{"verify_id": verifyID}), 200)
}

func TestSandboxFaceFlow(t *testing.T) { onEveryDriver(t, testSandboxFaceFlow) }

func testSandboxFaceFlow(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	login := e.sandboxLogin(t, "alice")
	wantError(t, e.json("POST", "/api/v1/face/start", login.Token, nil), 403, fault.CodeIdentityRequired)
	token := e.bind(t, login.Token, aliceName, "resident_id", aliceNumber).Token

	start := e.startFace(t, token)
	if start.Provider != "sandbox" || start.VerifyID == "" || start.URL != "/sandbox/face/"+start.VerifyID {
		t.Fatalf("start = %+v", start)
	}
	if page := e.do("GET", start.URL, nil); page.Code != 200 || !strings.Contains(page.Body.String(), "通过") {
		t.Errorf("sandbox face page = %d", page.Code)
	}
	// Before the person pressed anything: pending, nothing recorded.
	if got := e.callback(t, token, start.VerifyID); got.Status != "pending" || got.Token != "" {
		t.Errorf("early callback = %+v", got)
	}
	wantError(t, e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "maybe"}), 400, "invalid_outcome")
	if rec := e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"}); rec.Code != 200 {
		t.Fatalf("decide = %d %s", rec.Code, rec.Body)
	}
	got := e.callback(t, token, start.VerifyID)
	if got.Status != "passed" || !got.Account.FaceVerifiedToday || got.Token == "" {
		t.Fatalf("callback = %+v", got)
	}
	wantUntil := time.Date(2026, 11, 24, 0, 0, 0, 0, e.api.loc).Format(time.RFC3339)
	if got.Account.FaceValidUntil != wantUntil {
		t.Errorf("face_valid_until = %q, want %q", got.Account.FaceValidUntil, wantUntil)
	}
	sess, err := e.sessions.Verify(got.Token)
	if err != nil || !e.sessions.FaceVerifiedToday(sess) || sess.PersonID == "" {
		t.Errorf("the fresh token does not carry the face check: %+v, %v", sess, err)
	}
	for _, action := range []string{"face.start", "face.passed"} {
		if audit, _ := e.store.AuditEntries(t.Context(), action, ""); len(audit) != 1 {
			t.Errorf("%d %s audit entries, want 1", len(audit), action)
		}
	}
}

func TestFaceVerificationLastsUntilMidnight(t *testing.T) {
	e := newTestEnv(t)
	e.clock.Advance(11*time.Hour + 58*time.Minute) // 23:58 in Shanghai
	login := e.sandboxLogin(t, "alice")
	token := e.bind(t, login.Token, aliceName, "resident_id", aliceNumber).Token
	start := e.startFace(t, token)
	e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"})
	token = e.callback(t, token, start.VerifyID).Token

	if me := decode[meResponse](t, e.json("GET", "/api/v1/me", token, nil), 200); !me.Account.FaceVerifiedToday {
		t.Fatal("not verified right after passing")
	}
	e.clock.Advance(2 * time.Minute) // 00:00 the next day
	if me := decode[meResponse](t, e.json("GET", "/api/v1/me", token, nil), 200); me.Account.FaceVerifiedToday || me.Account.FaceValidUntil != "" {
		t.Errorf("still verified after midnight: %+v", me.Account)
	}
	sess, _ := e.sessions.Verify(token)
	if e.sessions.FaceVerifiedToday(sess) {
		t.Error("the token still says verified today after midnight")
	}
}

func TestWeChatFaceCallbackIsIdempotentAndChecked(t *testing.T) {
	fake, wechat := withWeChat(t)
	fake.Users["alice-code"] = platformtest.WeChatUser{OpenID: "openid-alice", SessionKey: "a2V5"}
	fake.Users["mallory-code"] = platformtest.WeChatUser{OpenID: "openid-mallory", SessionKey: "a2V5"}
	e := newTestEnv(t, wechat)

	alice := decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "alice-code"}), 200)
	token := e.bind(t, alice.Token, aliceName, "resident_id", aliceNumber).Token
	start := e.startFace(t, token)
	if start.Provider != "wechat" || !strings.HasPrefix(start.VerifyID, "wx-verify-") {
		t.Fatalf("start = %+v", start)
	}

	first := e.callback(t, token, start.VerifyID)
	if first.Status != "passed" || !first.Account.FaceVerifiedToday {
		t.Fatalf("callback = %+v", first)
	}
	// A replay answers the recorded outcome without asking WeChat again.
	if again := e.callback(t, token, start.VerifyID); again.Status != "passed" {
		t.Errorf("replayed callback = %+v", again)
	}
	if n := fake.HitCount("/cityservice/face/identify/queryverifyinfo"); n != 1 {
		t.Errorf("queryverifyinfo called %d times, want 1", n)
	}

	mallory := decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "mallory-code"}), 200)
	wantError(t, e.json("POST", "/api/v1/face/callback", mallory.Token, map[string]string{"verify_id": start.VerifyID}), 403, "face_not_yours")
	wantError(t, e.json("POST", "/api/v1/face/callback", token, map[string]string{"verify_id": "no-such-ticket"}), 404, "face_not_found")
	wantError(t, e.json("POST", "/api/v1/face/callback", token, map[string]string{}), 400, "verify_id_required")

	// A failed check is recorded as failed.
	second := e.startFace(t, token)
	fake.Mu.Lock()
	fake.Outcomes[second.VerifyID] = "fail"
	fake.Mu.Unlock()
	if got := e.callback(t, token, second.VerifyID); got.Status != "failed" {
		t.Errorf("failed check = %+v", got)
	}
	var status string
	e.db.Table("face_verifications").Select("status").Where("verify_id = ?", second.VerifyID).Scan(&status)
	if status != models.FaceFailed {
		t.Errorf("recorded status %q", status)
	}
	if out := e.allOutput(); strings.Contains(out, aliceNumber) || strings.Contains(out, aliceName) {
		t.Error("the full document number or name reached a response or a log line")
	}
}

func TestWeChatLegacyFaceResult(t *testing.T) {
	fake, wechat := withWeChat(t)
	fake.Users["alice-code"] = platformtest.WeChatUser{OpenID: "openid-alice", SessionKey: "a2V5"}
	md5hex := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	e := newTestEnv(t, wechat)
	fake.Mu.Lock()
	fake.Legacy["vr-1"] = platformtest.WeChatLegacy{OpenID: "openid-alice", IDCardNumberMD5: md5hex(aliceNumber), NameUTF8MD5: md5hex(aliceName),
		IdentifiedAt: e.clock.Now().Add(-time.Minute)}
	// A result the platform says passed three days ago counts for that day.
	fake.Legacy["vr-old"] = platformtest.WeChatLegacy{OpenID: "openid-alice", IDCardNumberMD5: md5hex(aliceNumber), NameUTF8MD5: md5hex(aliceName),
		IdentifiedAt: e.clock.Now().Add(-72 * time.Hour)}
	fake.Mu.Unlock()
	alice := decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "alice-code"}), 200)
	token := e.bind(t, alice.Token, aliceName, "resident_id", aliceNumber).Token

	old := decode[faceCallbackBody](t, e.json("POST", "/api/v1/face/callback", token, map[string]string{"verify_result": "vr-old"}), 200)
	if old.Status != "passed" || old.Account.FaceVerifiedToday {
		t.Fatalf("a three-day-old legacy result = %+v, want passed but not for today", old)
	}
	for range 2 {
		got := decode[faceCallbackBody](t, e.json("POST", "/api/v1/face/callback", old.Token, map[string]string{"verify_result": "vr-1"}), 200)
		if got.Status != "passed" || !got.Account.FaceVerifiedToday {
			t.Fatalf("legacy callback = %+v", got)
		}
	}
	if n := fake.HitCount("/cityservice/face/identify/getinfo"); n != 2 {
		t.Errorf("getinfo called %d times, want 2 (once per result)", n)
	}
}

func TestFaceUnsupportedDocumentOnWeChat(t *testing.T) {
	fake, wechat := withWeChat(t)
	fake.Users["c"] = platformtest.WeChatUser{OpenID: "o", SessionKey: "a2V5"}
	e := newTestEnv(t, wechat)
	login := decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "c"}), 200)
	token := e.bind(t, login.Token, "JOHN SMITH", "passport", "E12345678").Token
	wantError(t, e.json("POST", "/api/v1/face/start", token, nil), 400, "face_unsupported_document")
}

// A person bound on WeChat can bind from Alipay too, but only after passing
// face verification there.
func TestIdentityHeldElsewhereIsLinkedAfterFaceVerification(t *testing.T) {
	wx, wechat := withWeChat(t)
	wx.Users["wx"] = platformtest.WeChatUser{OpenID: "openid-alice", SessionKey: "a2V5"}
	ali, alipay := withAlipay(t)
	ali.Users["ali"] = platformtest.AlipayUser{OpenID: "alipay-alice"}
	e := newTestEnv(t, wechat, alipay)

	first := decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "wx"}), 200)
	e.bind(t, first.Token, aliceName, "resident_id", aliceNumber)

	second := decode[loginBody](t, e.json("POST", "/api/v1/auth/alipay", "", map[string]string{"auth_code": "ali"}), 200)
	pending := e.bind(t, second.Token, aliceName, "resident_id", aliceNumber)
	if pending.Identity.Status != "pending_face_verification" || pending.Account.IdentityBound || !pending.Account.IdentityPending {
		t.Fatalf("second bind = %+v", pending)
	}
	sess, _ := e.sessions.Verify(pending.Token)
	if sess.PersonID != "" {
		t.Fatal("a pending identity reached the token")
	}

	// A failed check leaves it pending.
	start := e.startFace(t, pending.Token)
	ali.Mu.Lock()
	ali.Passed[start.VerifyID] = "F"
	ali.Mu.Unlock()
	if got := e.callback(t, pending.Token, start.VerifyID); got.Status != "failed" || got.Account.IdentityBound {
		t.Fatalf("failed check = %+v", got)
	}

	start = e.startFace(t, pending.Token)
	got := decode[faceCallbackBody](t, e.json("POST", "/api/v1/face/callback", pending.Token, map[string]string{"certify_id": start.VerifyID}), 200)
	if got.Status != "passed" || !got.Account.IdentityBound || got.Account.IdentityPending || !got.Account.FaceVerifiedToday {
		t.Fatalf("after passing = %+v", got)
	}
	if sess, _ := e.sessions.Verify(got.Token); sess.PersonID == "" {
		t.Error("the fresh token lacks the linked identity")
	}
}

func TestAlipayNotification(t *testing.T) {
	fake, alipay := withAlipay(t)
	fake.Users["ali"] = platformtest.AlipayUser{UserID: "2088000000000001"}
	e := newTestEnv(t, alipay)
	login := decode[loginBody](t, e.json("POST", "/api/v1/auth/alipay", "", map[string]string{"auth_code": "ali"}), 200)
	token := e.bind(t, login.Token, aliceName, "resident_id", aliceNumber).Token
	start := e.startFace(t, token)

	notify := func(form url.Values, query string) (int, string) {
		rec := e.do("POST", "/api/v1/face/notify/alipay"+query, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		return rec.Code, rec.Body.String()
	}
	statusOf := func() string {
		var s string
		e.db.Table("face_verifications").Select("status").Where("verify_id = ?", start.VerifyID).Scan(&s)
		return s
	}
	form := url.Values{"notify_id": {"n-1"}, "certify_id": {start.VerifyID}, "app_id": {fake.AppID}, "notify_type": {"certify"}}

	tampered := fake.SignNotification(form)
	tampered.Set("notify_id", "n-2")
	if code, _ := notify(tampered, ""); code != 400 || statusOf() != models.FacePending {
		t.Fatalf("tampered notification: %d, status %s", code, statusOf())
	}
	unsigned := fake.SignNotification(form)
	unsigned.Del("sign")
	if code, _ := notify(unsigned, ""); code != 400 || statusOf() != models.FacePending {
		t.Fatalf("unsigned notification: %d, status %s", code, statusOf())
	}

	// A query string on the notify URL is not part of what Alipay signed.
	signed := fake.SignNotification(form)
	for range 2 {
		if code, body := notify(signed, "?channel=mp"); code != 200 || body != "success" {
			t.Fatalf("good notification = %d %q", code, body)
		}
	}
	if statusOf() != models.FacePassed {
		t.Errorf("status after notification = %s", statusOf())
	}
	if n := fake.HitCount("alipay.user.certify.open.query"); n != 1 {
		t.Errorf("certify query called %d times, want 1", n)
	}
	// The mini-program's callback afterwards answers the recorded outcome.
	if got := e.callback(t, token, start.VerifyID); got.Status != "passed" || fake.HitCount("alipay.user.certify.open.query") != 1 {
		t.Errorf("callback after notification = %+v", got)
	}
}

// A face check counts for the day on which the platform says it passed:
// passed at 23:59 and reported at 00:01, it binds the claim but does not
// count for the new day; one passed after midnight does.
func TestFaceCheckCountsForTheDayItPassed(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) { s.start = time.Date(2026, 11, 23, 15, 58, 0, 0, time.UTC) }) // 23:58 in Shanghai
	token := e.bind(t, e.sandboxLogin(t, "alice").Token, aliceName, "resident_id", aliceNumber).Token
	start := e.startFace(t, token)
	e.clock.Advance(time.Minute) // 23:59: the person passes
	e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"})
	e.clock.Advance(2 * time.Minute) // 00:01: the mini-program reports back
	got := e.callback(t, token, start.VerifyID)
	if got.Status != "passed" || !got.Account.IdentityBound || got.Account.FaceVerifiedToday {
		t.Fatalf("yesterday's pass reported today = %+v, want bound but not verified for today", got)
	}
	wantError(t, e.json("GET", "/api/v1/me/code", got.Token, nil), 403, fault.CodeFaceRequired)

	second := e.startFace(t, got.Token)
	e.json("POST", "/api/v1/sandbox/face/"+second.VerifyID, "", map[string]string{"outcome": "pass"})
	today := e.callback(t, got.Token, second.VerifyID)
	if today.Status != "passed" || !today.Account.FaceVerifiedToday {
		t.Fatalf("a pass after midnight = %+v", today)
	}
	if rec := e.json("GET", "/api/v1/me/code", today.Token, nil); rec.Code != 200 {
		t.Errorf("code after today's pass = %d %s", rec.Code, rec.Body)
	}
}

// A result reported after its verification expired counts for nothing:
// neither a first binding nor a daily check.
func TestFaceResultAfterExpiryCountsForNothing(t *testing.T) {
	e := newTestEnv(t)
	token := e.bind(t, e.sandboxLogin(t, "alice").Token, aliceName, "resident_id", aliceNumber).Token
	start := e.startFace(t, token)
	e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"})
	e.clock.Advance(72 * time.Hour)
	got := e.callback(t, token, start.VerifyID)
	if got.Status != models.FaceExpired || got.Account.IdentityBound || got.Account.FaceVerifiedToday {
		t.Fatalf("a result three days late = %+v, want expired, nothing bound", got)
	}
	wantError(t, e.json("GET", "/api/v1/me/code", got.Token, nil), 403, fault.CodeFaceRequired)

	bound := e.passFace(t, got.Token)
	e.clock.Advance(24 * time.Hour)
	daily := e.startFace(t, bound)
	e.json("POST", "/api/v1/sandbox/face/"+daily.VerifyID, "", map[string]string{"outcome": "pass"})
	e.clock.Advance(72 * time.Hour)
	if late := e.callback(t, bound, daily.VerifyID); late.Status != models.FaceExpired || late.Account.FaceVerifiedToday {
		t.Errorf("a daily check three days late = %+v", late)
	}
}
