package codetoken

import (
	"testing"
	"time"
)

func BenchmarkSign(b *testing.B) {
	k := GenerateKey(issued)
	c := sample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(k, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAndCheck(b *testing.B) {
	k := GenerateKey(issued)
	ring, _ := NewKeyring(k)
	code, _ := Sign(k, sample())
	now := issued.Add(10 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse(code, ring.ForIssuer("310000"))
		if err != nil || c.Check(now, Rules{Skew: 5 * time.Second, Dynamic: time.Minute}) != nil {
			b.Fatal(err)
		}
	}
}
