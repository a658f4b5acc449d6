package miniprogram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/smartwalle/alipay/v3"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// Alipay is the Alipay mini-program platform (public-key mode). Build it once
// at start-up.
type Alipay struct {
	client    *alipay.Client
	appID     string
	returnURL string
	clock     models.Clock
	timeout   time.Duration
}

// certSNField names the Alipay certificate a signature claims to be made
// with. In public-key mode nothing Alipay sends carries it, and when it is
// present the SDK downloads that certificate from the gateway while holding
// the lock every signature check takes: a notification or phone payload
// carrying it is refused before the SDK sees it.
const certSNField = "alipay_cert_sn"

// AlipayOptions configures the Alipay platform.
type AlipayOptions struct {
	AppID string
	// PrivateKey is the app's RSA private key (PEM or bare base64, PKCS#1 or #8).
	PrivateKey string
	// AlipayPublicKey is Alipay's public key (PKIX), not the app's own.
	AlipayPublicKey string
	// EncryptKey is the AES key for phone-number payloads; may be empty.
	EncryptKey string
	// ReturnURL is where face verification returns; empty means the mini-program.
	ReturnURL string
	// Gateway overrides the production gateway (tests point it at a fake).
	Gateway string
	// HTTPClient is the client the SDK sends with (its transport is kept;
	// its timeout is capped at Timeout); nil means a new client.
	HTTPClient *http.Client
	// Timeout bounds each call to Alipay; zero means DefaultTimeout.
	Timeout time.Duration
	Clock   models.Clock
}

// NewAlipay builds the Alipay platform, checking every key it loads. The SDK
// gets an HTTP client whose timeout is at most o.Timeout, so even the
// requests it makes without a context (certificate downloads) end.
func NewAlipay(o AlipayOptions) (*Alipay, error) {
	timeout := orDefault(o.Timeout)
	httpClient := &http.Client{Timeout: timeout}
	if o.HTTPClient != nil {
		copied := *o.HTTPClient
		if copied.Timeout <= 0 || copied.Timeout > timeout {
			copied.Timeout = timeout
		}
		httpClient = &copied
	}
	opts := []alipay.OptionFunc{alipay.WithTimeLocation(time.FixedZone("CST", 8*3600)), alipay.WithHTTPClient(httpClient)}
	if o.Gateway != "" {
		opts = append(opts, alipay.WithProductionGateway(o.Gateway))
	}
	client, err := alipay.New(o.AppID, o.PrivateKey, true, opts...)
	if err != nil {
		return nil, fmt.Errorf("alipay app private key: %w", err)
	}
	if err := client.LoadAliPayPublicKey(o.AlipayPublicKey); err != nil {
		return nil, fmt.Errorf("alipay public key: %w", err)
	}
	if err := client.SetEncryptKey(o.EncryptKey); err != nil {
		return nil, fmt.Errorf("alipay encrypt key: %w", err)
	}
	returnURL := o.ReturnURL
	if returnURL == "" {
		returnURL = "alipays://platformapi/startapp?appId=" + url.QueryEscape(o.AppID)
	}
	return &Alipay{client: client, appID: o.AppID, returnURL: returnURL, clock: o.Clock, timeout: timeout}, nil
}

// Name returns "alipay".
func (a *Alipay) Name() string { return models.PlatformAlipay }

// Login runs alipay.system.oauth.token. New apps get open_id, older ones
// user_id; either is the user's id. A business failure inside the answer
// (code other than 10000, which the SDK returns with a nil error) is an
// *fault.Error of KindUnauthorized; no answer within the timeout is
// KindUnavailable, other failures KindUpstream.
func (a *Alipay) Login(ctx context.Context, authCode string) (Login, error) {
	ctx, cancel := withDeadline(ctx, a.timeout)
	defer cancel()
	res, err := a.client.SystemOauthToken(ctx, alipay.SystemOauthToken{GrantType: "authorization_code", Code: authCode})
	var apiErr *alipay.Error
	switch {
	case errors.As(err, &apiErr):
		return Login{}, loginRefused(err)
	case err != nil:
		return Login{}, unavailable("支付宝", err)
	case res.Code != "" && !res.Code.IsSuccess():
		return Login{}, loginRefused(fmt.Errorf("oauth token: %s %s", res.Code, res.SubCode))
	}
	id := res.OpenId
	if id == "" {
		id = res.UserId
	}
	if id == "" || res.AccessToken == "" {
		return Login{}, loginRefused(errors.New("oauth token answered without a user"))
	}
	return Login{UserID: id, UnionID: res.UnionId}, nil
}

