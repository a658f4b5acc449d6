package codetoken

import (
	"crypto/ed25519"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"
)

// The expanded-key verifier must accept exactly what crypto/ed25519 accepts:
// peers check our codes with whatever RFC 8032 library they have, and a
// faster check that let through one signature more would be a forgery.

// agree reports a disagreement between crypto/ed25519 and the verifier.
func agree(t *testing.T, k *Key, msg, sig []byte) {
	t.Helper()
	want := ed25519.Verify(k.Public, msg, sig)
	got := k.verifier.Verify(msg, sig) == nil
	if got != want {
		t.Fatalf("verifier says %v, crypto/ed25519 says %v, for message %x signature %x", got, want, msg, sig)
	}
}

func TestVerifierAgreesWithStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		k := GenerateKey(time.Now())
		other := GenerateKey(time.Now())
		msg := make([]byte, 1+rng.IntN(300))
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		sig := ed25519.Sign(k.private, msg)
		if k.verifier.Verify(msg, sig) != nil || ed25519.Verify(k.Public, msg, addOrder(sig)) {
			t.Fatal("the test's own signatures are wrong: a valid one refused or S+L accepted")
		}
		agree(t, k, msg, sig)     // valid
		agree(t, other, msg, sig) // another key
		agree(t, k, msg[1:], sig) // another message
		agree(t, k, msg, sig[:63])
		agree(t, k, msg, append(sig, 0))
		for bit := range len(sig) * 8 { // every single bit flipped
			bad := append([]byte(nil), sig...)
			bad[bit/8] ^= 1 << (bit % 8)
			agree(t, k, msg, bad)
		}
		// S + L: the same signature with a non-canonical S, which RFC 8032
		// and crypto/ed25519 refuse (malleability).
		agree(t, k, msg, addOrder(sig))
		// R replaced by small-order points (identity, and order 2).
		for _, r := range [][]byte{identityPoint(), orderTwoPoint()} {
			bad := append(append([]byte(nil), r...), sig[32:]...)
			agree(t, k, msg, bad)
		}
	}
}

// addOrder returns sig with L, the group order, added to S.
func addOrder(sig []byte) []byte {
	l := [4]uint64{0x5812631a5cf5d3ed, 0x14def9dea2f79cd6, 0, 0x1000000000000000}
	out := append([]byte(nil), sig...)
	var carry uint64
	for i := range 4 {
		var sum uint64
		sum, carry = bits.Add64(binary.LittleEndian.Uint64(out[32+8*i:]), l[i], carry)
		binary.LittleEndian.PutUint64(out[32+8*i:], sum)
	}
	return out
}

func identityPoint() []byte { p := make([]byte, 32); p[0] = 1; return p }

func orderTwoPoint() []byte { // (0, -1): y = p - 1
	p := make([]byte, 32)
	p[0] = 0xec
	for i := 1; i < 31; i++ {
		p[i] = 0xff
	}
	p[31] = 0x7f
	return p
}

func FuzzVerifierAgreesWithStdlib(f *testing.F) {
	k, _ := NewKey(make([]byte, 32), time.Unix(0, 0))
	msg := []byte("healthcode")
	sig := ed25519.Sign(k.private, msg)
	f.Add(msg, sig)
	f.Add(msg, addOrder(sig))
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		agree(t, k, msg, sig)
	})
}
