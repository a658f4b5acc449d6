package models

import (
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

// LastID returns the poll position: the last revocation id read in order.
func (r *Revocations) LastID() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lastID
}

// Update merges rows (advancing the poll position past them when advance
// is set) and, at most once a sweep interval, drops the entries recorded
// before forgetBefore: every token they ended has expired.
func (r *Revocations) Update(rows []SessionRevocation, advance bool, forgetBefore time.Time) {
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
