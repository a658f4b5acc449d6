package miniprogram

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"healthcode/models"
)

// Sandbox is a local stand-in platform for development: any user name logs
// in, and face verification is decided by a person pressing "pass" or
// "fail" on a local page (or a script calling the same endpoint). It is
// refused in production.
type Sandbox struct {
	clock models.Clock
	mu    sync.Mutex
	// outcomes holds each started verification: nil while undecided.
	outcomes map[string]*bool
}

// NewSandbox returns the sandbox platform.
func NewSandbox(clock models.Clock) *Sandbox {
	return &Sandbox{clock: clock, outcomes: map[string]*bool{}}
}

// Name returns "sandbox".
func (s *Sandbox) Name() string { return models.PlatformSandbox }

// Login accepts any user name of 1 to 64 characters as the user id.
func (s *Sandbox) Login(_ context.Context, user string) (Login, error) {
	user = strings.TrimSpace(user)
	if user == "" || utf8.RuneCountInString(user) > 64 {
		return Login{}, models.Errorf(models.KindInvalid, "invalid_user", "请填写1至64个字符的沙箱用户名")
	}
	return Login{UserID: user}, nil
}

// StartFace opens a verification decided on the local page /sandbox/face/<id>.
// Every document type can be verified in the sandbox.
func (s *Sandbox) StartFace(_ context.Context, req FaceRequest) (FaceTicket, error) {
	id := "sbx_" + req.OrderNo
	s.mu.Lock()
	s.outcomes[id] = nil
	s.mu.Unlock()
	return FaceTicket{VerifyID: id, URL: "/sandbox/face/" + id, ExpiresAt: s.clock.Now().Add(30 * time.Minute)}, nil
}

// Decide records the outcome pressed on the sandbox page. It returns an
// *models.Error of KindNotFound for an unknown verification.
func (s *Sandbox) Decide(verifyID string, passed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.outcomes[verifyID]; !ok {
		return models.Errorf(models.KindNotFound, "face_not_found", "未找到该人脸核验")
	}
	s.outcomes[verifyID] = &passed
	return nil
}

// QueryFace answers the outcome pressed; an undecided verification is
// pending, an unknown one (the sandbox restarted) has failed.
func (s *Sandbox) QueryFace(_ context.Context, q FaceQuery) (FaceResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, known := s.outcomes[q.VerifyID]
	switch {
	case !known:
		return FaceResult{Detail: "sandbox_unknown"}, nil
	case o == nil:
		return FaceResult{Pending: true, Detail: "sandbox_undecided"}, nil
	case *o:
		return FaceResult{Passed: true, Detail: "sandbox_pass"}, nil
	default:
		return FaceResult{Detail: "sandbox_fail"}, nil
	}
}

// Phone accepts a plain 11-digit mainland mobile number.
func (s *Sandbox) Phone(_ context.Context, payload string) (string, error) {
	p := strings.TrimSpace(payload)
	if len(p) != 11 || p[0] != '1' || strings.Trim(p, "0123456789") != "" {
		return "", models.Errorf(models.KindInvalid, CodePhoneFailed, "请填写11位手机号码")
	}
	return p, nil
}
