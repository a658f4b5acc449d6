// Package models is the domain of the health-code service: identity rules,
// the entities stored through GORM, the store that reads and writes them,
// and the error vocabulary every layer speaks.
package models

import (
	"errors"
	"fmt"
)

// Kind classifies an error; the HTTP layer maps each kind to one status.
type Kind string

// The kinds of error the domain reports.
const (
	KindInvalid      Kind = "invalid"      // the input is malformed or breaks a rule
	KindUnauthorized Kind = "unauthorized" // no valid credentials
	KindForbidden    Kind = "forbidden"    // credentials valid but not allowed
	KindNotFound     Kind = "not_found"    // no such thing (or not yours)
	KindConflict     Kind = "conflict"     // clashes with what exists
	KindBusy         Kind = "busy"         // the service sheds load; retry later
	KindUnavailable  Kind = "unavailable"  // a dependency is down
	KindUpstream     Kind = "upstream"     // a platform (WeChat, Alipay) failed
	KindInternal     Kind = "internal"     // a bug or an unexpected failure
	// KindUnsupportedMedia: the request body is not of the media type the
	// endpoint takes (for example a form posted to a JSON endpoint).
	KindUnsupportedMedia Kind = "unsupported_media_type"
)

// Error is an error whose Message is safe to show a citizen. Code is a stable
// machine-readable string (for example "id_check_digit"); Err, when set, is
// the underlying cause, logged but never shown.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// Details, when set, is shown to the client as well (for example the
	// rows of a rejected import); it must be as safe as Message.
	Details any
	Err     error
}

// Errorf builds an Error of the given kind and code with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error returns the code and message, plus the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Wrap returns a copy of e with err as its cause.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// Errors several places report; one value each, so code and wording agree.
var (
	// ErrIdentityRequired: the account has bound no identity (403).
	ErrIdentityRequired = Errorf(KindForbidden, CodeIdentityRequired, "请先完成实名认证")
	// ErrNameMismatch: the name does not match the document on record; it
	// does not say which of the two is wrong (400).
	ErrNameMismatch = Errorf(KindInvalid, CodeNameMismatch, "姓名与证件信息不一致，请核对后重新输入")
	// ErrBusy: the service sheds load; the client should retry shortly (503).
	ErrBusy = Errorf(KindBusy, "busy", "系统繁忙，请稍后再试")
)

// ErrorKind returns the kind of the first *Error in err's chain, or
// KindInternal when there is none.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorCode returns the code of the first *Error in err's chain, or
// "internal" when there is none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return string(KindInternal)
}
