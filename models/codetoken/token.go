// Package codetoken is the format of what a health-code QR holds: a CWT
// (RFC 8392) in a COSE_Sign1 envelope (RFC 9052) signed with Ed25519, encoded
// base45 (RFC 9285) behind the prefix "HC1JKM:", so a QR code can use
// alphanumeric mode. Anyone with the published keys can check a code offline.
package codetoken

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Prefix starts every code.
const Prefix = "HC1JKM:"

// maxCodeLength bounds the text accepted from a scanner.
const maxCodeLength = 4096

// Kinds of code.
const (
	KindPersonal = "personal"
	KindRelative = "relative"
	KindOffline  = "offline"
	KindNucleic  = "nucleic"
	KindVenue    = "venue"
)

// Claims is what a code says. Subject is an opaque handle, never a document
// number; the masked name and document let a verifier compare with the
// person in front of them.
type Claims struct {
	Issuer  string
	Subject string
	// PersonNo is the subject's dense number in the issuer's status book
	// (0 when the issuer does not say), so a verifier of ours reads the
	// live colour by index.
	PersonNo   uint32
	IssuedAt   time.Time
	ExpiresAt  time.Time
	ID         []byte // cti: random, unique per code
	Kind       string
	Colour     string // at issue; verifiers show the current one
	MaskedName string
	MaskedDoc  string
	Serial     int64  // offline codes: bumped on reissue or loss
	Holder     string // relative codes: the account holding the code
	Link       string // relative codes: the link that allows it
	// VenueName and VenueAddress are a venue code's place; its Subject is
	// the venue id and its Serial the venue's code generation (bumped on
	// rotation).
	VenueName    string
	VenueAddress string
	// KeyRetiredAt is when the key that signed the code was retired (zero
	// while it signs). Parse sets it from the key; it is not in the code.
	KeyRetiredAt time.Time
}

// Lifetimes of the kinds of code that live longer than a dynamic code's
// configured lifetime. LongestLifetime is the longest of all: a retired key
// stays published that long after its retirement.
const (
	NucleicLifetime = 30 * 24 * time.Hour
	OfflineLifetime = 180 * 24 * time.Hour
	LongestLifetime = OfflineLifetime
	// VenueLifetime is a venue code's: it does not expire while the venue
	// is active (the venue registry revokes it when the venue ends or
	// rotates its code), so it is signed to outlive any poster. A retired
	// key is still published only LongestLifetime after its retirement.
	VenueLifetime = 100 * 365 * 24 * time.Hour
)

// Rules are what Check holds verified claims to.
type Rules struct {
	// Skew is how far the verifier's and the issuer's clocks may disagree.
	Skew time.Duration
	// Dynamic is the lifetime of the dynamic kinds (personal, relative).
	Dynamic time.Duration
}

// Lifetime returns the longest exp − iat a code of kind may have, or 0 for a
// kind this version does not issue.
func (r Rules) Lifetime(kind string) time.Duration {
	switch kind {
	case KindPersonal, KindRelative:
		return r.Dynamic
	case KindNucleic:
		return NucleicLifetime
	case KindOffline:
		return OfflineLifetime
	case KindVenue:
		return VenueLifetime
	}
	return 0
}

// cwt is the CBOR shape of the claims (RFC 8392 integer keys).
type cwt struct {
	Iss string `cbor:"1,keyasint"`
	Sub string `cbor:"2,keyasint"`
	Exp int64  `cbor:"4,keyasint"`
	Iat int64  `cbor:"6,keyasint"`
	Cti []byte `cbor:"7,keyasint"`
	// HC is the private claim (key -70001) with the health-code fields.
	HC hcClaims `cbor:"-70001,keyasint"`
}

type hcClaims struct {
	Kind       string `cbor:"k"`
	Colour     string `cbor:"c"`
	MaskedName string `cbor:"n"`
	MaskedDoc  string `cbor:"d"`
	Serial     int64  `cbor:"s,omitempty"`
	Holder     string `cbor:"h,omitempty"`
	Link       string `cbor:"l,omitempty"`
	PersonNo   uint32 `cbor:"i,omitempty"`
	Place      string `cbor:"p,omitempty"`
	Address    string `cbor:"a,omitempty"`
}

// Errors of Verify. Each means the code must not be accepted.
var (
	ErrMalformed    = errors.New("code is not a well-formed health code")
	ErrUnknownKey   = errors.New("code is signed with an unknown key")
	ErrBadSignature = errors.New("code signature does not verify")
	ErrExpired      = errors.New("code has expired")
	ErrNotYetValid  = errors.New("code is issued in the future")
	ErrWrongIssuer  = errors.New("code is issued by an untrusted region")
	ErrLifetime     = errors.New("code lives longer than its kind allows")
	ErrRetiredKey   = errors.New("code is signed by a key after its retirement")
)

