package codetoken

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var issued = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

func sample() Claims {
	return Claims{
		Issuer: "310000", Subject: "h4ndl3", IssuedAt: issued, ExpiresAt: issued.Add(60 * time.Second),
		Kind: KindRelative, Colour: "yellow", MaskedName: "欧阳**", MaskedDoc: "11**************2X",
		Serial: 3, Holder: "acct-1", Link: "link-1",
	}
}

func mustSign(t *testing.T, k *Key, c Claims) string {
	t.Helper()
	code, err := Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestRoundTripKeepsEveryClaim(t *testing.T) {
	k := GenerateKey(issued)
	ring, _ := NewKeyring(k)
	code := mustSign(t, k, sample())
	if !strings.HasPrefix(code, Prefix) || strings.Trim(code[len(Prefix):], base45Alphabet) != "" {
		t.Fatalf("code %q is not HC1JKM: + base45", code)
	}
	got, err := Parse(code, ring.ForIssuer("310000"))
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	if len(got.ID) != 12 {
		t.Errorf("cti = %x, want 12 random bytes", got.ID)
	}
	got.ID = nil
	if !got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("times = %v %v", got.IssuedAt, got.ExpiresAt)
	}
	got.IssuedAt, got.ExpiresAt, want.IssuedAt, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %+v\nwant     %+v", got, want)
	}
	if again := mustSign(t, k, sample()); again == code {
		t.Error("two codes with the same claims are equal: cti is not random")
	}
	if strings.Contains(code, "11010519491231002X") {
		t.Error("code holds a document number")
	}
}

