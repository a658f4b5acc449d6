package models

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"healthcode/models/fault"
)

// Session is what a login token carries: everything the hot paths need about
// the caller without reading the database.
type Session struct {
	AccountID string `json:"a"`
	Platform  string `json:"p"`
	// PersonID is the bound person's handle, empty before binding; PersonNo
	// their dense number, by which the status book finds them.
	PersonID string `json:"h,omitempty"`
	PersonNo uint32 `json:"n,omitempty"`
	// Version is the account's session version when the token was issued.
	Version int64 `json:"v"`
	// FaceOn is the date (service time zone) face verification last passed.
	FaceOn string `json:"f,omitempty"`
	// Claimed says the account claims an identity that a face verification
	// has yet to prove (PersonID is empty until then).
	Claimed bool `json:"c,omitempty"`
	// MaskedName and MaskedDoc are the bound person's masked forms, so a
	// code can be shown without reading the database.
	MaskedName string `json:"mn,omitempty"`
	MaskedDoc  string `json:"md,omitempty"`
	// Scope is empty for mini-program tokens and ScopePage for the cookie
	// of an H5 page; neither is accepted in the other's place.
	Scope string `json:"sc,omitempty"`
	// Purpose and RelativeID say what an H5 page session may show.
	Purpose    string `json:"pu,omitempty"`
	RelativeID string `json:"r,omitempty"`
	IssuedAt   int64  `json:"iat"`
	ExpiresAt  int64  `json:"exp"`
}

// ScopePage marks the session of an H5 page (a cookie), as opposed to a
// mini-program's bearer token.
const ScopePage = "page"

var (
	errNoSession      = fault.Errorf(fault.KindUnauthorized, fault.CodeUnauthorized, "请先登录")
	errBadSession     = fault.Errorf(fault.KindUnauthorized, fault.CodeUnauthorized, "登录状态无效，请重新登录")
	errExpiredSession = fault.Errorf(fault.KindUnauthorized, fault.CodeSessionExpired, "登录已过期，请重新登录")
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
	days    *Days
	Revoked *Revocations
	seen    *seenTokens
}

// seenTokens remembers tokens whose signature already checked out, so the
// hot paths skip the HMAC and the JSON decoding on the next request of the
// same token (expiry and revocation are still checked every time).
type seenTokens struct {
	seed   maphash.Seed
	shards [64]seenShard
}

type seenShard struct {
	mu      sync.Mutex
	entries map[string]Session
}

// seenPerShard bounds the memory: 64 shards of this many tokens.
const seenPerShard = 4096

func (t *seenTokens) get(token string) (Session, bool) {
	sh := &t.shards[maphash.String(t.seed, token)%64]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s, ok := sh.entries[token]
	return s, ok
}

func (t *seenTokens) put(token string, s Session) {
	sh := &t.shards[maphash.String(t.seed, token)%64]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.entries) >= seenPerShard {
		for k := range sh.entries { // drop an arbitrary one
			delete(sh.entries, k)
			break
		}
	}
	sh.entries[token] = s
}

// NewSessions builds the token issuer from a key of at least 32 bytes.
func NewSessions(key []byte, ttl time.Duration, clock Clock, loc *time.Location, revoked *Revocations) *Sessions {
	seen := &seenTokens{seed: maphash.MakeSeed()}
	for i := range seen.shards {
		seen.shards[i].entries = map[string]Session{}
	}
	return &Sessions{key: append([]byte(nil), key...), ttl: ttl, clock: clock, days: NewDays(loc), Revoked: revoked, seen: seen}
}

// Issue returns a token for the account's current state and its expiry. p
// is the account's bound person (nil when none).
func (s *Sessions) Issue(a *Account, p *Person) (string, time.Time) {
	return s.sign(s.sessionOf(a, p, s.ttl))
}

// IssuePage returns the session of an H5 page opened with a ticket, valid
// for ttl.
func (s *Sessions) IssuePage(a *Account, p *Person, purpose, relativeID string, ttl time.Duration) (string, time.Time) {
	sess := s.sessionOf(a, p, ttl)
	sess.Scope, sess.Purpose, sess.RelativeID = ScopePage, purpose, relativeID
	return s.sign(sess)
}

func (s *Sessions) sessionOf(a *Account, p *Person, ttl time.Duration) Session {
	now := s.clock.Now()
	sess := Session{
		AccountID: a.ID, Platform: a.Platform, Version: a.SessionVersion,
		FaceOn: a.FaceVerifiedOn, Claimed: a.IdentityPending(), IssuedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix(),
	}
	if a.PersonID != nil && p != nil && p.ID == *a.PersonID {
		sess.PersonID, sess.PersonNo, sess.MaskedName, sess.MaskedDoc = p.ID, p.No, p.MaskedName, p.MaskedDoc
	}
	return sess
}

func (s *Sessions) sign(sess Session) (string, time.Time) {
	exp := sess.ExpiresAt
	payload, _ := json.Marshal(sess)
	body := tokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body)), time.Unix(exp, 0).UTC()
}

// Verify checks a mini-program token's signature, expiry and revocation and
// returns its session. Failures are *Error of KindUnauthorized.
func (s *Sessions) Verify(token string) (Session, error) {
	return s.verify(token, "")
}

// VerifyPage checks an H5 page's session cookie like Verify.
func (s *Sessions) VerifyPage(token string) (Session, error) {
	return s.verify(token, ScopePage)
}

func (s *Sessions) verify(token, scope string) (Session, error) {
	if token == "" {
		return Session{}, errNoSession
	}
	sess, ok := s.seen.get(token)
	if !ok {
		var err error
		if sess, err = s.decode(token); err != nil {
			return Session{}, err
		}
		s.seen.put(token, sess)
	}
	if sess.Scope != scope {
		return Session{}, errBadSession
	}
	if s.clock.Now().Unix() >= sess.ExpiresAt {
		return Session{}, errExpiredSession
	}
	if s.Revoked != nil && s.Revoked.IsRevoked(sess.AccountID, sess.Version) {
		return Session{}, fault.Errorf(fault.KindUnauthorized, fault.CodeSessionRevoked, "您已退出登录，请重新登录")
	}
	return sess, nil
}

// decode checks a token's signature and decodes its session.
func (s *Sessions) decode(token string) (Session, error) {
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
	// A token from before person numbers names a person but not their
	// number, by which the status book finds their colour: reading it would
	// show anyone green. It must be renewed by logging in again.
	if sess.PersonID != "" && sess.PersonNo == 0 {
		return Session{}, errExpiredSession
	}
	return sess, nil
}

// FaceVerifiedToday reports whether the session's face verification passed
// on today's date in the service time zone.
func (s *Sessions) FaceVerifiedToday(sess Session) bool {
	return sess.FaceOn != "" && sess.FaceOn == s.days.Of(s.clock.Now()).Date
}

func (s *Sessions) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}
