package codetoken

import (
	"errors"
	"reflect"
	"testing"
)

func venueClaims(subject string) Claims {
	c := sample()
	c.Kind, c.Subject, c.VenueName, c.VenueAddress = KindVenue, subject, "某店", "上海市徐汇区漕溪北路88号"
	return c
}

// A remembered code answers as Parse does while its key stands, and is
// verified afresh once the key is withdrawn or replaced.
func TestVerifiedCodesFollowTheKeys(t *testing.T) {
	k := GenerateKey(issued)
	ring, _ := NewKeyring(k)
	lookup := ring.ForIssuer("310000")
	codes := NewVerifiedCodes(KindVenue, 10)
	code := mustSign(t, k, venueClaims("venue-1"))
	want, err := Parse(code, lookup)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := codes.Parse(" "+code+" ", lookup)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("remembered parse = %+v, %v; want %+v", got, err, want)
		}
		got.ID[0] ^= 0xff // the caller's copy, not the cache's
	}
	if len(codes.entries) != 1 {
		t.Errorf("%d codes remembered, want 1", len(codes.entries))
	}
	// Another issuer's lookup does not trust it, remembered or not.
	if _, err := codes.Parse(code, ring.ForIssuer("440000")); !errors.Is(err, ErrWrongIssuer) {
		t.Errorf("under another issuer = %v, want ErrWrongIssuer", err)
	}
	// The key withdrawn: the remembered code is unknown like any other.
	other := GenerateKey(issued)
	if err := ring.Replace([]*Key{other}); err != nil {
		t.Fatal(err)
	}
	if _, err := codes.Parse(code, lookup); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("after the key was withdrawn = %v, want ErrUnknownKey", err)
	}
	// A forged key under the same kid is not the key that verified it.
	forged := GenerateKey(issued)
	forged.ID = k.ID
	ring.Replace([]*Key{forged})
	if _, err := codes.Parse(code, lookup); !errors.Is(err, ErrBadSignature) {
		t.Errorf("under another key with the same kid = %v, want ErrBadSignature", err)
	}
}

// Only codes of the cache's kind whose signature held are remembered, and
// never more than the limit.
func TestVerifiedCodesRememberOnlyGoodCodesOfTheirKind(t *testing.T) {
	k := GenerateKey(issued)
	ring, _ := NewKeyring(k)
	lookup := ring.ForIssuer("310000")
	codes := NewVerifiedCodes(KindVenue, 2)
	personal := mustSign(t, k, sample())
	if _, err := codes.Parse(personal, lookup); err != nil {
		t.Fatal(err)
	}
	venue := mustSign(t, k, venueClaims("venue-1"))
	tampered := venue[:len(venue)-2] + "00"
	if _, err := codes.Parse(tampered, lookup); err == nil {
		t.Error("a tampered venue code parsed")
	}
	if len(codes.entries) != 0 {
		t.Errorf("%d codes remembered, want none (a personal code, a tampered one)", len(codes.entries))
	}
	for i := range 5 {
		if _, err := codes.Parse(mustSign(t, k, venueClaims("venue-"+string(rune('a'+i)))), lookup); err != nil {
			t.Fatal(err)
		}
		if len(codes.entries) > 2 {
			t.Fatalf("%d codes remembered, limit 2", len(codes.entries))
		}
	}
}
