package models

import (
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

// SnapshotRead reads a snapshot book's data for a refresh. It is given the
// version of the counter the book's snapshot was read at, and false before
// the first refresh; it returns the counter's version and, when the counter
// moved since (or on the first refresh), the data read with it and true.
type SnapshotRead[T any] func(held int64, loaded bool) (data T, version int64, moved bool, err error)

// refresh swaps a new snapshot into b when read says the counter moved since
// the book's (or always, the first time). Errors are read's.
func (b *snapshotBook[T]) refresh(read SnapshotRead[T]) error {
	held := b.snap.Load()
	var version int64
	if held != nil {
		version = held.version
	}
	data, v, moved, err := read(version, held != nil)
	if err != nil || !moved {
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
}
