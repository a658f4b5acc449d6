package codetoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/veraison/go-cose"
)

// Key is one Ed25519 signing key and its key id.
type Key struct {
	ID        string
	Public    ed25519.PublicKey
	CreatedAt time.Time
	// RetiredAt is when a newer key replaced this one; zero while active.
	RetiredAt time.Time
	// Development marks a key generated on a developer's machine.
	Development bool

	private  ed25519.PrivateKey
	signer   cose.Signer
	verifier cose.Verifier
}

// NewKey builds a key from a 32-byte seed. The kid is the first 8 bytes of
// the SHA-256 of the public key, base64url.
func NewKey(seed []byte, created time.Time) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key seed must be %d bytes", ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, priv)
	if err != nil {
		return nil, err
	}
	verifier, err := newEdVerifier(pub)
	if err != nil {
		return nil, err
	}
	return &Key{ID: base64.RawURLEncoding.EncodeToString(sum[:8]), Public: pub, CreatedAt: created,
		private: priv, signer: signer, verifier: verifier}, nil
}

// edVerifier checks EdDSA signatures for go-cose against a public key
// expanded once into precomputed tables (curve25519-voi), which makes a check
// about 40 % cheaper than crypto/ed25519's: signature checks are most of a
// scan's CPU. It accepts exactly what crypto/ed25519 accepts (the stdlib
// rules preset; a differential test holds the two together).
type edVerifier struct {
	key *voi.ExpandedPublicKey
}

var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

func newEdVerifier(pub ed25519.PublicKey) (edVerifier, error) {
	key, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return edVerifier{}, fmt.Errorf("expand public key: %w", err)
	}
	return edVerifier{key: key}, nil
}

func (edVerifier) Algorithm() cose.Algorithm { return cose.AlgorithmEdDSA }

func (v edVerifier) Verify(content, signature []byte) error {
	if !voi.VerifyExpandedWithOptions(v.key, content, signature, stdlibRules) {
		return cose.ErrVerification
	}
	return nil
}

// KeyFromJWK returns the verifying half of a key published as a JWK (a peer
// region's, or our own read back): kty OKP, crv Ed25519, a 32-byte x, a
// kid, and alg EdDSA if given. A JWK with exp is a retired key: its
// retirement is exp less LongestLifetime. Anything else is an error; the
// key can verify, never sign.
func KeyFromJWK(j JWK) (*Key, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != "EdDSA") || j.Kid == "" || len(j.Kid) > 64 {
		return nil, fmt.Errorf("JWK %q is not an Ed25519 signing key", j.Kid)
	}
	x, err := base64.RawURLEncoding.DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("JWK %q: x is not a 32-byte base64url public key", j.Kid)
	}
	verifier, err := newEdVerifier(ed25519.PublicKey(x))
	if err != nil {
		return nil, fmt.Errorf("JWK %q: %w", j.Kid, err)
	}
	k := &Key{ID: j.Kid, Public: ed25519.PublicKey(x), verifier: verifier}
	if j.Exp != 0 {
		k.RetiredAt = time.Unix(j.Exp, 0).Add(-LongestLifetime)
	}
	return k, nil
}

// GenerateKey makes a fresh random key.
func GenerateKey(created time.Time) *Key {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	k, _ := NewKey(seed, created)
	return k
}

// Keyring holds the signing keys: the active one signs, every published one
// verifies. Readers see an immutable snapshot that Replace swaps whole. It
// is safe for concurrent use; its zero value holds no keys.
type Keyring struct {
	snap atomic.Pointer[keyringSnapshot]
}

type keyringSnapshot struct {
	active *Key
	byID   map[string]*Key
	keys   []*Key
}

// NewKeyring returns a keyring of keys; the newest unretired key signs.
func NewKeyring(keys ...*Key) (*Keyring, error) {
	r := &Keyring{}
	return r, r.Replace(keys)
}

// Replace swaps in a new set of keys (after a rotation on disk). Keys must
// not change once handed to a keyring.
func (r *Keyring) Replace(keys []*Key) error {
	sorted := append([]*Key(nil), keys...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].CreatedAt.Before(sorted[j].CreatedAt) })
	next := &keyringSnapshot{byID: map[string]*Key{}, keys: sorted}
	for _, k := range sorted {
		next.byID[k.ID] = k
		if k.RetiredAt.IsZero() && k.private != nil {
			next.active = k
		}
	}
	if next.active == nil {
		return errors.New("no active signing key")
	}
	r.snap.Store(next)
	return nil
}

// Active returns the key that signs new codes (nil before the first Replace).
func (r *Keyring) Active() *Key {
	if s := r.snap.Load(); s != nil {
		return s.active
	}
	return nil
}

