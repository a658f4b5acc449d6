package models

import (
	"context"
	"fmt"
	"sync"
)

// verifiersVersionName names the verifier roles' version counter.
const verifiersVersionName = "verifiers"

// VerifierBook holds the active verifiers in memory, so the verify path
// checks the role without a database read. It is safe for concurrent use.
type VerifierBook struct {
	mu      sync.RWMutex
	places  map[string]string // account id → place
	version int64
	loaded  bool
}

// NewVerifierBook returns an empty book; load it with Store.RefreshVerifiers.
func NewVerifierBook() *VerifierBook { return &VerifierBook{places: map[string]string{}} }

// Place returns the place of an active verifier, or an *Error of
// KindForbidden with CodeNotVerifier.
func (b *VerifierBook) Place(accountID string) (string, error) {
	b.mu.RLock()
	place, ok := b.places[accountID]
	b.mu.RUnlock()
	if !ok {
		return "", Errorf(KindForbidden, CodeNotVerifier, "您没有核验权限")
	}
	return place, nil
}

// RefreshVerifiers reloads the book when the roles changed since it was
// loaded (or always, the first time).
func (s *Store) RefreshVerifiers(ctx context.Context, b *VerifierBook) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		v, err := readVersion(tx, verifiersVersionName)
		if err != nil {
			return err
		}
		b.mu.RLock()
		fresh := b.loaded && v == b.version
		b.mu.RUnlock()
		if fresh {
			return nil
		}
		var rows []Verifier
		if err := tx.Where("revoked_at IS NULL").Find(&rows).Error; err != nil {
			return fmt.Errorf("read verifiers: %w", err)
		}
		places := make(map[string]string, len(rows))
		for _, r := range rows {
			places[r.AccountID] = r.Place
		}
		b.mu.Lock()
		b.places, b.version, b.loaded = places, v, true
		b.mu.Unlock()
		return nil
	})
}