// StartFace initialises a certification (UserCertifyOpenInitialize) and
// builds the signed certify URL the mini-program opens. A document other
// than a resident ID card is KindInvalid; no answer within the timeout is
// KindUnavailable, other failures KindUpstream.
func (a *Alipay) StartFace(ctx context.Context, req FaceRequest) (FaceTicket, error) {
	if req.DocType != document.ResidentID {
		return FaceTicket{}, faceUnsupported()
	}
	ctx, cancel := withDeadline(ctx, a.timeout)
	defer cancel()
	res, err := a.client.UserCertifyOpenInitialize(ctx, alipay.UserCertifyOpenInitialize{
		OuterOrderNo: req.OrderNo,
		BizCode:      alipay.CertifyBizCodeFace,
		IdentityParam: alipay.IdentityParam{
			IdentityType: "CERT_INFO", CertType: "IDENTITY_CARD", CertName: req.Name, CertNo: req.DocNumber,
		},
		MerchantConfig: alipay.MerchantConfig{ReturnURL: a.returnURL},
	})
	if err != nil {
		return FaceTicket{}, unavailable("支付宝", err)
	}
	if res.IsFailure() {
		return FaceTicket{}, businessFailure("certify initialize", res.Error)
	}
	if res.CertifyId == "" {
		return FaceTicket{}, unavailable("支付宝", errors.New("certify initialize answered without a certify_id"))
	}
	u, err := a.client.UserCertifyOpenCertify(alipay.UserCertifyOpenCertify{CertifyId: res.CertifyId})
	if err != nil {
		return FaceTicket{}, unavailable("支付宝", err)
	}
	return FaceTicket{VerifyID: res.CertifyId, URL: u.String(), ExpiresAt: a.clock.Now().Add(30 * time.Minute)}, nil
}

// QueryFace asks UserCertifyOpenQuery; passed means "T". No answer within
// the timeout is KindUnavailable, other failures KindUpstream.
func (a *Alipay) QueryFace(ctx context.Context, q FaceQuery) (FaceResult, error) {
	ctx, cancel := withDeadline(ctx, a.timeout)
	defer cancel()
	res, err := a.client.UserCertifyOpenQuery(ctx, alipay.UserCertifyOpenQuery{CertifyId: q.VerifyID})
	if err != nil {
		return FaceResult{}, unavailable("支付宝", err)
	}
	if res.IsFailure() {
		return FaceResult{}, businessFailure("certify query", res.Error)
	}
	return FaceResult{Passed: res.Passed == "T", Detail: "passed=" + res.Passed}, nil
}

// Phone decrypts the payload my.getPhoneNumber returned (its signature is
// checked with Alipay's public key). A payload that does not verify, or
// that names a certificate (alipay_cert_sn), is KindInvalid
// (CodePhoneFailed); it makes no outbound call.
func (a *Alipay) Phone(ctx context.Context, payload string) (string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(payload), &fields); err != nil {
		return "", fault.Errorf(fault.KindInvalid, fault.CodePhoneFailed, "手机号授权无效，请重新授权").Wrap(fmt.Errorf("phone payload: %w", err))
	}
	if _, ok := fields[certSNField]; ok {
		return "", fault.Errorf(fault.KindInvalid, fault.CodePhoneFailed, "手机号授权无效，请重新授权").Wrap(errors.New("phone payload names a certificate; this app uses public-key mode"))
	}
	ctx, cancel := withDeadline(ctx, a.timeout)
	defer cancel()
	res, err := a.client.DecodePhoneNumber(ctx, payload)
	if err != nil || res.Mobile == "" {
		if err == nil {
			err = fmt.Errorf("phone payload: %s %s", res.Code, res.Msg)
		}
		return "", fault.Errorf(fault.KindInvalid, fault.CodePhoneFailed, "手机号授权无效，请重新授权").Wrap(scrub(err))
	}
	return res.Mobile, nil
}

// VerifyNotification checks the RSA2 signature of an asynchronous
// notification's form (PostForm, not Form: query parameters on the notify
// URL are not signed). A missing or bad signature is an *fault.Error of
// KindInvalid, and so is a form naming a certificate (alipay_cert_sn): this
// app runs in public-key mode, so it is refused at once, with no outbound
// call; the check itself never calls out.
func (a *Alipay) VerifyNotification(form url.Values) error {
	if form.Get("sign") == "" {
		return fault.Errorf(fault.KindInvalid, fault.CodeBadSignature, "通知缺少签名")
	}
	if _, ok := form[certSNField]; ok {
		return fault.Errorf(fault.KindInvalid, fault.CodeBadSignature, "通知签名方式不受支持")
	}
	if err := a.client.VerifySign(form); err != nil {
		return fault.Errorf(fault.KindInvalid, fault.CodeBadSignature, "通知签名无效").Wrap(scrub(err))
	}
	if appID := form.Get("app_id"); appID != "" && appID != a.appID {
		return fault.Errorf(fault.KindInvalid, fault.CodeBadSignature, "通知不属于本应用")
	}
	return nil
}

// businessFailure reports Alipay refusing a request of ours (a code other
// than 10000): our configuration, not the citizen, is at fault, so it is
// KindUpstream. Only the codes are kept, never the answer's other fields.
func businessFailure(api string, e alipay.Error) error {
	return unavailable("支付宝", fmt.Errorf("%s: code %s sub_code %s", api, e.Code, e.SubCode))
}
