package models

import (
	"context"
	"sync/atomic"
)

// snapshotBook holds data read from the store in memory for the hot paths:
// an immutable snapshot with the version of the counter it was read at,
// swapped whole when the counter moves, never locked. The role books, the
// venue registry, the offline book and the kiosk book are snapshot books. It is safe for concurrent use.
type snapshotBook[T any] struct {
	snap atomic.Pointer[bookSnapshot[T]]
}

type bookSnapshot[T any] struct {
	data    T
	version int64
}

// load returns the snapshot's data, and false before the first refresh.
func (b *snapshotBook[T]) load() (T, bool) {
	if s := b.snap.Load(); s != nil {
		return s.data, true
	}
	var zero T
	return zero, false
}

// refreshSnapshot swaps a new snapshot into b when the counter named version
// moved since the book's (or always, the first time), read by read inside
// one transaction with the counter. The store only reads.
func refreshSnapshot[T any](ctx context.Context, s *Store, b *snapshotBook[T], version string, read func(tx *gormDB) (T, error)) error {
	held := b.snap.Load()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		v, err := readVersion(tx, version)
		if err != nil {
			return err
		}
		if held != nil && v == held.version {
			return nil
		}
		data, err := read(tx)
		if err != nil {
			return err
		}
		next := &bookSnapshot[T]{data: data, version: v}
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