var (
	encMode = func() cbor.EncMode {
		m, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
	decMode = func() cbor.DecMode {
		m, err := cbor.DecOptions{
			DupMapKey:        cbor.DupMapKeyEnforcedAPF,
			MaxNestedLevels:  8,
			MaxArrayElements: 64,
			MaxMapPairs:      64,
			IndefLength:      cbor.IndefLengthForbidden,
		}.DecMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
)

// Sign makes a code of claims with key.
func Sign(key *Key, c Claims) (string, error) {
	if len(c.ID) == 0 {
		c.ID = make([]byte, 12)
		rand.Read(c.ID)
	}
	payload, err := encMode.Marshal(cwt{
		Iss: c.Issuer, Sub: c.Subject, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(), Cti: c.ID,
		HC: hcClaims{Kind: c.Kind, Colour: c.Colour, MaskedName: c.MaskedName, MaskedDoc: c.MaskedDoc,
			Serial: c.Serial, Holder: c.Holder, Link: c.Link, PersonNo: c.PersonNo,
			Place: c.VenueName, Address: c.VenueAddress},
	})
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmEdDSA)
	msg.Headers.Protected[cose.HeaderLabelKeyID] = []byte(key.ID)
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, key.signer); err != nil {
		return "", fmt.Errorf("sign code: %w", err)
	}
	raw, err := msg.MarshalCBOR()
	if err != nil {
		return "", fmt.Errorf("encode code: %w", err)
	}
	return Prefix + EncodeBase45(raw), nil
}

// KeyLookup finds the key with kid among the keys of issuer. trusted is
// false when no key set is known for issuer at all.
type KeyLookup func(issuer, kid string) (key *Key, trusted bool)

// Parse decodes a code and checks its signature: the issuer named in the
// payload selects the key set, then the kid in the protected header the
// key. It does not check times; see Check. Errors: ErrMalformed,
// ErrWrongIssuer, ErrUnknownKey, ErrBadSignature.
func Parse(code string, lookup KeyLookup) (Claims, error) {
	c, _, err := parse(strings.TrimSpace(code), lookup)
	return c, err
}

// parse is Parse of a trimmed code; it also returns the key that verified it.
func parse(code string, lookup KeyLookup) (Claims, *Key, error) {
	body, ok := strings.CutPrefix(code, Prefix)
	if !ok || len(code) > maxCodeLength {
		return Claims{}, nil, ErrMalformed
	}
	raw, err := DecodeBase45(body)
	if err != nil {
		return Claims{}, nil, ErrMalformed
	}
	env, err := decodeSign1(raw)
	if err != nil {
		return Claims{}, nil, ErrMalformed
	}
	// The payload is read before the signature is checked only to learn
	// whose keys to check it with; nothing else of it is used until then.
	var c cwt
	if err := decMode.Unmarshal(env.Payload, &c); err != nil || c.Sub == "" || c.Exp == 0 {
		return Claims{}, nil, ErrMalformed
	}
	key, trusted := lookup(c.Iss, string(env.kid))
	switch {
	case !trusted:
		return Claims{}, nil, ErrWrongIssuer
	case key == nil:
		return Claims{}, nil, ErrUnknownKey
	}
	if err := key.verifier.Verify(env.toBeSigned(), env.Signature); err != nil {
		return Claims{}, nil, ErrBadSignature
	}
	return Claims{
		Issuer: c.Iss, Subject: c.Sub, IssuedAt: time.Unix(c.Iat, 0), ExpiresAt: time.Unix(c.Exp, 0), ID: c.Cti,
		Kind: c.HC.Kind, Colour: c.HC.Colour, MaskedName: c.HC.MaskedName, MaskedDoc: c.HC.MaskedDoc,
		Serial: c.HC.Serial, Holder: c.HC.Holder, Link: c.HC.Link, PersonNo: c.HC.PersonNo, KeyRetiredAt: key.RetiredAt,
		VenueName: c.HC.Place, VenueAddress: c.HC.Address,
	}, key, nil
}

// Check says whether verified claims hold at now under rules: living no
// longer than their kind allows, signed before their key's retirement, not
// expired and not issued in the future, each time allowing the skew for
// clocks that disagree. (Whose code it is was settled by Parse's key
// lookup.) Errors: ErrLifetime, ErrRetiredKey, ErrExpired, ErrNotYetValid.
func (c Claims) Check(now time.Time, rules Rules) error {
	lifetime := rules.Lifetime(c.Kind)
	switch {
	case lifetime == 0 || c.ExpiresAt.Sub(c.IssuedAt) > lifetime+rules.Skew:
		return ErrLifetime
	case !c.KeyRetiredAt.IsZero() && c.IssuedAt.After(c.KeyRetiredAt.Add(rules.Skew)):
		return ErrRetiredKey
	case now.After(c.ExpiresAt.Add(rules.Skew)):
		return ErrExpired
	case c.IssuedAt.After(now.Add(rules.Skew)):
		return ErrNotYetValid
	}
	return nil
}
