package models

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// SessionRevocation records that logout ended every token of an account
// below Version. Nodes poll the table to learn of logouts elsewhere.
type SessionRevocation struct {
	ID        uint64 `gorm:"primaryKey;autoIncrement"`
	AccountID string
	Version   int64
	CreatedAt time.Time
}

// TableName names the table.
func (SessionRevocation) TableName() string { return "session_revocations" }

// Revocations is the in-memory set of ended session versions: for each
// account that logged out, the lowest version still valid. Only accounts
// that logged out within a token lifetime are held. It is safe for
// concurrent use.
type Revocations struct {
	mu       sync.RWMutex
	minValid map[string]int64
	lastID   uint64
}

// NewRevocations returns an empty set.
func NewRevocations() *Revocations {
	return &Revocations{minValid: map[string]int64{}}
}

// IsRevoked reports whether a token of this account and version was ended.
func (r *Revocations) IsRevoked(accountID string, version int64) bool {
	r.mu.RLock()
	min, ok := r.minValid[accountID]
	r.mu.RUnlock()
	return ok && version < min
}

// add merges rows read from the table, oldest first, and advances the
// poll position past them.
func (r *Revocations) add(rows []SessionRevocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, row := range rows {
		r.revokeLocked(row.AccountID, row.Version)
		r.lastID = max(r.lastID, row.ID)
	}
}

// revoke ends versions below version of one account without moving the poll
// position, which other nodes' rows may still lie behind.
func (r *Revocations) revoke(accountID string, version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revokeLocked(accountID, version)
}

func (r *Revocations) revokeLocked(accountID string, version int64) {
	if version > r.minValid[accountID] {
		r.minValid[accountID] = version
	}
}

// RefreshRevocations loads revocations recorded since the last refresh (on the first
// call: within the last ttl, the longest a token lives).
func (s *Store) RefreshRevocations(ctx context.Context, r *Revocations, ttl time.Duration) error {
	r.mu.RLock()
	last := r.lastID
	r.mu.RUnlock()
	// Rows of transactions that commit out of id order would be missed by
	// "id > last" alone; re-reading the last half minute covers them, and
	// merging a row twice is harmless.
	q := s.db.WithContext(ctx).Where("id > ? OR created_at > ?", last, s.clock.Now().Add(-30*time.Second).UTC())
	if last == 0 {
		q = s.db.WithContext(ctx).Where("created_at > ?", s.clock.Now().Add(-ttl).UTC())
	}
	var rows []SessionRevocation
	if err := q.Order("id").Limit(10000).Find(&rows).Error; err != nil {
		return fmt.Errorf("read session revocations: %w", err)
	}
	r.add(rows)
	return nil
}

// Logout ends every token of the account: it bumps the session version,
// records the revocation for other nodes, and adds it to r at once.
func (s *Store) Logout(ctx context.Context, r *Revocations, accountID string) error {
	var rev SessionRevocation
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var err error
		if rev, err = revokeSessions(tx, accountID, s.clock.Now().UTC()); err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: rev.CreatedAt, Actor: "account:" + accountID, Action: "session.logout", Subject: accountID}).Error
	})
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	r.revoke(rev.AccountID, rev.Version)
	return nil
}

// revokeSessions ends every token of an account inside tx: it bumps the
// session version and records the revocation that every node polls (within
// its refresh interval, 2 s). The account must exist (*Error of
// KindNotFound otherwise).
func revokeSessions(tx *gormDB, accountID string, now time.Time) (SessionRevocation, error) {
	var a Account
	if err := tx.Clauses(lockForUpdate).Take(&a, "id = ?", accountID).Error; err != nil {
		return SessionRevocation{}, notFound(err, "account_not_found", "账号不存在")
	}
	a.SessionVersion++
	if err := tx.Model(&a).Update("session_version", a.SessionVersion).Error; err != nil {
		return SessionRevocation{}, err
	}
	rev := SessionRevocation{AccountID: a.ID, Version: a.SessionVersion, CreatedAt: now}
	return rev, tx.Create(&rev).Error
}
