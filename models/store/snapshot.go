package store

import (
	"context"

	"healthcode/models"
)

// readSnapshot returns what a snapshot book's refresh reads: inside one
// transaction with the counter named version, that counter and, when it
// moved since the book's (or always, the first time), the data read reads.
// The store only reads.
func readSnapshot[T any](ctx context.Context, s *Store, version string, read func(tx *gormDB) (T, error)) models.SnapshotRead[T] {
	return func(held int64, loaded bool) (data T, v int64, moved bool, err error) {
		err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
			var err error
			if v, err = readVersion(tx, version); err != nil {
				return err
			}
			if loaded && v == held {
				return nil
			}
			if data, err = read(tx); err != nil {
				return err
			}
			moved = true
			return nil
		})
		return data, v, moved, err
	}
}
