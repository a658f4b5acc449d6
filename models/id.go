package models

import (
	"crypto/rand"
	"encoding/base32"
	"time"
)

// NewID returns a random opaque identifier of 26 lower-case characters.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return idEncoding.EncodeToString(b)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewOrderedID returns a random identifier that sorts by t: six bytes of
// Unix milliseconds, then ten random, in an alphabet whose text order is
// its numeric order. A table keyed by it is written at its end, the way an
// auto-increment key is, and its old rows are its first keys.
func NewOrderedID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	rand.Read(b[6:])
	return orderedEncoding.EncodeToString(b[:])
}

// orderedEncoding is base32hex, in lower case: "0" < "9" < "a" < "v".
var orderedEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)
