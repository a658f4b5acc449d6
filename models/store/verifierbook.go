package store

import (
	"context"

	"healthcode/models"
	"healthcode/models/fault"
)

// verifiersVersionName names the verifier roles' version counter.
const verifiersVersionName = "verifiers"

// verifierRole is where the verifier role is kept.
var verifierRole = role{
	version: verifiersVersionName, action: "verifier",
	notFound: fault.Errorf(fault.KindNotFound, fault.CodeVerifierNotFound, "该账号不是核验人员"),
	read: func(tx *gormDB) (map[string]string, error) {
		var rows []models.Verifier
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

// RefreshVerifiers swaps in a new snapshot of the roles when they changed
// since the book's (or always, the first time). Errors are the database's.
func (s *Store) RefreshVerifiers(ctx context.Context, b *models.VerifierBook) error {
	return s.refreshRole(ctx, verifierRole, b.Refresh)
}
