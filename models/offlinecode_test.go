package models_test

import (
	"context"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/codetoken"
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
