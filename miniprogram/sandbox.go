package miniprogram

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"healthcode/models"
	"healthcode/models/fault"
)

// Sandbox is a local stand-in platform for development: any user name logs
// in, and face verification is decided by a person pressing "pass" or
// "fail" on a local page (or a script calling the same endpoint). It is
// refused in production.
type Sandbox struct {
	clock models.Clock
	mu    sync.Mutex
	// outcomes holds each started verification, at most sandboxMaxFaces.
	outcomes map[string]*sandboxFace
}

// sandboxFace is a started sandbox verification and, once pressed, its
// outcome.
type sandboxFace struct {
	started   time.Time
	decided   bool
	passed    bool
	decidedAt time.Time
}

// Sandbox verifications live sandboxFaceTTL; at most sandboxMaxFaces are
// held, the oldest dropped first (a dropped one answers "unknown": failed).
const (
	sandboxFaceTTL  = 30 * time.Minute
	sandboxMaxFaces = 10000
)

// NewSandbox returns the sandbox platform.
func NewSandbox(clock models.Clock) *Sandbox {
	return &Sandbox{clock: clock, outcomes: map[string]*sandboxFace{}}
}

// Name returns "sandbox".
func (s *Sandbox) Name() string { return models.PlatformSandbox }

// Login accepts any user name of 1 to 64 characters as the user id.
func (s *Sandbox) Login(_ context.Context, user string) (Login, error) {
	user = strings.TrimSpace(user)
	if user == "" || utf8.RuneCountInString(user) > 64 {
		return Login{}, fault.Errorf(fault.KindInvalid, fault.CodeInvalidUser, "请填写1至64个字符的沙箱用户名")
	}
	return Login{UserID: user}, nil
}

// StartFace opens a verification decided on the local page /sandbox/face/<id>.
// Every document type can be verified in the sandbox.
func (s *Sandbox) StartFace(_ context.Context, req FaceRequest) (FaceTicket, error) {
	id := "sbx_" + req.OrderNo
	now := s.clock.Now()
	s.mu.Lock()
	s.makeRoomLocked(now)
	s.outcomes[id] = &sandboxFace{started: now}
	s.mu.Unlock()
	return FaceTicket{VerifyID: id, URL: "/sandbox/face/" + id, ExpiresAt: now.Add(sandboxFaceTTL)}, nil
}

// makeRoomLocked drops expired verifications, and the oldest one when the
// sandbox is still full.
func (s *Sandbox) makeRoomLocked(now time.Time) {
	if len(s.outcomes) < sandboxMaxFaces {
		return
	}
	oldestID, oldest := "", now
	for id, f := range s.outcomes {
		if now.Sub(f.started) > sandboxFaceTTL {
			delete(s.outcomes, id)
		} else if f.started.Before(oldest) {
			oldestID, oldest = id, f.started
		}
	}
	if len(s.outcomes) >= sandboxMaxFaces {
		delete(s.outcomes, oldestID)
	}
}

// Decide records the outcome pressed on the sandbox page. It returns an
// *fault.Error of KindNotFound for an unknown verification.
func (s *Sandbox) Decide(verifyID string, passed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.outcomes[verifyID]
	if !ok {
		return fault.Errorf(fault.KindNotFound, fault.CodeFaceNotFound, "未找到该人脸核验")
	}
	f.decided, f.passed, f.decidedAt = true, passed, s.clock.Now()
	return nil
}

// QueryFace answers the outcome pressed, a pass with the time it was
// pressed; an undecided verification is pending, an unknown one (the
// sandbox restarted) has failed.
func (s *Sandbox) QueryFace(_ context.Context, q FaceQuery) (FaceResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, known := s.outcomes[q.VerifyID]
	switch {
	case !known:
		return FaceResult{Detail: "sandbox_unknown"}, nil
	case !f.decided:
		return FaceResult{Pending: true, Detail: "sandbox_undecided"}, nil
	case f.passed:
		return FaceResult{Passed: true, Detail: "sandbox_pass", PassedAt: f.decidedAt}, nil
	default:
		return FaceResult{Detail: "sandbox_fail"}, nil
	}
}

// Phone accepts a plain 11-digit mainland mobile number.
func (s *Sandbox) Phone(_ context.Context, payload string) (string, error) {
	p := strings.TrimSpace(payload)
	if len(p) != 11 || p[0] != '1' || strings.Trim(p, "0123456789") != "" {
		return "", fault.Errorf(fault.KindInvalid, fault.CodePhoneFailed, "请填写11位手机号码")
	}
	return p, nil
}
