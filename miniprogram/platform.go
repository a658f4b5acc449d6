// Package miniprogram holds the platform adapters: WeChat
// (github.com/silenceper/wechat/v2), Alipay (github.com/smartwalle/alipay/v3)
// and a local sandbox, behind one small interface for login and face
// verification. Errors are *fault.Error: KindUnauthorized for a login code
// the platform refuses, KindUnavailable when the platform does not answer
// within the call's deadline, KindUpstream when it cannot be reached or
// answers nonsense (the cause is kept for the log, scrubbed of secrets).
//
// Every call to a platform has a deadline: the adapter's timeout (or the
// caller's context, if sooner) bounds all the requests one call makes, and
// the SDKs' HTTP clients carry the same timeout, so an SDK path that ignores
// the context ends as well.
package miniprogram

import (
	"context"
	"errors"
	"regexp"
	"time"

	"healthcode/models/document"
	"healthcode/models/fault"
)

// Platform is one mini-program platform.
type Platform interface {
	// Name is "wechat", "alipay" or "sandbox".
	Name() string
	// Login exchanges a login code from the mini-program for the user's
	// platform identity. A code the platform refuses is KindUnauthorized
	// (CodeLoginFailed); a platform that does not answer in time
	// KindUnavailable (CodePlatformUnavailable); an unreachable or failing
	// platform KindUpstream.
	Login(ctx context.Context, code string) (Login, error)
	// StartFace starts a face verification of the user against an identity.
	// A document type the platform cannot verify is KindInvalid
	// (CodeFaceUnsupported); platform failures are KindUnavailable (no
	// answer in time) or KindUpstream.
	StartFace(ctx context.Context, req FaceRequest) (FaceTicket, error)
	// QueryFace asks the platform how a face verification ended. A refused
	// or cancelled check is a FaceResult that did not pass, not an error;
	// errors are KindUnavailable (no answer in time) or KindUpstream.
	QueryFace(ctx context.Context, q FaceQuery) (FaceResult, error)
}

// PhoneReader is a platform that can tell the user's verified phone number
// from what the mini-program's phone button returned.
type PhoneReader interface {
	// Phone returns the number; a stale or forged payload is KindInvalid
	// (CodePhoneFailed), a platform that does not answer in time
	// KindUnavailable, a failing platform KindUpstream.
	Phone(ctx context.Context, payload string) (string, error)
}

// Login is a user's identity on a platform.
type Login struct {
	UserID  string // WeChat openid; Alipay open_id or user_id
	UnionID string
	// SessionKey is WeChat's session_key: kept sealed server-side, never sent.
	SessionKey string
}

// FaceRequest starts a face verification.
type FaceRequest struct {
	OrderNo   string // our unique order number (out_seq_no, outer_order_no)
	UserID    string // the platform user id of the account
	Name      string
	DocType   document.Type
	DocNumber string
}

// FaceTicket is a started face verification.
type FaceTicket struct {
	VerifyID  string // WeChat verify_id, Alipay certify_id, sandbox id
	URL       string // where the mini-program (or browser) goes next, if anywhere
	ExpiresAt time.Time
}

// FaceQuery asks how a face verification ended.
type FaceQuery struct {
	VerifyID  string
	OrderNo   string
	UserID    string
	Name      string
	DocType   document.Type
	DocNumber string
}

// FaceResult is a platform's verdict.
type FaceResult struct {
	Passed bool
	// Pending means the person has not finished yet: nothing is recorded.
	Pending bool
	// Detail is the platform's result code, for the record (never personal data).
	Detail string
	// PassedAt is when the platform says the check passed, where it says
	// (WeChat's older flow, the sandbox); zero otherwise.
	PassedAt time.Time
}

// DefaultTimeout bounds a platform call when the adapter is given no timeout.
const DefaultTimeout = 5 * time.Second

func loginRefused(cause error) error {
	return fault.Errorf(fault.KindUnauthorized, fault.CodeLoginFailed, "登录凭证无效或已过期，请重新进入小程序").Wrap(scrub(cause))
}

// unavailable reports a platform failure: KindUnavailable when the platform
// did not answer before the deadline (a dependency down: the client should
// retry later), KindUpstream for any other failure.
func unavailable(platform string, cause error) error {
	if timedOut(cause) {
		return fault.Errorf(fault.KindUnavailable, fault.CodePlatformUnavailable, "%s服务响应超时，请稍后再试", platform).Wrap(scrub(cause))
	}
	return fault.Errorf(fault.KindUpstream, fault.CodePlatformUnavailable, "%s服务暂时不可用，请稍后再试", platform).Wrap(scrub(cause))
}

// timedOut reports whether err is a deadline that passed: the call's
// context or an HTTP client's timeout.
func timedOut(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

// withDeadline bounds ctx by timeout (or DefaultTimeout when it is zero).
func withDeadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, orDefault(timeout))
}

func orDefault(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return DefaultTimeout
	}
	return timeout
}

func faceUnsupported() error {
	return fault.Errorf(fault.KindInvalid, fault.CodeFaceUnsupportedDocument, "该证件类型暂不支持线上人脸核验，请携带证件到服务点办理")
}

// secretParam matches credentials that SDK errors may quote inside URLs.
var secretParam = regexp.MustCompile(`(?i)\b(secret|access_token|js_code|code|sign|cert_no|cert_name)=[^&\s"]*`)

// scrubbedError keeps an error's message with credentials removed, and
// whether it was a timeout.
type scrubbedError struct {
	msg     string
	timeout bool
}

func (e scrubbedError) Error() string { return e.msg }

// Timeout reports whether the scrubbed error was a deadline that passed.
func (e scrubbedError) Timeout() bool { return e.timeout }

// scrub returns err with app secrets, tokens and codes quoted in it (SDK
// errors include the request URL) replaced by "***", so it can be logged.
func scrub(err error) error {
	if err == nil {
		return nil
	}
	var me *fault.Error
	if errors.As(err, &me) {
		return err
	}
	return scrubbedError{msg: secretParam.ReplaceAllString(err.Error(), "$1=***"), timeout: timedOut(err)}
}
