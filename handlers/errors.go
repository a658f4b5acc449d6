package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"healthcode/models/fault"
)

// errorBody is the JSON envelope of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
	Details   any    `json:"details,omitempty"`
}

// Kinds of error only the HTTP layer reports (the domain never does).
const (
	kindTooLarge    fault.Kind = "too_large"          // the request body is too large
	kindRateLimited fault.Kind = "rate_limited"       // too many requests from this client
	kindMethod      fault.Kind = "method_not_allowed" // the route takes another method
	// kindUnsupportedMedia: the request body is not of the media type the
	// endpoint takes (for example a form posted to a JSON endpoint).
	kindUnsupportedMedia fault.Kind = "unsupported_media_type"
)

// Error codes only the HTTP layer reports, for requests it cannot read or
// that lack what an endpoint needs. The domain's codes are in package fault.
const (
	codeBadSince             = "bad_since"
	codeCodeRequired         = "code_required"
	codeDraining             = "draining"
	codeExpired              = "expired"
	codeFileRequired         = "file_required"
	codeInvalidCode          = "invalid_code"
	codeInvalidDate          = "invalid_date"
	codeInvalidForm          = "invalid_form"
	codeInvalidFormat        = "invalid_format"
	codeInvalidJSON          = "invalid_json"
	codeInvalidLayout        = "invalid_layout"
	codeInvalidLimit         = "invalid_limit"
	codeInvalidOutcome       = "invalid_outcome"
	codeInvalidPeriod        = "invalid_period"
	codeInvalidPurpose       = "invalid_purpose"
	codeInvalidRelativeIDs   = "invalid_relative_ids"
	codeInvalidSize          = "invalid_size"
	codeInvalidStatus        = "invalid_status"
	codeInvalidUpload        = "invalid_upload"
	codeInvalidVenueCode     = "invalid_venue_code"
	codeMethodNotAllowed     = "method_not_allowed"
	codeNotFound             = "not_found"
	codeNotReady             = "not_ready"
	codeNoteRequired         = "note_required"
	codeOperatorRequired     = "operator_required"
	codePeerRequired         = "peer_required"
	codePersonRequired       = "person_required"
	codePlatformDisabled     = "platform_disabled"
	codeRateLimited          = "rate_limited"
	codeRevoked              = "revoked"
	codeSandboxUserNotFound  = "sandbox_user_not_found"
	codeSandboxUserUnbound   = "sandbox_user_unbound"
	codeTooLarge             = "too_large"
	codeTooManyRows          = "too_many_rows"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeVerifyIDRequired     = "verify_id_required"
)

// statusOf maps an error kind to its HTTP status; this is the only place
// that does so.
func statusOf(kind fault.Kind) int {
	switch kind {
	case fault.KindInvalid:
		return http.StatusBadRequest
	case fault.KindUnauthorized:
		return http.StatusUnauthorized
	case fault.KindForbidden:
		return http.StatusForbidden
	case fault.KindNotFound:
		return http.StatusNotFound
	case kindMethod:
		return http.StatusMethodNotAllowed
	case fault.KindConflict:
		return http.StatusConflict
	case kindTooLarge:
		return http.StatusRequestEntityTooLarge
	case kindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case kindRateLimited:
		return http.StatusTooManyRequests
	case fault.KindBusy, fault.KindUnavailable, fault.KindUpstream:
		// A platform that refuses, fails or answers nonsense is as down for
		// this request as one that does not answer: the client waits and
		// retries either way.
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// retryAfter is the Retry-After, in seconds, of a 503 of the given kind:
// load is shed for a moment, while a dependency that is down (the database,
// a platform) rarely returns within a second, and clients asked back every
// second would only add to the load on it when it does.
func retryAfter(kind fault.Kind) string {
	switch kind {
	case fault.KindBusy:
		return "1"
	case fault.KindUnavailable, fault.KindUpstream:
		return "5"
	default:
		return ""
	}
}

// Errors of the HTTP layer itself.
var (
	errTooLarge = fault.Errorf(kindTooLarge, codeTooLarge, "请求内容过大")
	errInternal = fault.Errorf(fault.KindInternal, fault.CodeInternal, "系统内部错误，请稍后再试")
	errNotFound = fault.Errorf(fault.KindNotFound, codeNotFound, "请求的地址不存在")
)

// outageLog samples the log lines of failures a dependency causes.
var outageLog = &logSampler{}

// logSampler lets one line a second through for each kind of outage and
// counts the ones it held back.
type logSampler struct {
	mu   sync.Mutex
	next map[fault.Kind]time.Time
	held map[fault.Kind]int64
}

// allow says whether a line of kind may be logged at now and, if so, how
// many it held back since the last one.
func (s *logSampler) allow(kind fault.Kind, now time.Time) (bool, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		s.next, s.held = map[fault.Kind]time.Time{}, map[fault.Kind]int64{}
	}
	if now.Before(s.next[kind]) {
		s.held[kind]++
		return false, 0
	}
	more := s.held[kind]
	s.next[kind], s.held[kind] = now.Add(time.Second), 0
	return true, more
}

// respondError writes err as the JSON envelope and aborts the chain. Errors
// without a safe message are logged here, once, with the request id, and
// shown as a generic message.
func respondError(c *gin.Context, log *slog.Logger, err error) {
	var e *fault.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		e = errTooLarge
	case errors.As(err, &e):
		switch e.Kind {
		case fault.KindInternal:
			log.ErrorContext(c.Request.Context(), "request failed", "request_id", c.GetString(ctxRequestID), "code", e.Code, "err", err)
		case fault.KindUpstream, fault.KindUnavailable:
			// A dependency down fails every request that needs it: one line a
			// second says so, with how many more failed alike.
			if ok, more := outageLog.allow(e.Kind, time.Now()); ok {
				log.ErrorContext(c.Request.Context(), "request failed", "request_id", c.GetString(ctxRequestID), "code", e.Code, "err", err,
					"similar_failures_not_logged", more)
			}
		}
	default:
		log.ErrorContext(c.Request.Context(), "request failed", "request_id", c.GetString(ctxRequestID), "err", err)
		e = errInternal
	}
	if retry := retryAfter(e.Kind); retry != "" && c.Writer.Header().Get("Retry-After") == "" {
		// Every shed request, whoever shed it, and every request a dependency
		// that is down (the database, a platform that did not answer in
		// time) failed, tells the client when to retry.
		c.Header("Retry-After", retry)
	}
	c.AbortWithStatusJSON(statusOf(e.Kind), errorBody{Error: errorDetail{
		Code: e.Code, Message: e.Message, RequestID: c.GetString(ctxRequestID), Details: e.Details,
	}})
}

// bindJSON decodes the request body into dst. A malformed body, a wrong
// field type or trailing data is an *fault.Error of KindInvalid (code
// invalid_json), a body that is not UTF-8 one with code invalid_encoding
// (encoding/json would silently turn its bytes into U+FFFD); a body over the
// limit comes back as *http.MaxBytesError, which respondError answers 413.
func bindJSON(c *gin.Context, dst any) error {
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return fault.Errorf(fault.KindInvalid, codeInvalidJSON, "请求内容不是有效的JSON").Wrap(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return fault.Errorf(fault.KindInvalid, codeInvalidJSON, "请求内容为空")
	}
	if !utf8.Valid(raw) {
		return fault.Errorf(fault.KindInvalid, fault.CodeInvalidEncoding, "请求内容不是UTF-8编码的文本")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fault.Errorf(fault.KindInvalid, codeInvalidJSON, "请求内容不是有效的JSON").Wrap(err)
	}
	return nil
}
