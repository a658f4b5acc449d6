package codetoken

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/veraison/go-cose"
)

// The envelope decoder must never accept what go-cose, the library codes are
// made with, would refuse, and must read what it accepts the same way: an
// envelope one accepts and the other reads differently is where forgeries
// hide. It may refuse more (anything Sign never makes).

// goCoseOpen is the reference: go-cose's own decoding and verification, as
// Parse did it before, returning the kid and payload it vouches for.
func goCoseOpen(raw []byte, k *Key) (kid, payload []byte, ok bool) {
	var msg cose.Sign1Message
	if msg.UnmarshalCBOR(raw) != nil {
		return nil, nil, false
	}
	kid, isBytes := msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if alg, err := msg.Headers.Protected.Algorithm(); !isBytes || err != nil || alg != cose.AlgorithmEdDSA {
		return nil, nil, false
	}
	if msg.Verify(nil, k.verifier) != nil {
		return nil, nil, false
	}
	return kid, msg.Payload, true
}

// ourOpen is the decoder under test with the same key.
func ourOpen(raw []byte, k *Key) (kid, payload []byte, ok bool) {
	m, err := decodeSign1(raw)
	if err != nil || k.verifier.Verify(m.toBeSigned(), m.Signature) != nil {
		return nil, nil, false
	}
	return m.kid, m.Payload, true
}

// noLaxer fails when ours accepts raw and go-cose does not, or they read it
// differently; it returns whether ours accepted.
func noLaxer(t *testing.T, k *Key, raw []byte) bool {
	t.Helper()
	kid, payload, ok := ourOpen(raw, k)
	refKid, refPayload, refOK := goCoseOpen(raw, k)
	if ok && (!refOK || !bytes.Equal(kid, refKid) || !bytes.Equal(payload, refPayload)) {
		t.Fatalf("accepted %x: go-cose says ok=%v kid=%x payload=%x, we read kid=%x payload=%x",
			raw, refOK, refKid, refPayload, kid, payload)
	}
	return ok
}

// bstr is a CBOR byte string of v with the shortest head (form 0), or with
// a one-byte length even when shorter would do (form 24).
func bstr(v []byte, form byte) []byte {
	if form == 24 {
		return append([]byte{0x58, byte(len(v))}, v...)
	}
	return appendByteString(nil, v)
}

// envelope builds a tagged COSE_Sign1 of the given parts, signed over the
// Sig_structure of protected and payload with k (a valid signature for
// whatever the header says).
type envelope struct {
	tag         []byte // default: 18
	protected   []byte // the header map's bytes
	protForm    byte
	unprotected []byte // raw CBOR; default: the empty map
	payload     []byte
	extraItem   []byte // a fifth array element
	trailing    []byte
}

func (e envelope) build(k *Key) []byte {
	tbs := (&sign1{Protected: e.protected, Payload: e.payload}).toBeSigned()
	sig := ed25519.Sign(k.private, tbs)
	var b []byte
	if e.tag == nil {
		b = append(b, cborTagSign1)
	} else {
		b = append(b, e.tag...)
	}
	if e.extraItem != nil {
		b = append(b, 0x85)
	} else {
		b = append(b, 0x84)
	}
	b = append(b, bstr(e.protected, e.protForm)...)
	if e.unprotected == nil {
		b = append(b, 0xa0)
	} else {
		b = append(b, e.unprotected...)
	}
	b = append(b, bstr(e.payload, 0)...)
	b = append(b, bstr(sig, 0)...)
	b = append(b, e.extraItem...)
	return append(b, e.trailing...)
}

// protectedOf encodes a protected header {1: alg, 4: kid} plus extra pairs
// (already encoded), in that order.
func protectedOf(alg []byte, kid []byte, extra ...[]byte) []byte {
	n := 0
	var pairs []byte
	if alg != nil {
		pairs = append(append(pairs, 0x01), alg...)
		n++
	}
	if kid != nil {
		pairs = append(append(pairs, 0x04), kid...)
		n++
	}
	for _, x := range extra {
		pairs = append(pairs, x...)
		n++
	}
	return append([]byte{0xa0 | byte(n)}, pairs...)
}

