package models

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"healthcode/models/document"
)

func testVault(t *testing.T) *Vault {
	t.Helper()
	k1, k2 := make([]byte, 32), make([]byte, 32)
	rand.Read(k1)
	rand.Read(k2)
	v, err := NewVault(k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVaultRoundTrip(t *testing.T) {
	v := testVault(t)
	sealed := v.Seal("张三", "person.name")
	if bytes.Contains(sealed, []byte("张三")) {
		t.Fatal("sealed value holds the plaintext")
	}
	if again := v.Seal("张三", "person.name"); bytes.Equal(again, sealed) {
		t.Error("two seals of one value are equal: nonce reused")
	}
	got, err := v.Open(sealed, "person.name")
	if err != nil || got != "张三" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestVaultRefuses(t *testing.T) {
	v := testVault(t)
	sealed := v.Seal("11010519491231002X", "person.doc")
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, c := range map[string]struct {
		v       *Vault
		sealed  []byte
		purpose string
	}{
		"other purpose": {v, sealed, "person.name"},
		"other key":     {testVault(t), sealed, "person.doc"},
		"tampered":      {v, tampered, "person.doc"},
		"truncated":     {v, sealed[:10], "person.doc"},
		"empty":         {v, nil, "person.doc"},
	} {
		if _, err := c.v.Open(c.sealed, c.purpose); !errors.Is(err, ErrUnseal) {
			t.Errorf("%s: err = %v, want ErrUnseal", name, err)
		}
	}
}

func TestDocumentHash(t *testing.T) {
	v := testVault(t)
	a := v.DocumentHash(document.Document{Type: document.ResidentID, Number: "11010519491231002X"})
	if !bytes.Equal(a, v.DocumentHash(document.Document{Type: document.ResidentID, Number: "11010519491231002X"})) {
		t.Error("hash is not stable")
	}
	if bytes.Equal(a, v.DocumentHash(document.Document{Type: document.Passport, Number: "11010519491231002X"})) {
		t.Error("hash ignores the document type")
	}
	if bytes.Equal(a, testVault(t).DocumentHash(document.Document{Type: document.ResidentID, Number: "11010519491231002X"})) {
		t.Error("hash ignores the key")
	}
	if len(a) != 32 {
		t.Errorf("hash is %d bytes", len(a))
	}
}
