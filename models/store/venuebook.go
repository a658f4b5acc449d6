package store

import (
	"context"
	"fmt"

	"healthcode/models"
)

// RefreshVenues brings the registry up to the database's venues: the
// venues changed since its snapshot, read by the version of their last
// change. Errors are the database's.
func (s *Store) RefreshVenues(ctx context.Context, b *models.VenueBook) error {
	return b.Refresh(func(held int64) (v int64, rows []models.Venue, err error) {
		err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
			var err error
			if v, err = readVersion(tx, venuesVersionName); err != nil {
				return err
			}
			if v == held {
				return nil
			}
			if err := tx.Select("id", "state", "generation", "registrar_person_no").
				Where("rev > ? AND rev <= ?", held, v).Find(&rows).Error; err != nil {
				return fmt.Errorf("read venues: %w", err)
			}
			return nil
		})
		return v, rows, err
	})
}
