package models

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry records who did what to whom. Subject and Detail hold opaque
// ids and masked data only, never a name or document number in clear.
type AuditEntry struct {
	ID        uint64 `gorm:"primaryKey;autoIncrement"`
	At        time.Time
	Actor     string // "account:<id>", "operator:<key id>" or "system"
	Action    string // for example "identity.bind", "relative.lookup"
	Subject   string
	Detail    string
	RequestID string
}

// TableName names the table.
func (AuditEntry) TableName() string { return "audit_log" }

// Audit appends an entry to the audit log, stamping the time when At is zero.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.clock.Now().UTC()
	}
	if err := s.db.WithContext(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("write audit entry %s: %w", e.Action, err)
	}
	return nil
}

// AuditEntries returns the entries with the given action and subject, oldest
// first; an empty subject matches every subject.
func (s *Store) AuditEntries(ctx context.Context, action, subject string) ([]AuditEntry, error) {
	q := s.db.WithContext(ctx).Where("action = ?", action)
	if subject != "" {
		q = q.Where("subject = ?", subject)
	}
	var out []AuditEntry
	if err := q.Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
