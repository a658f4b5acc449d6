package models

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Session is what a login token carries: everything the hot paths need about
// the caller without reading the database.
type Session struct {
	AccountID string `json:"a"`
	Platform  string `json:"p"`
	// PersonID is the bound person's handle, empty before binding.
	PersonID string `json:"h,omitempty"`
	// Version is the account's session version when the token was issued.
	Version int64 `json:"v"`
	// FaceOn is the date (service time zone) face verification last passed.
	FaceOn    string `json:"f,omitempty"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// Error codes of session checks.
const (
	CodeUnauthorized   = "unauthorized"
	CodeSessionExpired = "session_expired"
	CodeSessionRevoked = "session_revoked"
)

var (
	errNoSession      = Errorf(KindUnauthorized, CodeUnauthorized, "请先登录")
	errBadSession     = Errorf(KindUnauthorized, CodeUnauthorized, "登录状态无效，请重新登录")
	errExpiredSession = Errorf(KindUnauthorized, CodeSessionExpired, "登录已过期，请重新登录")
)

// tokenPrefix names the token format so it can change later.
const tokenPrefix = "v1."

// Sessions issues and checks login tokens: an HMAC-SHA256-signed payload,
// verified without a database read. Revoked holds the session versions that
// logout has ended. It is safe for concurrent use.
type Sessions struct {
	key     []byte
	ttl     time.Duration
	clock   Clock
	loc     *time.Location
	Revoked *Revocations
}

// NewSessions builds the token issuer from a key of at least 32 bytes.
func NewSessions(key []byte, ttl time.Duration, clock Clock, loc *time.Location, revoked *Revocations) *Sessions {
	return &Sessions{key: append([]byte(nil), key...), ttl: ttl, clock: clock, loc: loc, Revoked: revoked}
}

// Issue returns a token for the account's current state and its expiry.
func (s *Sessions) Issue(a *Account) (string, time.Time) {
	now := s.clock.Now()
	exp := now.Add(s.ttl)
	sess := Session{
		AccountID: a.ID, Platform: a.Platform, Version: a.SessionVersion,
		FaceOn: a.FaceVerifiedOn, IssuedAt: now.Unix(), ExpiresAt: exp.Unix(),
	}
	if a.PersonID != nil {
		sess.PersonID = *a.PersonID
	}
	payload, _ := json.Marshal(sess)
	body := tokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body)), time.Unix(exp.Unix(), 0).UTC()
}

// Verify checks a token's signature, expiry and revocation and returns its
// session. Failures are *Error of KindUnauthorized.
func (s *Sessions) Verify(token string) (Session, error) {
	if token == "" {
		return Session{}, errNoSession
	}
	dot := strings.LastIndexByte(token, '.')
	if !strings.HasPrefix(token, tokenPrefix) || dot <= len(tokenPrefix) {
		return Session{}, errBadSession
	}
	body := token[:dot]
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil || !hmac.Equal(sig, s.mac(body)) {
		return Session{}, errBadSession
	}
	payload, err := base64.RawURLEncoding.DecodeString(body[len(tokenPrefix):])
	if err != nil {
		return Session{}, errBadSession
	}
	var sess Session
	if err := json.Unmarshal(payload, &sess); err != nil || sess.AccountID == "" {
		return Session{}, errBadSession
	}
	if s.clock.Now().Unix() >= sess.ExpiresAt {
		return Session{}, errExpiredSession
	}
	if s.Revoked != nil && s.Revoked.IsRevoked(sess.AccountID, sess.Version) {
		return Session{}, Errorf(KindUnauthorized, CodeSessionRevoked, "您已退出登录，请重新登录")
	}
	return sess, nil
}

// FaceVerifiedToday reports whether the session's face verification passed
// on today's date in the service time zone.
func (s *Sessions) FaceVerifiedToday(sess Session) bool {
	return sess.FaceOn != "" && sess.FaceOn == DateIn(s.clock.Now(), s.loc)
}

func (s *Sessions) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}
