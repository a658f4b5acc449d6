package models

import (
	"context"

	"healthcode/models/fault"
)

// verifiersVersionName names the verifier roles' version counter.
const verifiersVersionName = "verifiers"

// verifierRole is where the verifier role is kept.
var verifierRole = role{
	version: verifiersVersionName, action: "verifier",
	notFound: fault.Errorf(fault.KindNotFound, fault.CodeVerifierNotFound, "该账号不是核验人员"),
	read: func(tx *gormDB) (map[string]string, error) {
		var rows []Verifier
		if err := tx.Where("revoked_at IS NULL").Find(&rows).Error; err != nil {
			return nil, err
		}
		places := make(map[string]string, len(rows))
		for _, r := range rows {
			places[r.AccountID] = r.Place
		}
		return places, nil
	},
}

// VerifierBook holds the active verifiers in memory, so the verify path
// checks the role without a database read: an immutable snapshot, swapped
// whole when the roles change. It is safe for concurrent use.
type VerifierBook struct{ book roleBook }

// NewVerifierBook returns an empty book; load it with Store.RefreshVerifiers.
func NewVerifierBook() *VerifierBook {
	return &VerifierBook{book: roleBook{denied: fault.Errorf(fault.KindForbidden, fault.CodeNotVerifier, "您没有核验权限")}}
}

// Place returns the place of an active verifier, or an *Error of
// KindForbidden with CodeNotVerifier.
func (b *VerifierBook) Place(accountID string) (string, error) { return b.book.place(accountID) }

// RefreshVerifiers swaps in a new snapshot of the roles when they changed
// since the book's (or always, the first time). Errors are the database's.
func (s *Store) RefreshVerifiers(ctx context.Context, b *VerifierBook) error {
	return s.refreshRole(ctx, verifierRole, &b.book)
}
