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
// account that logged out (or lost its identity) within a token lifetime,
// the lowest version still valid. Entries change in place under a lock
// (a city's week of logouts is too many to copy on every change) and fall
// out once a token lifetime has passed, so the set holds one lifetime of
// logouts at most. It is safe for concurrent use.
type Revocations struct {
	mu        sync.RWMutex
	minValid  map[string]revokedAt
	lastID    uint64
	lastSweep time.Time
}

type revokedAt struct {
	version int64
	at      time.Time
}

// NewRevocations returns an empty set.
func NewRevocations() *Revocations {
	return &Revocations{minValid: map[string]revokedAt{}}
}

// IsRevoked reports whether a token of this account and version was ended.
func (r *Revocations) IsRevoked(accountID string, version int64) bool {
	r.mu.RLock()
	e, ok := r.minValid[accountID]
	r.mu.RUnlock()
	return ok && version < e.version
}

// Len returns how many accounts the set holds.
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.minValid)
}

// revocationSweepEvery is how often expired entries are swept out.
const revocationSweepEvery = time.Minute

// update merges rows (advancing the poll position past them when advance
// is set) and, at most once a sweep interval, drops the entries recorded
// before forgetBefore: every token they ended has expired.
func (r *Revocations) update(rows []SessionRevocation, advance bool, forgetBefore time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, row := range rows {
		if e := r.minValid[row.AccountID]; row.Version > e.version && !row.CreatedAt.Before(forgetBefore) {
			r.minValid[row.AccountID] = revokedAt{version: row.Version, at: row.CreatedAt}
		}
		if advance {
			r.lastID = max(r.lastID, row.ID)
		}
	}
	if !forgetBefore.IsZero() && forgetBefore.Sub(r.lastSweep) >= revocationSweepEvery {
		for id, e := range r.minValid {
			if e.at.Before(forgetBefore) {
				delete(r.minValid, id)
			}
		}
		r.lastSweep = forgetBefore
	}
}

// revocationBatch bounds the rows one query reads.
const revocationBatch = 10000

// RefreshRevocations loads revocations recorded since the last refresh (on
// the first call: within the last ttl, the longest a token lives).
func (s *Store) RefreshRevocations(ctx context.Context, r *Revocations, ttl time.Duration) error {
	r.mu.RLock()
	last := r.lastID
	r.mu.RUnlock()
	now := s.clock.Now()
	forget := now.Add(-ttl)
	for {
		var rows []SessionRevocation
		q := s.db.WithContext(ctx).Where("id > ?", last)
		if last == 0 {
			q = q.Where("created_at > ?", forget.UTC())
		}
		if err := q.Order("id").Limit(revocationBatch).Find(&rows).Error; err != nil {
			return fmt.Errorf("read session revocations: %w", err)
		}
		r.update(rows, true, forget)
		if len(rows) < revocationBatch {
			break
		}
		last = rows[len(rows)-1].ID
	}
	// Rows of transactions that committed out of id order lie behind the
	// poll position: the last half minute's are read again (merging a row
	// twice is harmless), newest first and bounded.
	var late []SessionRevocation
	if err := s.db.WithContext(ctx).Where("id <= ? AND created_at > ?", last, now.Add(-30*time.Second).UTC()).
		Order("id DESC").Limit(revocationBatch).Find(&late).Error; err != nil {
		return fmt.Errorf("read session revocations: %w", err)
	}
	r.update(late, false, forget)
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
