package miniprogram

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/credential"
	wxmini "github.com/silenceper/wechat/v2/miniprogram"
	wxconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/util"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// WeChat face-verification endpoints (not in the SDK; called with its
// access token through its HTTP helpers).
const (
	wxGetVerifyID  = "https://api.weixin.qq.com/cityservice/face/identify/getverifyid?access_token=%s"
	wxQueryVerify  = "https://api.weixin.qq.com/cityservice/face/identify/queryverifyinfo?access_token=%s"
	wxGetInfo      = "https://api.weixin.qq.com/cityservice/face/identify/getinfo?access_token=%s"
	wxVerifyPassed = 10000
	wxTokenInvalid = 40001
	wxTokenExpired = 42001
	wxInvalidCode  = 40029
	wxCodeUsed     = 40163
	wxRiskyUser    = 40226
)

// WeChat is the WeChat mini-program platform. Build it once at start-up:
// it holds the SDK client and its access-token cache.
type WeChat struct {
	mp      *wxmini.MiniProgram
	appID   string
	cache   *Cache
	clock   models.Clock
	timeout time.Duration
}

// WeChatOptions configures the WeChat platform.
type WeChatOptions struct {
	AppID, AppSecret string
	// Timeout bounds each call to WeChat, every request it makes (access
	// token included) together; zero means DefaultTimeout.
	Timeout time.Duration
	Clock   models.Clock
}

// NewWeChat builds the WeChat platform from the app's credentials.
//
// The SDK sends every request through its package variable
// util.DefaultHTTPClient, its only way in; NewWeChat gives that client the
// timeout (keeping its transport) unless it already has a shorter one, so
// no SDK path waits on WeChat without a limit. Build the platform once, at
// start-up, before any request.
func NewWeChat(o WeChatOptions) *WeChat {
	timeout := orDefault(o.Timeout)
	boundSDKClient(timeout)
	c := NewCache(o.Clock)
	mp := wxmini.NewMiniProgram(&wxconfig.Config{AppID: o.AppID, AppSecret: o.AppSecret, Cache: c})
	return &WeChat{mp: mp, appID: o.AppID, cache: c, clock: o.Clock, timeout: timeout}
}

// boundSDKClient replaces the WeChat SDK's shared HTTP client by a copy
// with the timeout, unless it already has one no longer than that.
func boundSDKClient(timeout time.Duration) {
	current := util.DefaultHTTPClient
	if current != nil && current.Timeout > 0 && current.Timeout <= timeout {
		return
	}
	bounded := &http.Client{Timeout: timeout}
	if current != nil {
		copied := *current
		copied.Timeout = timeout
		bounded = &copied
	}
	util.DefaultHTTPClient = bounded
}

// Name returns "wechat".
func (w *WeChat) Name() string { return models.PlatformWeChat }

// Login runs Code2Session. A code WeChat refuses (40029 invalid, 40163
// used, 40226 blocked user) is an *fault.Error of KindUnauthorized; other
// errcodes (-1 busy, 45011 too frequent) are KindUpstream; no answer within
// the timeout is KindUnavailable.
func (w *WeChat) Login(ctx context.Context, code string) (Login, error) {
	ctx, cancel := withDeadline(ctx, w.timeout)
	defer cancel()
	res, err := w.mp.GetAuth().Code2SessionContext(ctx, code)
	switch {
	case err != nil && (res.ErrCode == wxInvalidCode || res.ErrCode == wxCodeUsed || res.ErrCode == wxRiskyUser):
		return Login{}, loginRefused(err)
	case err != nil:
		return Login{}, unavailable("微信", err)
	case res.OpenID == "":
		return Login{}, unavailable("微信", errors.New("jscode2session answered without an openid"))
	}
	return Login{UserID: res.OpenID, UnionID: res.UnionID, SessionKey: res.SessionKey}, nil
}

