package miniprogram_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"healthcode/miniprogram"
	"healthcode/miniprogram/platformtest"
	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

const (
	testName   = "张三"
	testNumber = "11010519491231002X"
)

func faceRequest(orderNo, openID string) miniprogram.FaceRequest {
	return miniprogram.FaceRequest{OrderNo: orderNo, UserID: openID, Name: testName, DocType: document.ResidentID, DocNumber: testNumber}
}

func faceQuery(ticket miniprogram.FaceTicket, orderNo, openID string) miniprogram.FaceQuery {
	return miniprogram.FaceQuery{VerifyID: ticket.VerifyID, OrderNo: orderNo, UserID: openID, Name: testName, DocType: document.ResidentID, DocNumber: testNumber}
}

func TestWeChatLogin(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	fake.Users["good-code"] = platformtest.WeChatUser{OpenID: "openid-1", UnionID: "union-1", SessionKey: "c2Vzc2lvbmtleQ=="}
	wc := miniprogram.NewWeChat(fake.Options(models.SystemClock{}))

	login, err := wc.Login(context.Background(), "good-code")
	if err != nil || login.UserID != "openid-1" || login.UnionID != "union-1" || login.SessionKey == "" {
		t.Fatalf("Login = %+v, %v", login, err)
	}

	_, err = wc.Login(context.Background(), "bad-code")
	if fault.KindOf(err) != fault.KindUnauthorized || fault.CodeOf(err) != fault.CodeLoginFailed {
		t.Fatalf("errcode 40029: err = %v, want unauthorized login_failed", err)
	}
	if !strings.Contains(err.Error(), "40029") {
		t.Errorf("the cause lost the errcode: %v", err)
	}
	for _, secret := range []string{fake.AppSecret, "bad-code"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error text holds %q: %v", secret, err)
		}
	}
}

func TestWeChatUnreachableIsUpstreamAndScrubbed(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	wc := miniprogram.NewWeChat(fake.Options(models.SystemClock{}))
	fake.Server.Close()
	_, err := wc.Login(context.Background(), "some-code")
	if fault.KindOf(err) != fault.KindUpstream {
		t.Fatalf("err = %v, want upstream", err)
	}
	if strings.Contains(err.Error(), fake.AppSecret) || strings.Contains(err.Error(), "some-code") {
		t.Errorf("transport error leaks the secret or code: %v", err)
	}
}

func TestWeChatFaceVerification(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	wc := miniprogram.NewWeChat(fake.Options(models.SystemClock{}))
	ctx := context.Background()

	ticket, err := wc.StartFace(ctx, faceRequest("order_0001", "openid-1"))
	if err != nil || ticket.VerifyID == "" || ticket.ExpiresAt.IsZero() {
		t.Fatalf("StartFace = %+v, %v", ticket, err)
	}
	sent := fake.Bodies["/cityservice/face/identify/getverifyid"][0]
	if cert := sent["cert_info"].(map[string]any); cert["cert_type"] != "IDENTITY_CARD" || cert["cert_no"] != testNumber || sent["openid"] != "openid-1" {
		t.Errorf("getverifyid body = %v", sent)
	}

	res, err := wc.QueryFace(ctx, faceQuery(ticket, "order_0001", "openid-1"))
	if err != nil || !res.Passed {
		t.Fatalf("QueryFace (pass) = %+v, %v", res, err)
	}
	if got := fake.Bodies["/cityservice/face/identify/queryverifyinfo"][0]["cert_hash"]; got != miniprogram.CertHash("IDENTITY_CARD", testName, testNumber) {
		t.Errorf("cert_hash sent = %v", got)
	}

	for outcome, detail := range map[string]string{"fail": "verify_ret=90002", "cancel": "errcode=90100"} {
		fake.Outcomes[ticket.VerifyID] = outcome
		res, err := wc.QueryFace(ctx, faceQuery(ticket, "order_0001", "openid-1"))
		if err != nil || res.Passed || res.Detail != detail {
			t.Errorf("QueryFace (%s) = %+v, %v", outcome, res, err)
		}
	}

	// A query for another identity than the one started does not pass.
	q := faceQuery(ticket, "order_0001", "openid-1")
	q.Name = "李四"
	fake.Outcomes[ticket.VerifyID] = "pass"
	if res, err := wc.QueryFace(ctx, q); err != nil || res.Passed {
		t.Errorf("QueryFace with another name = %+v, %v", res, err)
	}

	passport := faceRequest("order_0002", "openid-1")
	passport.DocType = document.Passport
	if _, err := wc.StartFace(ctx, passport); fault.CodeOf(err) != fault.CodeFaceUnsupportedDocument {
		t.Errorf("passport: err = %v", err)
	}
}

