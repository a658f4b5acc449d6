package models

import (
	"healthcode/models/fault"
)

// VerifierBook holds the active verifiers in memory, so the verify path
// checks the role without a database read: an immutable snapshot, swapped
// whole when the roles change. It is safe for concurrent use.
type VerifierBook struct{ book roleBook }

// NewVerifierBook returns an empty book; load it with store.Store.RefreshVerifiers.
func NewVerifierBook() *VerifierBook {
	return &VerifierBook{book: roleBook{denied: fault.Errorf(fault.KindForbidden, fault.CodeNotVerifier, "您没有核验权限")}}
}

// Place returns the place of an active verifier, or an *Error of
// KindForbidden with CodeNotVerifier.
func (b *VerifierBook) Place(accountID string) (string, error) { return b.book.place(accountID) }

// Refresh swaps in a new snapshot of the roles when read says they changed
// since the book's (or always, the first time). Errors are read's.
func (b *VerifierBook) Refresh(read SnapshotRead[map[string]string]) error {
	return b.book.places.refresh(read)
}
