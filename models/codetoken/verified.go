package codetoken

import (
	"strings"
	"sync"
)

// VerifiedCodes remembers codes whose signature held, by their exact text,
// so a code presented again and again — a venue's poster, scanned by every
// visitor — is not verified again while the key that signed it is still
// the one the lookup answers for its issuer and kid (keys never change once
// published; a rotation or withdrawal answers another key or none, and the
// code is verified afresh). Only the signature is remembered: times are for
// Check at each use. It remembers codes of one kind only, at most a bounded
// number of them, and is safe for concurrent use.
type VerifiedCodes struct {
	kind    string
	limit   int
	mu      sync.RWMutex
	entries map[string]verifiedCode
}

type verifiedCode struct {
	claims Claims
	kid    string
	key    *Key
}

// NewVerifiedCodes returns a cache of at most limit codes of kind.
func NewVerifiedCodes(kind string, limit int) *VerifiedCodes {
	return &VerifiedCodes{kind: kind, limit: max(limit, 1), entries: map[string]verifiedCode{}}
}

// Parse is Parse, answered from the codes already verified when the same
// text comes again and lookup still gives the same key for it. Errors are
// Parse's.
func (v *VerifiedCodes) Parse(code string, lookup KeyLookup) (Claims, error) {
	code = strings.TrimSpace(code)
	v.mu.RLock()
	e, ok := v.entries[code]
	v.mu.RUnlock()
	if ok {
		if key, trusted := lookup(e.claims.Issuer, e.kid); trusted && key == e.key {
			c := e.claims
			c.ID = append([]byte(nil), e.claims.ID...)
			return c, nil
		}
	}
	c, key, err := parse(code, lookup)
	if err != nil || c.Kind != v.kind {
		return c, err
	}
	v.mu.Lock()
	if len(v.entries) >= v.limit {
		// Full: start again rather than track ages; the codes worth keeping
		// come back at once.
		clear(v.entries)
	}
	v.entries[code] = verifiedCode{claims: c, kid: key.ID, key: key}
	c.ID = append([]byte(nil), c.ID...)
	v.mu.Unlock()
	return c, nil
}
