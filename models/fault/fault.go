// Package fault is the error vocabulary every layer of the service speaks: a
// kind (which the HTTP layer maps to one status), a stable code and a
// message safe to show a citizen, with the cause kept apart for the log. It
// imports nothing of the service, so every package can use it.
package fault

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
)

// Error is an error whose Message is safe to show a citizen. Code is a stable
// machine-readable string (one of the Code* constants, for example
// CodeDocCheckDigit); Err, when set, is the underlying cause, logged but
// never shown.
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

// Errors of the service as a whole; one value each, so code and wording
// agree wherever they are reported.
var (
	// ErrBusy: the service sheds load; the client should retry shortly (503).
	ErrBusy = Errorf(KindBusy, CodeBusy, "系统繁忙，请稍后再试")
	// ErrUnavailable: a dependency (the database) is unreachable, refused
	// the connection or did not answer within its deadline; the client
	// should retry later (503).
	ErrUnavailable = Errorf(KindUnavailable, CodeUnavailable, "服务暂时不可用，请稍后再试")
)

// KindOf returns the kind of the first *Error in err's chain, or
// KindInternal when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// CodeOf returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
