package models

import (
	"healthcode/models/fault"
)

// roleBook holds the active holders of one role (verifiers, samplers) in
// memory, each with the place they act at, so the hot paths check the role
// without a database read: an immutable snapshot, swapped whole when the
// roles change. It is safe for concurrent use.
type roleBook struct {
	// places maps account id → place or site.
	places snapshotBook[map[string]string]
	// denied is the error of an account without the role.
	denied *fault.Error
}

// place returns the place of an active holder, or the book's denied error.
func (b *roleBook) place(accountID string) (string, error) {
	places, _ := b.places.load()
	if place, ok := places[accountID]; ok {
		return place, nil
	}
	return "", b.denied
}
