package codetoken

import (
	"bytes"
	"errors"

	"github.com/fxamacker/cbor/v2"
)

// Codes are signed with go-cose (Sign), but every scan at a gate checks
// one, so the check decodes the COSE_Sign1 envelope itself: into fixed
// shapes with fxamacker/cbor rather than through go-cose's generic header
// maps, which took about 50 allocations a code. It accepts only what Sign
// makes, a subset of what go-cose accepts (a test holds the two to that):
//
//	18([ bstr .cbor {1: -8, 4: kid}, {}, bstr payload, bstr signature ])
//
// The unprotected header must be empty: nothing unsigned rides in a code.

// cborTagSign1 is the COSE_Sign1 tag, 18, as its one-byte CBOR head.
const cborTagSign1 = 0xd2

// sign1 is a COSE_Sign1 message (RFC 9052 §4.2) without its tag.
type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage // must be the empty map
	Payload     []byte
	Signature   []byte

	kid []byte // from the protected header
}

// protectedHeader is the protected header a code carries: alg and kid,
// nothing else.
type protectedHeader struct {
	Alg int64  `cbor:"1,keyasint"`
	Kid []byte `cbor:"4,keyasint"`
}

// algEdDSA is COSE's algorithm number for EdDSA.
const algEdDSA = -8

var envelopeDecMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		// No tags inside (the outer 18 is checked by hand): a tag on the
		// payload or a header is not covered by the signature, so allowing
		// one would let anyone vary a genuine code's bytes.
		TagsMd: cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

var errEnvelope = errors.New("not a COSE_Sign1 code envelope")

// emptyMap is the CBOR empty map.
var emptyMap = []byte{0xa0}

// decodeSign1 decodes a tagged COSE_Sign1 envelope of the shape above.
func decodeSign1(raw []byte) (*sign1, error) {
	if len(raw) < 2 || raw[0] != cborTagSign1 {
		return nil, errEnvelope
	}
	var m sign1
	if err := envelopeDecMode.Unmarshal(raw[1:], &m); err != nil {
		return nil, err
	}
	// The empty map exactly: not null, not a map with headers in it.
	if !bytes.Equal(m.Unprotected, emptyMap) || len(m.Payload) == 0 || len(m.Signature) == 0 {
		return nil, errEnvelope
	}
	var h protectedHeader
	if err := envelopeDecMode.Unmarshal(m.Protected, &h); err != nil {
		return nil, err
	}
	if h.Alg != algEdDSA || len(h.Kid) == 0 {
		return nil, errEnvelope
	}
	m.kid = h.Kid
	return &m, nil
}

// toBeSigned is the Sig_structure the signature covers (RFC 9052 §4.4):
// ["Signature1", protected, external_aad = h”, payload], deterministically
// encoded as go-cose encodes it.
func (m *sign1) toBeSigned() []byte {
	const context = "Signature1"
	b := make([]byte, 0, 1+1+len(context)+9+len(m.Protected)+1+9+len(m.Payload))
	b = append(b, 0x84)                    // array of 4
	b = append(b, 0x60|byte(len(context))) // text string of 10
	b = append(b, context...)
	b = appendByteString(b, m.Protected)
	b = append(b, 0x40) // external_aad: the empty byte string
	return appendByteString(b, m.Payload)
}

// appendByteString appends v as a CBOR byte string with its shortest head.
func appendByteString(b, v []byte) []byte {
	const major = 0x40
	switch n := uint64(len(v)); {
	case n < 24:
		b = append(b, major|byte(n))
	case n <= 0xff:
		b = append(b, major|24, byte(n))
	case n <= 0xffff:
		b = append(b, major|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		b = append(b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		b = append(b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, v...)
}
