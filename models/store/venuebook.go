package store

import (
	"context"
	"fmt"

	"healthcode/models"
)

// venueBatch is how many venues one statement of a refresh reads: a cold
// start reads a city's registry (a million venues and more) in statements
// that each end well within the query deadline.
var venueBatch = 20000

// RefreshVenues brings the registry up to the database's venues: the
// venues changed since its snapshot, read by the version of their last
// change, in batches. No snapshot is needed across them: a venue changed
// meanwhile leaves the range for a version past v, which the next refresh
// reads. Errors are the database's.
func (s *Store) RefreshVenues(ctx context.Context, b *models.VenueBook) error {
	return b.Refresh(func(held int64) (v int64, rows []models.Venue, err error) {
		db := s.db.WithContext(ctx)
		if v, err = readVersion(db, venuesVersionName); err != nil || v == held {
			return v, nil, err
		}
		// By (rev, id), so rows of one version (should any share one) are
		// never split between batches and lost.
		next := db.Where("rev > ? AND rev <= ?", held, v)
		for {
			var batch []models.Venue
			if err := next.Select("id", "state", "generation", "registrar_person_no", "rev").
				Order("rev, id").Limit(venueBatch).Find(&batch).Error; err != nil {
				return 0, nil, fmt.Errorf("read venues: %w", err)
			}
			rows = append(rows, batch...)
			if len(batch) < venueBatch {
				return v, rows, nil
			}
			last := batch[len(batch)-1]
			next = db.Where("(rev > ? OR (rev = ? AND id > ?)) AND rev <= ?", last.Rev, last.Rev, last.ID, v)
		}
	})
}