func TestCheck(t *testing.T) {
	skew := 5 * time.Second
	retired := issued.Add(-time.Hour)
	for _, tt := range []struct {
		name   string
		change func(*Claims)
		now    time.Time
		iss    []string
		want   error
	}{
		{"fresh", nil, issued.Add(10 * time.Second), []string{"310000"}, nil},
		{"just expired, within skew", nil, issued.Add(64 * time.Second), []string{"310000"}, nil},
		{"expired beyond skew", nil, issued.Add(66 * time.Second), []string{"310000"}, ErrExpired},
		{"a screenshot from yesterday", nil, issued.Add(24 * time.Hour), []string{"310000"}, ErrExpired},
		{"clock behind, within skew", nil, issued.Add(-4 * time.Second), []string{"310000"}, nil},
		{"issued in the future", nil, issued.Add(-10 * time.Second), []string{"310000"}, ErrNotYetValid},
		{"a year-long dynamic code", func(c *Claims) { c.ExpiresAt = c.IssuedAt.AddDate(1, 0, 0) }, issued, []string{"310000"}, ErrLifetime},
		{"a lifetime within skew", func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(64 * time.Second) }, issued, []string{"310000"}, nil},
		{"a lifetime beyond skew", func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(66 * time.Second) }, issued, []string{"310000"}, ErrLifetime},
		{"a nucleic code of 30 days", func(c *Claims) { c.Kind, c.ExpiresAt = KindNucleic, c.IssuedAt.Add(NucleicLifetime) }, issued, []string{"310000"}, nil},
		{"an offline code of 181 days", func(c *Claims) { c.Kind, c.ExpiresAt = KindOffline, c.IssuedAt.AddDate(0, 0, 181) }, issued, []string{"310000"}, ErrLifetime},
		{"a kind never issued", func(c *Claims) { c.Kind = "coupon" }, issued, []string{"310000"}, ErrLifetime},
		{"signed after its key retired", func(c *Claims) { c.KeyRetiredAt = retired }, issued, []string{"310000"}, ErrRetiredKey},
		{"signed before its key retired", func(c *Claims) { c.KeyRetiredAt = issued.Add(time.Second) }, issued.Add(10 * time.Second), []string{"310000"}, nil},
		{"signed just after retirement, within skew", func(c *Claims) { c.KeyRetiredAt = issued.Add(-4 * time.Second) }, issued, []string{"310000"}, nil},
	} {
		c := sample()
		if tt.change != nil {
			tt.change(&c)
		}
		if err := c.Check(tt.now, Rules{Skew: skew, Dynamic: time.Minute}); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// Parse says when the signing key was retired, and the JWKS marks retired
// keys with when their last code expires.
func TestRetiredKeys(t *testing.T) {
	old, current := GenerateKey(issued.Add(-48*time.Hour)), GenerateKey(issued)
	old.RetiredAt = issued.Add(-time.Hour)
	ring, err := NewKeyring(old, current)
	if err != nil || ring.Active() != current {
		t.Fatalf("ring: %v, active %v", err, ring.Active())
	}
	c, err := Parse(mustSign(t, old, sample()), ring.ForIssuer("310000"))
	if err != nil || !c.KeyRetiredAt.Equal(old.RetiredAt) {
		t.Fatalf("Parse = %+v, %v; want KeyRetiredAt %v", c, err, old.RetiredAt)
	}
	jwks := ring.JWKS()
	if len(jwks) != 2 || jwks[0].Exp != old.RetiredAt.Add(LongestLifetime).Unix() || jwks[1].Exp != 0 {
		t.Errorf("JWKS = %+v", jwks)
	}
}

func TestParseRefuses(t *testing.T) {
	k := GenerateKey(issued)
	ring, _ := NewKeyring(k)
	code := mustSign(t, k, sample())
	raw, _ := DecodeBase45(code[len(Prefix):])

	other := GenerateKey(issued)
	otherRing, _ := NewKeyring(other)
	// A code signed by another key that claims our kid.
	forged := *other
	forged.ID = k.ID
	forgedCode := mustSign(t, &forged, sample())

	tests := map[string]struct {
		code string
		ring *Keyring
		want error
	}{
		"unknown kid":             {code, otherRing, ErrUnknownKey},
		"wrong key under our kid": {forgedCode, ring, ErrBadSignature},
		"no prefix":               {code[len(Prefix):], ring, ErrMalformed},
		"other prefix":            {"HC1:" + code[len(Prefix):], ring, ErrMalformed},
		"not base45":              {Prefix + "abc", ring, ErrMalformed},
		"not COSE":                {Prefix + EncodeBase45([]byte("hello")), ring, ErrMalformed},
		"empty":                   {"", ring, ErrMalformed},
		"huge":                    {Prefix + strings.Repeat("0", 5000), ring, ErrMalformed},
	}
	for name, tt := range tests {
		if _, err := Parse(tt.code, tt.ring.ForIssuer("310000")); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
	// The issuer picks the key set before the kid picks the key: our own
	// key under another region's name is not a code of that region.
	if _, err := Parse(code, ring.ForIssuer("440100")); !errors.Is(err, ErrWrongIssuer) {
		t.Errorf("a code of an issuer we hold no keys for: %v, want ErrWrongIssuer", err)
	}
	peers := func(issuer, kid string) (*Key, bool) {
		switch issuer {
		case "310000":
			return ring.Lookup(kid), true
		case "440100":
			return otherRing.Lookup(kid), true
		}
		return nil, false
	}
	if _, err := Parse(code, peers); err != nil {
		t.Errorf("a code of a trusted issuer among several: %v", err)
	}
	peerCode := mustSign(t, other, func() Claims { c := sample(); c.Issuer = "440100"; return c }())
	if _, err := Parse(peerCode, peers); err != nil {
		t.Errorf("a peer region's code: %v", err)
	}
	if _, err := Parse(peerCode, ring.ForIssuer("310000")); !errors.Is(err, ErrWrongIssuer) {
		t.Errorf("a peer's code without its keys: %v", err)
	}

	// Flip each byte in turn: no altered code may verify.
	for i := range raw {
		altered := bytes.Clone(raw)
		altered[i] ^= 0x01
		if _, err := Parse(Prefix+EncodeBase45(altered), ring.ForIssuer("310000")); err == nil {
			t.Fatalf("a code with byte %d altered verified", i)
		}
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	start := issued
	keys, err := LoadDir(dir, true, start, 200*24*time.Hour)
	if err != nil || len(keys) != 1 || !keys[0].Development {
		t.Fatalf("first load = %v, %v", keys, err)
	}
	info, _ := os.Stat(mustGlob(t, dir))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", info.Mode().Perm())
	}
	ring, _ := NewKeyring(keys...)
	old := ring.Active()
	oldCode := mustSign(t, old, sample())

	if _, err := WriteNewKey(dir, start.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	keys, err = LoadDir(dir, true, start.Add(time.Hour), 200*24*time.Hour)
	if err != nil || len(keys) != 2 {
		t.Fatalf("after rotation: %d keys, %v", len(keys), err)
	}
	ring.Replace(keys)
	if ring.Active().ID == old.ID {
		t.Fatal("rotation did not change the active key")
	}
	if _, err := Parse(oldCode, ring.ForIssuer("310000")); err != nil {
		t.Errorf("a code of the retired key no longer verifies: %v", err)
	}
	if len(ring.JWKS()) != 2 {
		t.Errorf("JWKS has %d keys, want both", len(ring.JWKS()))
	}
	// Once the retired key's codes have all expired, it is no longer published.
	keys, _ = LoadDir(dir, true, start.Add(201*24*time.Hour), 200*24*time.Hour)
	ring.Replace(keys)
	if _, err := Parse(oldCode, ring.ForIssuer("310000")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a long-retired key still verifies: %v", err)
	}
}

func mustGlob(t *testing.T, dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(m) == 0 {
		t.Fatal("no key file")
	}
	return m[0]
}

func TestJWKS(t *testing.T) {
	k := GenerateKey(issued)
	ring, _ := NewKeyring(k)
	j := ring.JWKS()
	if len(j) != 1 || j[0].Kty != "OKP" || j[0].Crv != "Ed25519" || j[0].Alg != "EdDSA" || j[0].Use != "sig" || j[0].Kid != k.ID || len(j[0].X) != 43 {
		t.Errorf("JWKS = %+v", j)
	}
}

// FuzzParse feeds arbitrary text to the decoder: it must never panic and
// never yield claims the key did not sign.
func FuzzParse(f *testing.F) {
	k, _ := NewKey(bytes.Repeat([]byte{7}, 32), issued)
	ring, _ := NewKeyring(k)
	code, _ := Sign(k, sample())
	f.Add(code)
	f.Add(Prefix)
	f.Add(Prefix + "BB8")
	f.Add(code[:len(code)-3])
	f.Add("HC1:" + code[len(Prefix):])
	want := sample()
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s, ring.ForIssuer("310000"))
		if err != nil {
			return
		}
		// Only what the key signed can come out: whatever the input, an
		// accepted code carries exactly the signed claims.
		if c.Subject != want.Subject || c.Colour != want.Colour || c.MaskedName != want.MaskedName ||
			c.Holder != want.Holder || !c.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("accepted %q with claims the key did not sign: %+v", s, c)
		}
	})
}

