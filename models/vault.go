package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"healthcode/models/document"
)

// sealVersion is the first byte of every sealed value, so the format or the
// key can change later without guessing.
const sealVersion = 1

// ErrUnseal reports a sealed value that does not open: the wrong key, a
// different purpose, or tampering.
var ErrUnseal = errors.New("sealed value does not open")

// Vault encrypts personal data at rest (AES-256-GCM) and computes keyed
// hashes (HMAC-SHA256) used to find a document without storing it in clear.
// It is safe for concurrent use.
type Vault struct {
	aead    cipher.AEAD
	hashKey []byte
}

// NewVault builds a vault from a 32-byte encryption key and a hash key of at
// least 32 bytes.
func NewVault(encryptionKey, hashKey []byte) (*Vault, error) {
	if len(encryptionKey) != 32 {
		return nil, fmt.Errorf("encryption key must be 32 bytes, got %d", len(encryptionKey))
	}
	if len(hashKey) < 32 {
		return nil, fmt.Errorf("hash key must be at least 32 bytes, got %d", len(hashKey))
	}
	block, err := aes.NewCipher(encryptionKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Vault{aead: aead, hashKey: append([]byte(nil), hashKey...)}, nil
}

// Seal encrypts plaintext. purpose (for example "person.name") is bound as
// associated data, so a value sealed for one column does not open as another.
func (v *Vault) Seal(plaintext, purpose string) []byte {
	nonce := make([]byte, v.aead.NonceSize(), 1+v.aead.NonceSize()+len(plaintext)+v.aead.Overhead())
	rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return v.aead.Seal(out, nonce, []byte(plaintext), []byte(purpose))
}

// Open decrypts a value sealed for purpose. It returns ErrUnseal when the
// value was sealed with another key or purpose or has been altered.
func (v *Vault) Open(sealed []byte, purpose string) (string, error) {
	ns := v.aead.NonceSize()
	if len(sealed) < 1+ns+v.aead.Overhead() || sealed[0] != sealVersion {
		return "", ErrUnseal
	}
	plain, err := v.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(purpose))
	if err != nil {
		return "", ErrUnseal
	}
	return string(plain), nil
}

// DocumentHash returns the keyed hash that identifies a document: the same
// type and normalised number always give the same 32 bytes.
func (v *Vault) DocumentHash(d document.Document) []byte {
	return v.hash("doc", string(d.Type), d.Number)
}

// Hash returns a keyed hash of parts under a domain label, for lookups of
// other values (phone numbers, reference-data keys).
func (v *Vault) Hash(domain string, parts ...string) []byte {
	return v.hash(domain, parts...)
}

func (v *Vault) hash(domain string, parts ...string) []byte {
	m := hmac.New(sha256.New, v.hashKey)
	m.Write([]byte(domain))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}
