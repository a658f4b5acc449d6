package models

import (
	"testing"
	"time"

	"healthcode/models/fault"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func TestSessionsIssueAndVerify(t *testing.T) {
	clock := &fixedClock{time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	revoked := NewRevocations()
	s := NewSessions(make([]byte, 32), time.Hour, clock, loc, revoked)
	pid := "person-1"
	a := &Account{ID: "acct-1", Platform: PlatformWeChat, SessionVersion: 3, FaceVerifiedOn: "2026-11-23", PersonID: &pid}
	p := &Person{ID: pid, No: 42, MaskedName: "张*", MaskedDoc: "11**2X"}
	token, exp := s.Issue(a, p)
	if !exp.Equal(clock.t.Add(time.Hour)) {
		t.Errorf("expiry %v", exp)
	}
	for range 2 { // the second check is answered from the cache of seen tokens
		got, err := s.Verify(token)
		if err != nil || got.AccountID != "acct-1" || got.PersonID != pid || got.MaskedName != "张*" || got.Version != 3 || !s.FaceVerifiedToday(got) {
			t.Fatalf("Verify = %+v, %v", got, err)
		}
	}
	// Scope is checked even for a cached token: a bearer token is no page cookie.
	if _, err := s.VerifyPage(token); fault.CodeOf(err) != fault.CodeUnauthorized {
		t.Errorf("bearer token as a page cookie: %v", err)
	}
	page, _ := s.IssuePage(a, p, TicketCode, "", time.Minute)
	if _, err := s.Verify(page); fault.CodeOf(err) != fault.CodeUnauthorized {
		t.Errorf("page cookie as a bearer token: %v", err)
	}
	tampered := token[:len(token)-2] + "AA"
	if _, err := s.Verify(tampered); fault.CodeOf(err) != fault.CodeUnauthorized {
		t.Errorf("tampered: %v", err)
	}
	// Revocation and expiry are checked on every request, cached or not.
	revoked.Update([]SessionRevocation{{AccountID: "acct-1", Version: 4, CreatedAt: clock.t}}, false, time.Time{})
	if _, err := s.Verify(token); fault.CodeOf(err) != fault.CodeSessionRevoked {
		t.Errorf("after logout: %v", err)
	}
	a.SessionVersion = 4
	fresh, _ := s.Issue(a, p)
	s.Verify(fresh)
	clock.t = clock.t.Add(time.Hour)
	if _, err := s.Verify(fresh); fault.CodeOf(err) != fault.CodeSessionExpired {
		t.Errorf("expired: %v", err)
	}
	// Midnight in Shanghai ends the day's face check.
	clock.t = time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	if got, _ := s.decode(fresh); s.FaceVerifiedToday(got) {
		t.Error("face check still counts after midnight")
	}
	// A pending identity (not the bound person) stays out of the token.
	other := &Person{ID: "someone-else", MaskedName: "李*"}
	tok, _ := s.Issue(&Account{ID: "acct-2", SessionVersion: 1}, other)
	if got, _ := s.decode(tok); got.PersonID != "" || got.MaskedName != "" {
		t.Errorf("unbound account token carries %+v", got)
	}
}

// The revocation set forgets an account once every token its logout ended
// has expired, so it holds one token lifetime of logouts at most.
func TestRevocationsForgetAfterATokenLifetime(t *testing.T) {
	r := NewRevocations()
	now := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	r.Update([]SessionRevocation{{ID: 1, AccountID: "old", Version: 2, CreatedAt: now.Add(-8 * 24 * time.Hour)},
		{ID: 2, AccountID: "recent", Version: 3, CreatedAt: now.Add(-time.Hour)}}, true, now.Add(-7*24*time.Hour))
	if r.IsRevoked("old", 1) || !r.IsRevoked("recent", 2) || r.IsRevoked("recent", 3) || r.Len() != 1 {
		t.Errorf("old %v, recent %v/%v, %d held", r.IsRevoked("old", 1), r.IsRevoked("recent", 2), r.IsRevoked("recent", 3), r.Len())
	}
	r.Update(nil, true, now.Add(time.Minute))
	if r.Len() != 0 {
		t.Errorf("%d held after every entry expired", r.Len())
	}
}