func TestWeChatLegacyFaceResult(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	wc := miniprogram.NewWeChat(fake.Options(models.SystemClock{}))
	md5hex := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	good := platformtest.WeChatLegacy{IdentifyRet: 0, OpenID: "openid-1", IDCardNumberMD5: md5hex(testNumber), NameUTF8MD5: md5hex(testName)}
	fake.Legacy["vr-good"] = good
	other := good
	other.IDCardNumberMD5 = md5hex("110105194912310021")
	fake.Legacy["vr-other-person"] = other
	failed := good
	failed.IdentifyRet = 90005
	fake.Legacy["vr-failed"] = failed

	q := miniprogram.FaceQuery{UserID: "openid-1", Name: testName, DocType: document.ResidentID, DocNumber: strings.ToLower(testNumber)}
	for vr, want := range map[string]bool{"vr-good": true, "vr-other-person": false, "vr-failed": false, "vr-unknown": false} {
		res, err := wc.QueryLegacyFace(context.Background(), vr, q)
		if err != nil || res.Passed != want {
			t.Errorf("%s: %+v, %v; want passed=%v", vr, res, err, want)
		}
	}
	q.UserID = "openid-2"
	if res, _ := wc.QueryLegacyFace(context.Background(), "vr-good", q); res.Passed {
		t.Error("a result for another openid passed")
	}
}

func TestWeChatAccessTokenFetchedOnceUnderConcurrency(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	wc := miniprogram.NewWeChat(fake.Options(models.SystemClock{}))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := wc.StartFace(context.Background(), faceRequest("order_c"+string(rune('a'+i)), "openid-1"))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.HitCount("/cgi-bin/token"); n != 1 {
		t.Errorf("20 concurrent calls fetched the access token %d times, want 1", n)
	}
}

func TestWeChatRetriesOnceWithAFreshTokenAfter40001(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	wc := miniprogram.NewWeChat(fake.Options(models.SystemClock{}))
	ctx := context.Background()
	if _, err := wc.StartFace(ctx, faceRequest("order_r1", "openid-1")); err != nil {
		t.Fatal(err)
	}
	fake.InvalidateToken()
	if _, err := wc.StartFace(ctx, faceRequest("order_r2", "openid-1")); err != nil {
		t.Fatalf("after the token was invalidated: %v", err)
	}
	if n := fake.HitCount("/cgi-bin/token"); n != 2 {
		t.Errorf("token fetched %d times, want 2", n)
	}
}

func TestWeChatPhone(t *testing.T) {
	fake := platformtest.NewWeChat(t)
	fake.Phones["phone-code"] = "13812345678"
	wc := miniprogram.NewWeChat(fake.Options(models.SystemClock{}))
	phone, err := wc.Phone(context.Background(), "phone-code")
	if err != nil || phone != "13812345678" {
		t.Fatalf("Phone = %q, %v", phone, err)
	}
	if _, err := wc.Phone(context.Background(), "stale"); fault.KindOf(err) != fault.KindInvalid {
		t.Errorf("stale code: err = %v, want invalid", err)
	}
}