// A key published as a JWK verifies what its private half signed, keeps its
// retirement, and signs nothing; malformed JWKs are refused.
func TestKeyFromJWK(t *testing.T) {
	own, current := GenerateKey(issued.Add(-48*time.Hour)), GenerateKey(issued)
	own.RetiredAt = issued.Add(time.Minute)
	ring, _ := NewKeyring(own, current)
	var peers []*Key
	for _, j := range ring.JWKS() {
		k, err := KeyFromJWK(j)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, k)
	}
	if !peers[0].RetiredAt.Equal(own.RetiredAt) || !peers[1].RetiredAt.IsZero() || peers[0].private != nil {
		t.Errorf("keys from JWKs: %+v", peers)
	}
	lookup := func(issuer, kid string) (*Key, bool) {
		for _, k := range peers {
			if k.ID == kid {
				return k, issuer == "310000"
			}
		}
		return nil, issuer == "310000"
	}
	c, err := Parse(mustSign(t, own, sample()), lookup)
	if err != nil || !c.KeyRetiredAt.Equal(own.RetiredAt) {
		t.Errorf("a code checked with a JWK key: %+v, %v", c, err)
	}
	if _, err := NewKeyring(peers...); err == nil {
		t.Error("a keyring of public keys found a key to sign with")
	}
	good := ring.JWKS()[1]
	for name, change := range map[string]func(*JWK){
		"RSA":        func(j *JWK) { j.Kty = "RSA" },
		"X25519":     func(j *JWK) { j.Crv = "X25519" },
		"short x":    func(j *JWK) { j.X = j.X[:20] },
		"not base64": func(j *JWK) { j.X = "!!" + j.X[2:] },
		"no kid":     func(j *JWK) { j.Kid = "" },
		"other alg":  func(j *JWK) { j.Alg = "ES256" },
	} {
		j := good
		change(&j)
		if _, err := KeyFromJWK(j); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
