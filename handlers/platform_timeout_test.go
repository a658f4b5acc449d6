package handlers

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"healthcode/miniprogram"
	"healthcode/miniprogram/platformtest"
	"healthcode/models"
	"healthcode/models/fault"
)

const (
	// platformTimeout is the adapters' timeout in these tests.
	platformTimeout = 500 * time.Millisecond
	// slack is what a loaded machine may add to a deadline; a hang is forever.
	slack = 2 * time.Second
)

// withQuickPlatforms adds the real WeChat and Alipay adapters, talking to
// fakes, with a short platform timeout.
func withQuickPlatforms(t *testing.T) (*platformtest.FakeWeChat, *platformtest.FakeAlipay, func(*testSetup)) {
	wx := platformtest.NewWeChat(t)
	ali := platformtest.NewAlipay(t)
	return wx, ali, func(s *testSetup) {
		wo := wx.Options(models.SystemClock{})
		wo.Timeout = platformTimeout
		s.platforms[models.PlatformWeChat] = miniprogram.NewWeChat(wo)
		ao := ali.Options(models.SystemClock{})
		ao.Timeout = platformTimeout
		a, err := miniprogram.NewAlipay(ao)
		if err != nil {
			t.Fatal(err)
		}
		s.platforms[models.PlatformAlipay] = a
	}
}

// A platform that does not answer is a dependency down: every endpoint that
// calls it answers 503 with Retry-After at the platform timeout, never hangs.
func TestPlatformThatDoesNotAnswerIs503(t *testing.T) {
	wx, ali, platforms := withQuickPlatforms(t)
	wx.Users["wx"] = platformtest.WeChatUser{OpenID: "openid-alice", SessionKey: "a2V5"}
	e := newTestEnv(t, platforms)
	wxToken := e.bind(t, decode[loginBody](t, e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "wx"}), 200).Token,
		aliceName, "resident_id", aliceNumber).Token
	started := e.startFace(t, wxToken)

	wx.Mu.Lock()
	for _, path := range []string{"/sns/jscode2session", "/cityservice/face/identify/getverifyid", "/cityservice/face/identify/queryverifyinfo", "/wxa/business/getuserphonenumber"} {
		wx.Hang[path] = true
	}
	wx.Mu.Unlock()
	ali.Mu.Lock()
	ali.Hang["alipay.system.oauth.token"] = true
	ali.Mu.Unlock()

	for _, c := range []struct {
		name, path, token string
		body              map[string]string
	}{
		{"wechat login", "/api/v1/auth/wechat", "", map[string]string{"code": "wx"}},
		{"alipay login", "/api/v1/auth/alipay", "", map[string]string{"auth_code": "ali"}},
		{"face start", "/api/v1/face/start", wxToken, nil},
		{"face callback", "/api/v1/face/callback", wxToken, map[string]string{"verify_id": started.VerifyID}},
		{"phone", "/api/v1/me/phone", wxToken, map[string]string{"code": "phone-code"}},
	} {
		var rec *httptest.ResponseRecorder
		took, ok := platformtest.Within(t, platformTimeout+slack, c.name, func() { rec = e.json("POST", c.path, c.token, c.body) })
		if !ok {
			continue
		}
		wantError(t, rec, 503, fault.CodePlatformUnavailable)
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", c.name)
		}
		if took < platformTimeout {
			t.Errorf("%s answered after %v, before the platform timeout: the fake did not hang", c.name, took)
		}
	}
	// The verification is still pending: a timeout records nothing.
	var status string
	e.db.Table("face_verifications").Select("status").Where("verify_id = ?", started.VerifyID).Scan(&status)
	if status != models.FacePending {
		t.Errorf("after a query that timed out the verification is %q, want pending", status)
	}
}

// One notification naming a certificate (alipay_cert_sn) used to make the
// SDK download it, with no deadline, while holding the lock every signature
// check takes: it and every notification after it hung. It is refused at
// once now, with no outbound call, and a good one right after goes through.
func TestAlipayNotificationNamingACertificateDoesNotBlock(t *testing.T) {
	_, ali, platforms := withQuickPlatforms(t)
	ali.Users["ali"] = platformtest.AlipayUser{OpenID: "alipay-bob"}
	e := newTestEnv(t, platforms)
	login := decode[loginBody](t, e.json("POST", "/api/v1/auth/alipay", "", map[string]string{"auth_code": "ali"}), 200)
	token := e.bind(t, login.Token, aliceName, "resident_id", aliceNumber).Token
	start := e.startFace(t, token)
	ali.Mu.Lock()
	ali.Hang["alipay.open.app.alipaycert.download"] = true
	ali.Mu.Unlock()
	before := ali.Requests()

	notify := func(form url.Values) *httptest.ResponseRecorder {
		return e.do("POST", "/api/v1/face/notify/alipay", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	}
	bad := url.Values{"notify_id": {"n-0"}, "certify_id": {start.VerifyID}, "app_id": {ali.AppID}, "sign": {"forged"}, "alipay_cert_sn": {"x"}}
	var rec *httptest.ResponseRecorder
	if _, ok := platformtest.Within(t, slack, "notification naming a certificate", func() { rec = notify(bad) }); ok {
		wantError(t, rec, 400, "bad_signature")
	}
	if n := ali.Requests() - before; n != 0 {
		t.Errorf("the refused notification made %d outbound requests", n)
	}

	good := ali.SignNotification(url.Values{"notify_id": {"n-1"}, "certify_id": {start.VerifyID}, "app_id": {ali.AppID}, "notify_type": {"certify"}})
	if _, ok := platformtest.Within(t, slack, "good notification after it", func() { rec = notify(good) }); ok && (rec.Code != 200 || rec.Body.String() != "success") {
		t.Errorf("good notification = %d %q", rec.Code, rec.Body)
	}
	var status string
	e.db.Table("face_verifications").Select("status").Where("verify_id = ?", start.VerifyID).Scan(&status)
	if status != models.FacePassed {
		t.Errorf("after the good notification the verification is %q, want passed", status)
	}
	if n := ali.HitCount("alipay.open.app.alipaycert.download"); n != 0 {
		t.Errorf("certificate downloaded %d times", n)
	}
}

// A platform that refuses the connection is as down as one that does not
// answer: 503 platform_unavailable with Retry-After, which the mini-program
// waits out, not a hard error.
func TestAnUnreachablePlatformIs503(t *testing.T) {
	wx, _, platforms := withQuickPlatforms(t)
	e := newTestEnv(t, platforms)
	wx.Server.Close() // nothing listens there any more: connection refused
	rec := e.json("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "wx"})
	wantError(t, rec, 503, fault.CodePlatformUnavailable)
	if got := rec.Header().Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After = %q, want 5", got)
	}
}
