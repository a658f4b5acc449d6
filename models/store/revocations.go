package store

import (
	"context"
	"fmt"
	"time"

	"healthcode/models"
)

// revocationBatch bounds the rows one query reads.
const revocationBatch = 10000

// RefreshRevocations loads revocations recorded since the last refresh (on
// the first call: within the last ttl, the longest a token lives).
func (s *Store) RefreshRevocations(ctx context.Context, r *models.Revocations, ttl time.Duration) error {
	last := r.LastID()
	now := s.clock.Now()
	forget := now.Add(-ttl)
	for {
		var rows []models.SessionRevocation
		q := s.db.WithContext(ctx).Where("id > ?", last)
		if last == 0 {
			q = q.Where("created_at > ?", forget.UTC())
		}
		if err := q.Order("id").Limit(revocationBatch).Find(&rows).Error; err != nil {
			return fmt.Errorf("read session revocations: %w", err)
		}
		r.Update(rows, true, forget)
		if len(rows) < revocationBatch {
			break
		}
		last = rows[len(rows)-1].ID
	}
	// Rows of transactions that committed out of id order lie behind the
	// poll position: the last half minute's are read again (merging a row
	// twice is harmless), newest first and bounded.
	var late []models.SessionRevocation
	if err := s.db.WithContext(ctx).Where("id <= ? AND created_at > ?", last, now.Add(-30*time.Second).UTC()).
		Order("id DESC").Limit(revocationBatch).Find(&late).Error; err != nil {
		return fmt.Errorf("read session revocations: %w", err)
	}
	r.Update(late, false, forget)
	return nil
}

// Logout ends every token of the account: it bumps the session version,
// records the revocation for other nodes, and adds it to r at once.
func (s *Store) Logout(ctx context.Context, r *models.Revocations, accountID string) error {
	var rev models.SessionRevocation
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var err error
		if rev, err = revokeSessions(tx, accountID, s.clock.Now().UTC()); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: rev.CreatedAt, Actor: "account:" + accountID, Action: "session.logout", Subject: accountID}).Error
	})
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	// This node knows at once; the poll position stays, since other nodes'
	// rows may still lie behind it.
	r.Update([]models.SessionRevocation{rev}, false, time.Time{})
	return nil
}

// revokeSessions ends every token of an account inside tx: it bumps the
// session version and records the revocation that every node polls (within
// its refresh interval, 2 s). The account must exist (*Error of
// KindNotFound otherwise).
func revokeSessions(tx *gormDB, accountID string, now time.Time) (models.SessionRevocation, error) {
	var a models.Account
	if err := tx.Clauses(lockForUpdate).Take(&a, "id = ?", accountID).Error; err != nil {
		return models.SessionRevocation{}, notFoundAs(err, errAccountNotFound)
	}
	a.SessionVersion++
	if err := tx.Model(&a).Update("session_version", a.SessionVersion).Error; err != nil {
		return models.SessionRevocation{}, err
	}
	rev := models.SessionRevocation{AccountID: a.ID, Version: a.SessionVersion, CreatedAt: now}
	return rev, tx.Create(&rev).Error
}
