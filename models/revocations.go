package models

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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
// account that logged out (or lost its identity) within a token lifetime,
// the lowest version still valid. Readers see an immutable snapshot;
// writers (the refresher, a logout on this node) copy it, and entries older
// than a token lifetime fall out, so the set stays as small as the logouts
// of one lifetime. It is safe for concurrent use.
type Revocations struct {
	snap atomic.Pointer[revocationSnapshot]
	// mu serialises writers; readers never take it.
	mu sync.Mutex
}

type revocationSnapshot struct {
	minValid map[string]revokedAt
	lastID   uint64
}

type revokedAt struct {
	version int64
	at      time.Time
}

// NewRevocations returns an empty set.
func NewRevocations() *Revocations {
	r := &Revocations{}
	r.snap.Store(&revocationSnapshot{minValid: map[string]revokedAt{}})
	return r
}

// IsRevoked reports whether a token of this account and version was ended.
func (r *Revocations) IsRevoked(accountID string, version int64) bool {
	e, ok := r.snap.Load().minValid[accountID]
	return ok && version < e.version
}

// Len returns how many accounts the set holds.
func (r *Revocations) Len() int { return len(r.snap.Load().minValid) }

// update publishes a copy of the set with rows merged (and the poll
// position advanced past them when advance is set), dropping entries
// recorded before forgetBefore: every token they ended has expired.
func (r *Revocations) update(rows []SessionRevocation, advance bool, forgetBefore time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	next := &revocationSnapshot{minValid: make(map[string]revokedAt, len(old.minValid)+len(rows)), lastID: old.lastID}
	for id, e := range old.minValid {
		if !e.at.Before(forgetBefore) {
			next.minValid[id] = e
		}
	}
	for _, row := range rows {
		if e := next.minValid[row.AccountID]; row.Version > e.version && !row.CreatedAt.Before(forgetBefore) {
			next.minValid[row.AccountID] = revokedAt{version: row.Version, at: row.CreatedAt}
		}
		if advance {
			next.lastID = max(next.lastID, row.ID)
		}
	}
	r.snap.Store(next)
}

// RefreshRevocations loads revocations recorded since the last refresh (on the first
// call: within the last ttl, the longest a token lives).
func (s *Store) RefreshRevocations(ctx context.Context, r *Revocations, ttl time.Duration) error {
	last := r.snap.Load().lastID
	now := s.clock.Now()
	// Rows of transactions that commit out of id order would be missed by
	// "id > last" alone; re-reading the last half minute covers them, and
	// merging a row twice is harmless.
	q := s.db.WithContext(ctx).Where("id > ? OR created_at > ?", last, now.Add(-30*time.Second).UTC())
	if last == 0 {
		q = s.db.WithContext(ctx).Where("created_at > ?", now.Add(-ttl).UTC())
	}
	var rows []SessionRevocation
	if err := q.Order("id").Limit(10000).Find(&rows).Error; err != nil {
		return fmt.Errorf("read session revocations: %w", err)
	}
	r.update(rows, true, now.Add(-ttl))
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
	// This node knows at once; the poll position stays, since other nodes'
	// rows may still lie behind it.
	r.update([]SessionRevocation{rev}, false, time.Time{})
	return nil
}

// revokeSessions ends every token of an account inside tx: it bumps the
// session version and records the revocation that every node polls (within
// its refresh interval, 2 s). The account must exist (*Error of
// KindNotFound otherwise).
func revokeSessions(tx *gormDB, accountID string, now time.Time) (SessionRevocation, error) {
	var a Account
	if err := tx.Clauses(lockForUpdate).Take(&a, "id = ?", accountID).Error; err != nil {
		return SessionRevocation{}, notFoundAs(err, errAccountNotFound)
	}
	a.SessionVersion++
	if err := tx.Model(&a).Update("session_version", a.SessionVersion).Error; err != nil {
		return SessionRevocation{}, err
	}
	rev := SessionRevocation{AccountID: a.ID, Version: a.SessionVersion, CreatedAt: now}
	return rev, tx.Create(&rev).Error
}