// StartFace asks WeChat for a verify_id (getverifyid). Only mainland
// resident ID cards can be verified this way (others are KindInvalid); no
// answer within the timeout is KindUnavailable, other failures KindUpstream.
func (w *WeChat) StartFace(ctx context.Context, req FaceRequest) (FaceTicket, error) {
	if req.DocType != document.ResidentID {
		return FaceTicket{}, faceUnsupported()
	}
	ctx, cancel := withDeadline(ctx, w.timeout)
	defer cancel()
	body := map[string]any{
		"out_seq_no": req.OrderNo,
		"cert_info":  map[string]string{"cert_type": "IDENTITY_CARD", "cert_name": req.Name, "cert_no": req.DocNumber},
		"openid":     req.UserID,
	}
	var res struct {
		util.CommonError
		VerifyID  string `json:"verify_id"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := w.post(ctx, wxGetVerifyID, body, &res); err != nil {
		return FaceTicket{}, err
	}
	if res.VerifyID == "" {
		return FaceTicket{}, unavailable("微信", errors.New("getverifyid answered without a verify_id"))
	}
	ttl := time.Duration(res.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = time.Hour
	}
	return FaceTicket{VerifyID: res.VerifyID, ExpiresAt: w.clock.Now().Add(ttl)}, nil
}

// QueryFace asks queryverifyinfo; passed means errcode 0 and verify_ret
// 10000. A business errcode (the 900xx family: cancelled, face mismatch …)
// is a failed verification, not an error; no answer within the timeout is
// KindUnavailable, other failures KindUpstream.
func (w *WeChat) QueryFace(ctx context.Context, q FaceQuery) (FaceResult, error) {
	ctx, cancel := withDeadline(ctx, w.timeout)
	defer cancel()
	body := map[string]any{
		"verify_id":  q.VerifyID,
		"out_seq_no": q.OrderNo,
		"cert_hash":  CertHash("IDENTITY_CARD", q.Name, q.DocNumber),
		"openid":     q.UserID,
	}
	var res struct {
		util.CommonError
		VerifyRet int `json:"verify_ret"`
	}
	err := w.post(ctx, wxQueryVerify, body, &res)
	var business *businessError
	switch {
	case errors.As(err, &business):
		return FaceResult{Detail: fmt.Sprintf("errcode=%d", business.code)}, nil
	case err != nil:
		return FaceResult{}, err
	}
	return FaceResult{Passed: res.VerifyRet == wxVerifyPassed, Detail: fmt.Sprintf("verify_ret=%d", res.VerifyRet)}, nil
}

// QueryLegacyFace checks the result of the older wx.startFacialRecognitionVerify
// flow (getinfo with verify_result): passed means identify_ret 0, the same
// openid, and hashes of the name and number that match the identity. Errors
// are KindUnavailable (no answer within the timeout) or KindUpstream.
func (w *WeChat) QueryLegacyFace(ctx context.Context, verifyResult string, q FaceQuery) (FaceResult, error) {
	ctx, cancel := withDeadline(ctx, w.timeout)
	defer cancel()
	var res struct {
		util.CommonError
		IdentifyRet     int    `json:"identify_ret"`
		OpenID          string `json:"openid"`
		IDCardNumberMD5 string `json:"id_card_number_md5"`
		NameUTF8MD5     string `json:"name_utf8_md5"`
		IdentifyTime    int64  `json:"identify_time"`
	}
	err := w.post(ctx, wxGetInfo, map[string]string{"verify_result": verifyResult}, &res)
	var business *businessError
	switch {
	case errors.As(err, &business):
		return FaceResult{Detail: fmt.Sprintf("errcode=%d", business.code)}, nil
	case err != nil:
		return FaceResult{}, err
	}
	numberMD5 := md5.Sum([]byte(strings.ToUpper(q.DocNumber)))
	nameMD5 := md5.Sum([]byte(q.Name))
	switch {
	case res.IdentifyRet != 0:
		return FaceResult{Detail: fmt.Sprintf("identify_ret=%d", res.IdentifyRet)}, nil
	case res.OpenID != q.UserID:
		return FaceResult{Detail: "openid_mismatch"}, nil
	case !strings.EqualFold(res.IDCardNumberMD5, hex.EncodeToString(numberMD5[:])),
		!strings.EqualFold(res.NameUTF8MD5, hex.EncodeToString(nameMD5[:])):
		return FaceResult{Detail: "identity_mismatch"}, nil
	}
	result := FaceResult{Passed: true, Detail: "identify_ret=0"}
	if res.IdentifyTime > 0 {
		result.PassedAt = time.Unix(res.IdentifyTime, 0)
	}
	return result, nil
}

// Phone reads the user's phone number from a getPhoneNumber button code. A
// code WeChat refuses is KindInvalid (CodePhoneFailed); no answer within the
// timeout is KindUnavailable, other failures KindUpstream.
func (w *WeChat) Phone(ctx context.Context, code string) (string, error) {
	ctx, cancel := withDeadline(ctx, w.timeout)
	defer cancel()
	var phone string
	err := w.withToken(ctx, func(string) error {
		res, err := w.mp.GetAuth().GetPhoneNumberContext(ctx, code)
		if err != nil {
			return err
		}
		phone = res.PhoneInfo.PurePhoneNumber
		if phone == "" {
			phone = res.PhoneInfo.PhoneNumber
		}
		if res.PhoneInfo.WaterMark.AppID != "" && res.PhoneInfo.WaterMark.AppID != w.appID {
			return errors.New("phone watermark names another app")
		}
		return nil
	})
	var common *util.CommonError
	switch {
	case errors.As(err, &common):
		return "", fault.Errorf(fault.KindInvalid, fault.CodePhoneFailed, "手机号授权无效或已过期，请重新授权").Wrap(scrub(err))
	case err != nil:
		return "", unavailable("微信", err)
	}
	return phone, nil
}

// businessError is a non-zero errcode other than an access-token problem.
type businessError struct{ code int64 }

func (e *businessError) Error() string { return fmt.Sprintf("wechat errcode=%d", e.code) }

// post sends a JSON request with the access token and decodes the answer
// into res, whose CommonError must be its first field. A non-zero errcode
// comes back as *businessError, a failed request as unavailable's error.
func (w *WeChat) post(ctx context.Context, urlFormat string, body, res any) error {
	err := w.withToken(ctx, func(token string) error {
		raw, err := util.PostJSONContext(ctx, fmt.Sprintf(urlFormat, token), body)
		if err != nil {
			return err
		}
		var common util.CommonError
		if err := json.Unmarshal(raw, &common); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		if common.ErrCode != 0 {
			return &common
		}
		return json.Unmarshal(raw, res)
	})
	var common *util.CommonError
	if errors.As(err, &common) {
		return &businessError{code: common.ErrCode}
	}
	if err != nil {
		return unavailable("微信", err)
	}
	return nil
}

// withToken runs call with the cached access token. When WeChat says the
// token is invalid or expired (40001, 42001), the cached token is dropped and
// call runs once more with a fresh one; the SDK does not retry by itself.
func (w *WeChat) withToken(ctx context.Context, call func(token string) error) error {
	for attempt := 0; ; attempt++ {
		token, err := w.mp.GetContext().GetAccessTokenContext(ctx)
		if err != nil {
			return fmt.Errorf("access token: %w", scrub(err))
		}
		err = call(token)
		var common *util.CommonError
		if attempt == 0 && errors.As(err, &common) && (common.ErrCode == wxTokenInvalid || common.ErrCode == wxTokenExpired) {
			w.cache.Delete(credential.CacheKeyMiniProgramPrefix + "_access_token_" + w.appID)
			continue
		}
		return err
	}
}

// CertHash is WeChat's cert_hash: lower-case hex SHA-256 of
// cert_type=<b64>&cert_name=<b64>&cert_no=<b64>.
func CertHash(certType, name, number string) string {
	b64 := base64.StdEncoding.EncodeToString
	sum := sha256.Sum256([]byte("cert_type=" + b64([]byte(certType)) + "&cert_name=" + b64([]byte(name)) + "&cert_no=" + b64([]byte(number))))
	return hex.EncodeToString(sum[:])
}
