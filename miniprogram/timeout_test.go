package miniprogram_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"healthcode/miniprogram"
	"healthcode/miniprogram/platformtest"
	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

const (
	// callTimeout is the adapters' timeout in these tests.
	callTimeout = 400 * time.Millisecond
	// slack is what a loaded machine may add to a deadline before the call
	// returns; a hang is forever.
	slack = 2 * time.Second
)

// wantTimedOut checks that a call to a platform that never answered ended
// at its deadline — not sooner (the fake really hung) and not much later —
// as a 503-kind error whose text keeps no secret.
func wantTimedOut(t *testing.T, took time.Duration, err error, secrets ...string) {
	t.Helper()
	if fault.KindOf(err) != fault.KindUnavailable || fault.CodeOf(err) != fault.CodePlatformUnavailable {
		t.Errorf("err = %v, want unavailable %s", err, fault.CodePlatformUnavailable)
	}
	if took < callTimeout {
		t.Errorf("returned after %v, before the %v deadline: the fake did not hang", took, callTimeout)
	}
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error text holds %q: %v", s, err)
		}
	}
}

// Every call to WeChat ends at the adapter's timeout when WeChat does not
// answer, through the context deadline alone as well as with the SDK
// client's timeout.
func TestWeChatCallsEndAtTheTimeout(t *testing.T) {
	ctx := context.Background()
	q := miniprogram.FaceQuery{VerifyID: "wx-verify-1", OrderNo: "order_t1", UserID: "openid-1", Name: testName, DocType: document.ResidentID, DocNumber: testNumber}
	calls := []struct {
		name, path string
		call       func(*miniprogram.WeChat) error
	}{
		{"code2session", "/sns/jscode2session", func(w *miniprogram.WeChat) error { _, err := w.Login(ctx, "code-1"); return err }},
		{"access token", "/cgi-bin/token", func(w *miniprogram.WeChat) error {
			_, err := w.StartFace(ctx, faceRequest("order_t1", "openid-1"))
			return err
		}},
		{"getverifyid", "/cityservice/face/identify/getverifyid", func(w *miniprogram.WeChat) error {
			_, err := w.StartFace(ctx, faceRequest("order_t1", "openid-1"))
			return err
		}},
		{"queryverifyinfo", "/cityservice/face/identify/queryverifyinfo", func(w *miniprogram.WeChat) error { _, err := w.QueryFace(ctx, q); return err }},
		{"legacy getinfo", "/cityservice/face/identify/getinfo", func(w *miniprogram.WeChat) error {
			_, err := w.QueryLegacyFace(ctx, "vr-1", q)
			return err
		}},
		{"phone", "/wxa/business/getuserphonenumber", func(w *miniprogram.WeChat) error { _, err := w.Phone(ctx, "phone-code"); return err }},
	}
	for _, deadline := range []string{"context and client", "context alone"} {
		for _, c := range calls {
			t.Run(deadline+"/"+c.name, func(t *testing.T) {
				fake := platformtest.NewWeChat(t)
				o := fake.Options(models.SystemClock{})
				o.Timeout = callTimeout
				wc := miniprogram.NewWeChat(o)
				if deadline == "context alone" {
					util.DefaultHTTPClient = &http.Client{Transport: util.DefaultHTTPClient.Transport} // restored by the fake
				}
				fake.Hang[c.path] = true
				var err error
				took, ok := platformtest.Within(t, callTimeout+slack, c.name, func() { err = c.call(wc) })
				if !ok {
					return
				}
				wantTimedOut(t, took, err, fake.AppSecret)
				if fake.HitCount(c.path) == 0 {
					t.Errorf("%s was never called", c.path)
				}
			})
		}
	}
}

// The SDK sends through its package-level client; NewWeChat gives it the
// timeout and keeps its transport (here the one that reaches the fake).
func TestNewWeChatGivesTheSDKClientATimeout(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	fake.Users["code"] = platformtest.WeChatUser{OpenID: "openid-1", SessionKey: "a2V5"}
	transport := util.DefaultHTTPClient.Transport
	o := fake.Options(models.SystemClock{})
	o.Timeout = 3 * time.Second
	wc := miniprogram.NewWeChat(o)
	if got := util.DefaultHTTPClient; got.Timeout != 3*time.Second || got.Transport != transport {
		t.Fatalf("SDK client after NewWeChat: timeout %v, transport kept %v", got.Timeout, got.Transport == transport)
	}
	if _, err := wc.Login(context.Background(), "code"); err != nil {
		t.Fatalf("login through the bounded client: %v", err)
	}

	// A client already bounded more tightly is left alone; no timeout means
	// the default.
	o.Timeout = 10 * time.Second
	miniprogram.NewWeChat(o)
	if util.DefaultHTTPClient.Timeout != 3*time.Second {
		t.Errorf("a shorter timeout was raised to %v", util.DefaultHTTPClient.Timeout)
	}
	util.DefaultHTTPClient = &http.Client{Transport: transport}
	o.Timeout = 0
	miniprogram.NewWeChat(o)
	if util.DefaultHTTPClient.Timeout != miniprogram.DefaultTimeout {
		t.Errorf("no configured timeout gave the SDK client %v, want %v", util.DefaultHTTPClient.Timeout, miniprogram.DefaultTimeout)
	}
}

