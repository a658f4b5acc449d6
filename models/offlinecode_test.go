package models_test

import (
	"context"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func TestOfflineEligible(t *testing.T) {
	now := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		birth string
		want  bool
	}{
		{"1961-11-23", true},  // 65
		{"1966-11-23", true},  // 60 today
		{"1966-11-24", false}, // 60 tomorrow
		{"1996-05-01", false}, // 30
		{"2010-03-01", true},  // 16
		{"2008-11-23", false}, // 18 today
		{"2008-11-24", true},  // 17, 18 tomorrow
		{"", false},           // no birth date
	} {
		if got := models.OfflineEligible(c.birth, now, shanghai); got != c.want {
			t.Errorf("born %q: eligible %v, want %v", c.birth, got, c.want)
		}
	}
}

// TestCheckerWithoutOfflineBook: a checker not given the offline book (an
// older node) answers an offline code unsupported_kind, never valid.
func TestCheckerWithoutOfflineBook(t *testing.T) {
	now := time.Now()
	key := codetoken.GenerateKey(now.Add(-time.Hour))
	ring, _ := codetoken.NewKeyring(key)
	qr, err := codetoken.Sign(key, codetoken.Claims{Issuer: "310000", Subject: "p", PersonNo: 1, Kind: codetoken.KindOffline,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), Serial: 1})
	if err != nil {
		t.Fatal(err)
	}
	rules := codetoken.Rules{Skew: time.Minute, Dynamic: time.Minute}
	without := models.NewChecker(nil, "310000", ring.ForIssuer("310000"), rules, models.NewStatusBook(), models.NewVenueBook(), models.SystemClock{})
	if v, err := without.Check(context.Background(), qr); err != nil || v.Result != models.ResultInvalid || v.Reason != models.ReasonUnsupportedKind {
		t.Errorf("without the book: %+v, %v", v, err)
	}
	with := models.NewChecker(nil, "310000", ring.ForIssuer("310000"), rules, models.NewStatusBook(), models.NewVenueBook(), models.SystemClock{}).WithOffline(models.NewOfflineBook())
	if v, err := with.Check(context.Background(), qr); err != nil || v.Result != models.ResultValid {
		t.Errorf("with the book: %+v, %v", v, err)
	}
}

// downLinks is a link store that is down.
type downLinks struct{ asked *int }

func (d downLinks) LinkStatus(context.Context, string) (string, error) {
	*d.asked++
	return "", fault.ErrUnavailable
}

// A relative's 核酸码 is checked against its link where it identifies
// (a sampling point), and there only: verify answers it no health code
// without asking, so with the database down too.
func TestANucleicCodeAsksItsLinkOnlyToIdentify(t *testing.T) {
	now := time.Now()
	key := codetoken.GenerateKey(now.Add(-time.Hour))
	ring, _ := codetoken.NewKeyring(key)
	qr, err := codetoken.Sign(key, codetoken.Claims{Issuer: "310000", Subject: "p", PersonNo: 1, Kind: codetoken.KindNucleic,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), Holder: "a", Link: "l"})
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	ch := models.NewChecker(downLinks{&asked}, "310000", ring.ForIssuer("310000"), codetoken.Rules{Skew: time.Minute, Dynamic: time.Minute},
		models.NewStatusBook(), models.NewVenueBook(), models.SystemClock{})
	if v, err := ch.Check(context.Background(), qr); err != nil || v.Result != models.ResultInvalid || v.Reason != models.ReasonNotHealthCode || asked != 0 {
		t.Errorf("check: %+v, %v, the link asked %d times", v, err, asked)
	}
	if _, err := ch.Identify(context.Background(), qr); fault.KindOf(err) != fault.KindUnavailable || asked != 1 {
		t.Errorf("identify: %v, the link asked %d times", err, asked)
	}
}
