package store

import (
	"context"
	"fmt"
	"time"

	"healthcode/models"
	"healthcode/models/fault"
)

// role says where a role is kept: its table's version counter, its audit
// actions, and what a revoke of an account without it answers.
type role struct {
	version  string
	action   string // audit action prefix: "verifier", "sampler"
	notFound *fault.Error
	// read returns the active holders and their places.
	read func(tx *gormDB) (map[string]string, error)
}

// grantRole saves row (the account's role, granted now) inside one
// transaction with the version bump and the audit entry.
func (s *Store) grantRole(ctx context.Context, r role, accountID string, row any, detail, actor, requestID string, now time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Take(&models.Account{}, "id = ?", accountID).Error; err != nil {
			return notFoundAs(err, errAccountNotFound)
		}
		if err := tx.Save(row).Error; err != nil {
			return err
		}
		if err := bumpVersion(tx, r.version, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: r.action + ".grant", Subject: accountID,
			Detail: detail, RequestID: requestID}).Error
	})
}

// revokeRole ends an account's role (model names its table); r.notFound
// when it has none.
func (s *Store) revokeRole(ctx context.Context, r role, model any, accountID, actor, requestID string) error {
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		res := tx.Model(model).Where("account_id = ? AND revoked_at IS NULL", accountID).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return r.notFound
		}
		if err := bumpVersion(tx, r.version, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: r.action + ".revoke", Subject: accountID, RequestID: requestID}).Error
	})
}

// refreshRole swaps a new snapshot of the role into a book, through its
// refresh, when the roles changed since the book's (or always, the first
// time).
func (s *Store) refreshRole(ctx context.Context, r role, refresh func(models.SnapshotRead[map[string]string]) error) error {
	return refresh(readSnapshot(ctx, s, r.version, func(tx *gormDB) (map[string]string, error) {
		places, err := r.read(tx)
		if err != nil {
			return nil, fmt.Errorf("read %ss: %w", r.action, err)
		}
		return places, nil
	}))
}
