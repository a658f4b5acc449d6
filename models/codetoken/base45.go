package codetoken

import (
	"errors"
	"strings"
)

// base45Alphabet is RFC 9285's: every character is in a QR code's
// alphanumeric mode, so a QR code holds the text compactly.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

var base45Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = int8(i)
	}
	return t
}()

// ErrBase45 reports text that is not valid base45.
var ErrBase45 = errors.New("invalid base45")

// EncodeBase45 encodes b as RFC 9285 base45: each two bytes become three
// characters, a trailing byte two.
func EncodeBase45(b []byte) string {
	var sb strings.Builder
	sb.Grow((len(b)/2)*3 + 2)
	for i := 0; i+1 < len(b); i += 2 {
		n := int(b[i])<<8 | int(b[i+1])
		sb.WriteByte(base45Alphabet[n%45])
		sb.WriteByte(base45Alphabet[(n/45)%45])
		sb.WriteByte(base45Alphabet[n/2025])
	}
	if len(b)%2 == 1 {
		n := int(b[len(b)-1])
		sb.WriteByte(base45Alphabet[n%45])
		sb.WriteByte(base45Alphabet[n/45])
	}
	return sb.String()
}

// DecodeBase45 decodes RFC 9285 base45. It returns ErrBase45 for a character
// outside the alphabet, a length that leaves one character over, or a group
// whose value does not fit its bytes.
func DecodeBase45(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, ErrBase45
	}
	out := make([]byte, 0, len(s)/3*2+1)
	for i := 0; i < len(s); i += 3 {
		group := s[i:min(i+3, len(s))]
		n := 0
		for j := len(group) - 1; j >= 0; j-- {
			v := base45Index[group[j]]
			if v < 0 {
				return nil, ErrBase45
			}
			n = n*45 + int(v)
		}
		if len(group) == 3 {
			if n > 0xFFFF {
				return nil, ErrBase45
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xFF {
				return nil, ErrBase45
			}
			out = append(out, byte(n))
		}
	}
	return out, nil
}
