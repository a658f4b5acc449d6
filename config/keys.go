package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the size in bytes of every symmetric key.
const KeySize = 32

// devKeyMarker heads every key file generated in development, so production
// can recognise and refuse one.
const devKeyMarker = "# healthcode development key, generated on first run; never use in production"

// KeyMaterial holds the symmetric keys the service needs.
type KeyMaterial struct {
	// Encryption is the AES-256-GCM key for names, documents and session keys at rest.
	Encryption []byte
	// Hash is the HMAC-SHA256 key for document lookups.
	Hash []byte
	// Session signs login tokens.
	Session []byte
	// OperatorKeys authorise operator requests.
	OperatorKeys []string
	// NewOperatorKey is the operator key generated on this run (development,
	// first run only), to be shown once; empty otherwise.
	NewOperatorKey string
}

// SigningKeyDir is where the code-signing keys live: the configured
// directory, or <data dir>/keys/signing in development.
func (c Config) SigningKeyDir() string {
	if c.Keys.SigningKeyDir != "" {
		return c.Keys.SigningKeyDir
	}
	return filepath.Join(c.DataDir, "keys", "signing")
}

// LoadKeys reads the configured key files. In development a missing
// location falls back to <data dir>/keys/<name>.key, generated on first run
// with mode 0600. In production every location must be configured and a
// generated development key is refused. Errors name the file at fault but
// never its contents.
func LoadKeys(c Config) (KeyMaterial, error) {
	var km KeyMaterial
	for _, k := range []struct {
		name, file string
		dst        *[]byte
	}{
		{"encryption", c.Keys.EncryptionKeyFile, &km.Encryption},
		{"hash", c.Keys.HashKeyFile, &km.Hash},
		{"session", c.Keys.SessionKeyFile, &km.Session},
	} {
		path := k.file
		if path == "" {
			if c.Production() {
				return km, fmt.Errorf("production mode needs a configured %s key file", k.name)
			}
			path = filepath.Join(c.DataDir, "keys", k.name+".key")
			if err := generateKeyFile(path); err != nil {
				return km, err
			}
		}
		key, dev, err := readKeyFile(path)
		if err != nil {
			return km, err
		}
		if dev && c.Production() {
			return km, fmt.Errorf("production mode refuses the generated development key %s", path)
		}
		*k.dst = key
	}
	km.OperatorKeys = c.OperatorKeys
	if len(km.OperatorKeys) == 0 && !c.Production() {
		path := filepath.Join(c.DataDir, "keys", "operator.key")
		_, statErr := os.Stat(path)
		if err := generateKeyFile(path); err != nil {
			return km, err
		}
		key, _, err := readKeyFile(path)
		if err != nil {
			return km, err
		}
		op := base64.RawURLEncoding.EncodeToString(key)
		km.OperatorKeys = []string{op}
		if errors.Is(statErr, fs.ErrNotExist) {
			km.NewOperatorKey = op
		}
	}
	return km, nil
}

func generateKeyFile(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	key := make([]byte, KeySize)
	rand.Read(key)
	content := devKeyMarker + "\n" + base64.StdEncoding.EncodeToString(key) + "\n"
	// Write a temporary file and link it into place, so a concurrent reader
	// never sees a half-written key and the first process to finish wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	return nil
}

// readKeyFile reads base64 key material, skipping lines that start with '#'.
// It reports whether the file is a generated development key.
func readKeyFile(path string) (key []byte, dev bool, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("read key file: %w", err)
	}
	var body []byte
	for line := range bytes.Lines(raw) {
		line = bytes.TrimSpace(line)
		if bytes.Equal(line, []byte(devKeyMarker)) {
			dev = true
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		body = append(body, line...)
	}
	key, err = base64.StdEncoding.DecodeString(string(body))
	if err != nil || len(key) != KeySize {
		return nil, dev, fmt.Errorf("key file %s must hold base64 of %d random bytes", path, KeySize)
	}
	return key, dev, nil
}