// Every call to Alipay ends at the adapter's timeout when Alipay does not
// answer — including the certificate download the SDK makes, with no
// context, when an answer names a certificate: only the HTTP client's
// timeout bounds that one.
func TestAlipayCallsEndAtTheTimeout(t *testing.T) {
	ctx := context.Background()
	calls := []struct {
		name, method, certSN string
		call                 func(*miniprogram.Alipay) error
	}{
		{"oauth token", "alipay.system.oauth.token", "", func(a *miniprogram.Alipay) error { _, err := a.Login(ctx, "code"); return err }},
		{"certify initialize", "alipay.user.certify.open.initialize", "", func(a *miniprogram.Alipay) error {
			_, err := a.StartFace(ctx, faceRequest("order_t1", "open-1"))
			return err
		}},
		{"certify query", "alipay.user.certify.open.query", "", func(a *miniprogram.Alipay) error {
			_, err := a.QueryFace(ctx, miniprogram.FaceQuery{VerifyID: "alipay-certify-1"})
			return err
		}},
		{"certificate download named by an answer", "alipay.open.app.alipaycert.download", "sn-1", func(a *miniprogram.Alipay) error {
			_, err := a.Login(ctx, "code")
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			fake := platformtest.NewAlipay(t)
			fake.Users["code"] = platformtest.AlipayUser{OpenID: "open-1"}
			fake.CertSN = c.certSN
			fake.Hang[c.method] = true
			o := fake.Options(models.SystemClock{})
			o.Timeout = callTimeout
			a, err := miniprogram.NewAlipay(o)
			if err != nil {
				t.Fatal(err)
			}
			took, ok := platformtest.Within(t, callTimeout+slack, c.name, func() { err = c.call(a) })
			if !ok {
				return
			}
			wantTimedOut(t, took, err)
			if fake.HitCount(c.method) == 0 {
				t.Errorf("%s was never called", c.method)
			}
		})
	}
}

// In public-key mode a notification naming a certificate is refused at
// once, with no outbound call; before, the SDK tried to download the
// certificate, with no deadline, while holding the lock every signature
// check takes, so one such notification stalled all the good ones after it.
func TestAlipayNotificationNamingACertificateIsRefusedAtOnce(t *testing.T) {
	fake := platformtest.NewAlipay(t)
	hole := platformtest.NewBlackHole(t)
	o := fake.Options(models.SystemClock{})
	o.Gateway = hole.URL
	a, err := miniprogram.NewAlipay(o)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"notify_id": {"n1"}, "certify_id": {"alipay-certify-1"}, "app_id": {fake.AppID}, "notify_type": {"certify"}}
	forged := url.Values{"notify_id": {"n0"}, "app_id": {fake.AppID}, "sign": {"forged"}, "alipay_cert_sn": {"x"}}
	signed := fake.SignNotification(form) // Alipay's own signature leaves alipay_cert_sn out
	signed.Set("alipay_cert_sn", "x")
	for name, bad := range map[string]url.Values{"forged": forged, "signed": signed} {
		took, ok := platformtest.Within(t, slack, name+" notification naming a certificate", func() { err = a.VerifyNotification(bad) })
		if !ok {
			continue
		}
		if fault.KindOf(err) != fault.KindInvalid {
			t.Errorf("%s notification naming a certificate: err = %v after %v, want invalid", name, err, took)
		}
	}
	// A good notification right after is checked at once.
	if _, ok := platformtest.Within(t, slack, "good notification after the bad ones", func() { err = a.VerifyNotification(fake.SignNotification(form)) }); ok && err != nil {
		t.Errorf("good notification: %v", err)
	}
	if n := hole.Accepted(); n != 0 {
		t.Errorf("%d outbound connections were made for notifications", n)
	}
}

// A phone payload is what the mini-program sends: one naming a certificate
// is refused without a download.
func TestAlipayPhonePayloadNamingACertificateIsRefused(t *testing.T) {
	fake := platformtest.NewAlipay(t)
	hole := platformtest.NewBlackHole(t)
	o := fake.Options(models.SystemClock{})
	o.Gateway = hole.URL
	a, err := miniprogram.NewAlipay(o)
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]string
	json.Unmarshal([]byte(fake.PhonePayload("13912345678")), &payload)
	payload["alipay_cert_sn"] = "x"
	raw, _ := json.Marshal(payload)
	if _, ok := platformtest.Within(t, slack, "phone payload naming a certificate", func() { _, err = a.Phone(context.Background(), string(raw)) }); ok &&
		(fault.KindOf(err) != fault.KindInvalid || fault.CodeOf(err) != fault.CodePhoneFailed) {
		t.Errorf("err = %v, want invalid %s", err, fault.CodePhoneFailed)
	}
	var phone string
	if _, ok := platformtest.Within(t, slack, "good phone payload after it", func() { phone, err = a.Phone(context.Background(), fake.PhonePayload("13912345678")) }); ok &&
		(err != nil || phone != "13912345678") {
		t.Errorf("a good payload after it = %q, %v", phone, err)
	}
	if n := hole.Accepted(); n != 0 {
		t.Errorf("%d outbound connections were made for phone payloads", n)
	}
}

// The SDK fetches the access token under a lock that does not watch the
// context: callers queued behind a fetch WeChat never answers still end
// at their own deadline, since the fetch ahead of them ends at its own.
func TestWeChatCallersQueuedBehindAHungTokenFetchEndAtTheTimeout(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	o := fake.Options(models.SystemClock{})
	o.Timeout = callTimeout
	wc := miniprogram.NewWeChat(o)
	fake.Hang["/cgi-bin/token"] = true
	const callers = 8
	errs := make(chan error, callers)
	took, ok := platformtest.Within(t, callTimeout+slack, "callers queued for the access token", func() {
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				_, err := wc.StartFace(context.Background(), faceRequest(fmt.Sprintf("order_q%d", i), "openid-1"))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
	})
	if !ok {
		return
	}
	for err := range errs {
		wantTimedOut(t, took, err)
	}
}
