package miniprogram_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"healthcode/miniprogram"
	"healthcode/miniprogram/platformtest"
	"healthcode/models"
	"healthcode/models/fault"
)

func newAlipay(t *testing.T) (*platformtest.FakeAlipay, *miniprogram.Alipay) {
	t.Helper()
	fake := platformtest.NewAlipay(t)
	a, err := miniprogram.NewAlipay(fake.Options(models.SystemClock{}))
	if err != nil {
		t.Fatal(err)
	}
	return fake, a
}

func TestAlipayLogin(t *testing.T) {
	fake, a := newAlipay(t)
	fake.Users["open-id-code"] = platformtest.AlipayUser{OpenID: "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"}
	fake.Users["user-id-code"] = platformtest.AlipayUser{UserID: "2088102104794936"}
	ctx := context.Background()

	for code, want := range map[string]string{"open-id-code": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5", "user-id-code": "2088102104794936"} {
		login, err := a.Login(ctx, code)
		if err != nil || login.UserID != want {
			t.Errorf("Login(%s) = %+v, %v; want user %s", code, login, err, want)
		}
	}
	if fake.BadSignatures != 0 {
		t.Errorf("%d requests had a bad app signature", fake.BadSignatures)
	}

	// code 40002 inside a signed answer: the SDK returns a nil error.
	_, err := a.Login(ctx, "expired-code")
	if fault.KindOf(err) != fault.KindUnauthorized || fault.CodeOf(err) != fault.CodeLoginFailed {
		t.Errorf("business failure: err = %v, want unauthorized", err)
	}
}

func TestAlipayRefusesAnAnswerSignedWithTheWrongKey(t *testing.T) {
	fake, a := newAlipay(t)
	fake.Users["code"] = platformtest.AlipayUser{OpenID: "open-1"}
	fake.SignWithWrongKey = true
	if login, err := a.Login(context.Background(), "code"); err == nil || fault.KindOf(err) == fault.KindInternal {
		t.Fatalf("Login with a forged answer = %+v, %v; want a refusal", login, err)
	}
	if _, err := a.StartFace(context.Background(), faceRequest("order_w1", "open-1")); fault.KindOf(err) != fault.KindUpstream {
		t.Errorf("StartFace with a forged answer: err = %v, want upstream", err)
	}
}

func TestAlipayFaceVerification(t *testing.T) {
	fake, a := newAlipay(t)
	ctx := context.Background()
	ticket, err := a.StartFace(ctx, faceRequest("order_a1", "open-1"))
	if err != nil || !strings.HasPrefix(ticket.VerifyID, "alipay-certify-") {
		t.Fatalf("StartFace = %+v, %v", ticket, err)
	}
	u, err := url.Parse(ticket.URL)
	if err != nil || u.Query().Get("method") != "alipay.user.certify.open.certify" || u.Query().Get("sign") == "" ||
		!strings.Contains(fake.BizContent(u.Query()), ticket.VerifyID) {
		t.Errorf("certify URL = %s", ticket.URL)
	}
	res, err := a.QueryFace(ctx, faceQuery(ticket, "order_a1", "open-1"))
	if err != nil || !res.Passed {
		t.Errorf("QueryFace (T) = %+v, %v", res, err)
	}
	fake.Passed[ticket.VerifyID] = "F"
	res, err = a.QueryFace(ctx, faceQuery(ticket, "order_a1", "open-1"))
	if err != nil || res.Passed {
		t.Errorf("QueryFace (F) = %+v, %v", res, err)
	}
	if _, err := a.QueryFace(ctx, miniprogram.FaceQuery{VerifyID: "nope"}); fault.KindOf(err) != fault.KindUpstream {
		t.Errorf("unknown certify id: err = %v", err)
	}
	if fake.BadSignatures != 0 {
		t.Errorf("%d requests had a bad app signature", fake.BadSignatures)
	}
}

func TestAlipayNotificationSignature(t *testing.T) {
	fake, a := newAlipay(t)
	form := url.Values{"notify_id": {"n1"}, "certify_id": {"alipay-certify-1"}, "app_id": {fake.AppID}, "notify_time": {"2026-11-23 10:00:00"}}
	signed := fake.SignNotification(form)
	if err := a.VerifyNotification(signed); err != nil {
		t.Fatalf("a good notification: %v", err)
	}
	tampered := fake.SignNotification(form)
	tampered.Set("certify_id", "alipay-certify-2")
	missing := fake.SignNotification(form)
	missing.Del("sign")
	for name, f := range map[string]url.Values{"tampered": tampered, "unsigned": missing} {
		if err := a.VerifyNotification(f); fault.KindOf(err) != fault.KindInvalid {
			t.Errorf("%s notification: err = %v, want invalid", name, err)
		}
	}
}

func TestAlipayPhone(t *testing.T) {
	fake, a := newAlipay(t)
	phone, err := a.Phone(context.Background(), fake.PhonePayload("13912345678"))
	if err != nil || phone != "13912345678" {
		t.Fatalf("Phone = %q, %v", phone, err)
	}
	if _, err := a.Phone(context.Background(), `{"response":"garbage","sign":"bad"}`); fault.KindOf(err) != fault.KindInvalid {
		t.Errorf("garbage payload: err = %v", err)
	}
}

func TestAlipayRefusesBadKeys(t *testing.T) {
	fake := platformtest.NewAlipay(t)
	o := fake.Options(models.SystemClock{})
	o.PrivateKey = "not a key"
	if _, err := miniprogram.NewAlipay(o); err == nil {
		t.Error("a bad private key was accepted")
	}
	o = fake.Options(models.SystemClock{})
	o.AlipayPublicKey = "not a key"
	if _, err := miniprogram.NewAlipay(o); err == nil {
		t.Error("a bad Alipay public key was accepted")
	}
}
