package models

import (
	"context"
	"fmt"
	"sync/atomic"
)

// verifiersVersionName names the verifier roles' version counter.
const verifiersVersionName = "verifiers"

// VerifierBook holds the active verifiers in memory, so the verify path
// checks the role without a database read: an immutable snapshot, swapped
// whole when the roles change. It is safe for concurrent use.
type VerifierBook struct {
	snap atomic.Pointer[verifierSnapshot]
}

type verifierSnapshot struct {
	places  map[string]string // account id → place
	version int64
}

// NewVerifierBook returns an empty book; load it with Store.RefreshVerifiers.
func NewVerifierBook() *VerifierBook { return &VerifierBook{} }

// Place returns the place of an active verifier, or an *Error of
// KindForbidden with CodeNotVerifier.
func (b *VerifierBook) Place(accountID string) (string, error) {
	if s := b.snap.Load(); s != nil {
		if place, ok := s.places[accountID]; ok {
			return place, nil
		}
	}
	return "", Errorf(KindForbidden, CodeNotVerifier, "您没有核验权限")
}

// RefreshVerifiers swaps in a new snapshot of the roles when they changed
// since the book's (or always, the first time). The store only reads; the
// book is replaced, never locked.
func (s *Store) RefreshVerifiers(ctx context.Context, b *VerifierBook) error {
	held := b.snap.Load()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		v, err := readVersion(tx, verifiersVersionName)
		if err != nil {
			return err
		}
		if held != nil && v == held.version {
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
		next := &verifierSnapshot{places: places, version: v}
		// A slower refresh that read an older version never replaces a newer one.
		for {
			cur := b.snap.Load()
			if cur != nil && cur.version > v {
				return nil
			}
			if b.snap.CompareAndSwap(cur, next) {
				return nil
			}
		}
	})
}
