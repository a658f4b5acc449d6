package codetoken

import (
	"bytes"
	"errors"
	"testing"
)

// The examples of RFC 9285, section 4.
func TestBase45RFCExamples(t *testing.T) {
	for plain, encoded := range map[string]string{
		"AB": "BB8", "Hello!!": "%69 VD92EX0", "base-45": "UJCLQE7W581", "ietf!": "QED8WEX0", "": "",
	} {
		if got := EncodeBase45([]byte(plain)); got != encoded {
			t.Errorf("EncodeBase45(%q) = %q, want %q", plain, got, encoded)
		}
		got, err := DecodeBase45(encoded)
		if err != nil || string(got) != plain {
			t.Errorf("DecodeBase45(%q) = %q, %v", encoded, got, err)
		}
	}
}

func TestBase45Refuses(t *testing.T) {
	for _, bad := range []string{"GGW", "A", "BB8A", "bb8", "BB\x00", "ZZ"} {
		if _, err := DecodeBase45(bad); !errors.Is(err, ErrBase45) {
			t.Errorf("DecodeBase45(%q) err = %v, want ErrBase45", bad, err)
		}
	}
}

func FuzzBase45(f *testing.F) {
	for _, s := range [][]byte{nil, []byte("AB"), []byte("Hello!!"), {0xff, 0xff}, {0}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		enc := EncodeBase45(b)
		dec, err := DecodeBase45(enc)
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("round trip of %x: %x, %v", b, dec, err)
		}
		// Decoding arbitrary text must never panic.
		DecodeBase45(string(b))
	})
}