// Lookup returns the published key with kid, or nil.
func (r *Keyring) Lookup(kid string) *Key {
	if s := r.snap.Load(); s != nil {
		return s.byID[kid]
	}
	return nil
}

// ForIssuer returns a KeyLookup that trusts this keyring for codes of
// region and knows no other issuer.
func (r *Keyring) ForIssuer(region string) KeyLookup {
	return func(issuer, kid string) (*Key, bool) {
		if issuer != region {
			return nil, false
		}
		return r.Lookup(kid), true
	}
}

// Keys returns every published key, oldest first.
func (r *Keyring) Keys() []*Key {
	if s := r.snap.Load(); s != nil {
		return append([]*Key(nil), s.keys...)
	}
	return nil
}

// JWK is a public key as published at /.well-known/healthcode-keys.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	// Exp, on a retired key only, is when the last code it signed expires
	// at the latest (its retirement plus LongestLifetime), in seconds since
	// the epoch: a verifier may forget the key after that. A code the key
	// signed after its retirement is invalid.
	Exp int64 `json:"exp,omitempty"`
}

// JWKS returns the published keys as a JSON Web Key Set's keys.
func (r *Keyring) JWKS() []JWK {
	keys := r.Keys()
	out := make([]JWK, 0, len(keys))
	for _, k := range keys {
		jwk := JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), Kid: k.ID, Use: "sig", Alg: "EdDSA"}
		if !k.RetiredAt.IsZero() {
			jwk.Exp = k.RetiredAt.Add(LongestLifetime).Unix()
		}
		out = append(out, jwk)
	}
	return out
}

// keyFile is a signing key on disk.
type keyFile struct {
	Kid         string    `json:"kid"`
	Seed        string    `json:"seed"`
	CreatedAt   time.Time `json:"created_at"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	Development bool      `json:"development,omitempty"`
}

// LoadDir reads every *.json key file in dir. With generate set and no key
// there yet, it first writes a new development key (mode 0600). Keys retired
// longer than keep ago are no longer published and are left out.
func LoadDir(dir string, generate bool, now time.Time, keep time.Duration) ([]*Key, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 && generate {
		if _, err := WriteNewKey(dir, now, true); err != nil {
			return nil, err
		}
		paths, _ = filepath.Glob(filepath.Join(dir, "*.json"))
	}
	var keys []*Key
	for _, p := range paths {
		k, err := readKeyFile(p)
		if err != nil {
			return nil, err
		}
		if !k.RetiredAt.IsZero() && now.Sub(k.RetiredAt) > keep {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no signing keys in %s (run `app keys rotate` to make one)", dir)
	}
	return keys, nil
}

// DirState summarises the key files in dir (names, sizes and modification
// times), so a caller can tell a rotation on disk from nothing changed
// without reading and parsing every key.
func DirState(dir string) (string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s %d %d\n", filepath.Base(p), fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

func readKeyFile(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	var f keyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	seed, err := base64.StdEncoding.DecodeString(f.Seed)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: seed is not base64", path)
	}
	k, err := NewKey(seed, f.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if f.Kid != "" && f.Kid != k.ID {
		return nil, fmt.Errorf("signing key %s: kid %s does not match its key", path, f.Kid)
	}
	k.RetiredAt, k.Development = f.RetiredAt, f.Development
	return k, nil
}

// WriteNewKey adds a new active key to dir, retiring the keys active until
// now (they stay published until their codes expire), and returns it.
func WriteNewKey(dir string, now time.Time, development bool) (*Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var f keyFile
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("signing key %s: %w", p, err)
		}
		if f.RetiredAt.IsZero() {
			f.RetiredAt = now.UTC()
			if err := writeKeyFile(p, f, false); err != nil {
				return nil, err
			}
		}
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	k, _ := NewKey(seed, now.UTC())
	k.Development = development
	f := keyFile{Kid: k.ID, Seed: base64.StdEncoding.EncodeToString(seed), CreatedAt: now.UTC(), Development: development}
	return k, writeKeyFile(filepath.Join(dir, now.UTC().Format("20060102T150405")+"-"+k.ID+".json"), f, true)
}

// writeKeyFile writes through a temporary file and a rename, so a reader
// never sees half a key; exclusive refuses to replace an existing file.
func writeKeyFile(path string, f keyFile, exclusive bool) error {
	raw, _ := json.MarshalIndent(f, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if exclusive {
		if err := os.Link(tmp.Name(), path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("signing key %s exists already", path)
			}
			return err
		}
		return nil
	}
	return os.Rename(tmp.Name(), path)
}