func TestEnvelopeNoLaxerThanGoCose(t *testing.T) {
	k := GenerateKey(issued)
	code, err := Sign(k, sample())
	if err != nil {
		t.Fatal(err)
	}
	own, err := DecodeBase45(code[len(Prefix):])
	if err != nil {
		t.Fatal(err)
	}
	if !noLaxer(t, k, own) {
		t.Fatal("a code Sign made was refused")
	}
	if _, _, ok := goCoseOpen(own, k); !ok {
		t.Fatal("go-cose refused a code Sign made")
	}

	kid := bstr([]byte(k.ID), 0)
	edDSA := []byte{0x27} // -8
	payload := []byte{0xa1, 0x01, 0x63, 'a', 'b', 'c'}
	good := envelope{protected: protectedOf(edDSA, kid), payload: payload}
	if !noLaxer(t, k, good.build(k)) {
		t.Fatal("the hand-built equivalent of a code was refused")
	}
	// A longer-than-needed head on the protected bytes changes nothing
	// signed: both read it.
	long := good
	long.protForm = 24
	noLaxer(t, k, long.build(k))

	refused := map[string]envelope{
		"untagged":                 {tag: []byte{}, protected: good.protected, payload: payload},
		"tag 98 (COSE_Sign)":       {tag: []byte{0xd8, 0x62}, protected: good.protected, payload: payload},
		"tag 17 (COSE_Mac0)":       {tag: []byte{0xd1}, protected: good.protected, payload: payload},
		"five elements":            {protected: good.protected, payload: payload, extraItem: []byte{0x40}},
		"trailing byte":            {protected: good.protected, payload: payload, trailing: []byte{0x00}},
		"unprotected kid":          {protected: protectedOf(edDSA, nil), unprotected: append([]byte{0xa1, 0x04}, kid...), payload: payload},
		"unprotected extra header": {protected: good.protected, unprotected: []byte{0xa1, 0x03, 0x00}, payload: payload},
		"unprotected not a map":    {protected: good.protected, unprotected: []byte{0x80}, payload: payload},
		"unprotected null":         {protected: good.protected, unprotected: []byte{0xf6}, payload: payload}, // found by the fuzz target
		"alg ES256":                {protected: protectedOf([]byte{0x26}, kid), payload: payload},
		"alg as text":              {protected: protectedOf([]byte{0x65, 'E', 'd', 'D', 'S', 'A'}, kid), payload: payload},
		"no alg":                   {protected: protectedOf(nil, kid), payload: payload},
		"no kid":                   {protected: protectedOf(edDSA, nil), payload: payload},
		"kid as text":              {protected: protectedOf(edDSA, append([]byte{0x60 | byte(len(k.ID))}, k.ID...)), payload: payload},
		"empty kid":                {protected: protectedOf(edDSA, []byte{0x40}), payload: payload},
		"content type header":      {protected: protectedOf(edDSA, kid, []byte{0x03, 0x00}), payload: payload},
		"crit header":              {protected: protectedOf(edDSA, kid, []byte{0x02, 0x81, 0x03}), payload: payload},
		"text label":               {protected: protectedOf(edDSA, kid, []byte{0x61, 'x', 0x00}), payload: payload},
		"duplicate alg":            {protected: protectedOf(edDSA, kid, []byte{0x01, 0x27}), payload: payload},
		"empty protected":          {protected: []byte{}, payload: payload},
		"protected not a map":      {protected: []byte{0x80}, payload: payload},
		"protected trailing":       {protected: append(protectedOf(edDSA, kid), 0x00), payload: payload},
		"indefinite protected map": {protected: append(append(append([]byte{0xbf, 0x01}, edDSA...), append([]byte{0x04}, kid...)...), 0xff), payload: payload},
		"empty payload":            {protected: good.protected, payload: []byte{}},
	}
	for name, e := range refused {
		if noLaxer(t, k, e.build(k)) {
			t.Errorf("%s: accepted", name)
		}
	}
	// Framing the builder cannot make, each validly signed: protected bytes
	// as an indefinite-length byte string, a detached (null) payload, a null
	// signature, tags on the parts.
	sig := ed25519.Sign(k.private, (&sign1{Protected: good.protected, Payload: payload}).toBeSigned())
	start := []byte{cborTagSign1, 0x84}
	for name, raw := range map[string][]byte{
		"indefinite protected": concat(start, []byte{0x5f}, bstr(good.protected, 0), []byte{0xff, 0xa0}, bstr(payload, 0), bstr(sig, 0)),
		"detached payload":     concat(start, bstr(good.protected, 0), []byte{0xa0, 0xf6}, bstr(sig, 0)),
		"null signature":       concat(start, bstr(good.protected, 0), []byte{0xa0}, bstr(payload, 0), []byte{0xf6}),
		// Found by the fuzz target: a tag (here 14) before the payload,
		// which the signature does not cover.
		"tagged payload":   concat(start, bstr(good.protected, 0), []byte{0xa0, 0xce}, bstr(payload, 0), bstr(sig, 0)),
		"tagged protected": concat(start, []byte{0xce}, bstr(good.protected, 0), []byte{0xa0}, bstr(payload, 0), bstr(sig, 0)),
		"tagged signature": concat(start, bstr(good.protected, 0), []byte{0xa0}, bstr(payload, 0), []byte{0xce}, bstr(sig, 0)),
	} {
		if noLaxer(t, k, raw) {
			t.Errorf("%s: accepted", name)
		}
	}
	// Every single bit of a real code flipped: never laxer, and never
	// accepted (the signature or the structure breaks).
	for bit := range len(own) * 8 {
		bad := append([]byte(nil), own...)
		bad[bit/8] ^= 1 << (bit % 8)
		if noLaxer(t, k, bad) {
			t.Errorf("accepted %x with bit %d flipped", bad, bit)
		}
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// FuzzEnvelopeNoLaxerThanGoCose signs whatever protected header, unprotected
// header and payload the fuzzer makes, so the headers are explored with
// valid signatures, and holds the decoder to go-cose.
func FuzzEnvelopeNoLaxerThanGoCose(f *testing.F) {
	k := GenerateKey(issued)
	kid := bstr([]byte(k.ID), 0)
	f.Add(protectedOf([]byte{0x27}, kid), []byte{0xa0}, []byte{0xa1, 0x01, 0x61, 'x'})
	f.Add(protectedOf([]byte{0x27}, kid, []byte{0x03, 0x00}), []byte{0xa1, 0x04, 0x40}, []byte{0x01})
	f.Add([]byte{0xa0}, []byte{0xa1, 0x01, 0x27}, []byte{0x01})
	f.Fuzz(func(t *testing.T, protected, unprotected, payload []byte) {
		noLaxer(t, k, envelope{protected: protected, unprotected: unprotected, payload: payload}.build(k))
	})
}

// The Sig_structure is built by hand; its byte-string heads must be the
// shortest form, as a deterministic CBOR encoder writes them.
func TestAppendByteStringMatchesDeterministicCBOR(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536} {
		v := bytes.Repeat([]byte{0xab}, n)
		want, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendByteString(nil, v); !bytes.Equal(got, want) {
			t.Errorf("length %d: head %x, want %x", n, got[:min(len(got), 9)], want[:min(len(want), 9)])
		}
	}
}
