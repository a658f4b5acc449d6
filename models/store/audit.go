package store

import (
	"context"
	"fmt"

	"healthcode/models"
)

// Audit appends an entry to the audit log, stamping the time when At is zero.
func (s *Store) Audit(ctx context.Context, e models.AuditEntry) error {
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
func (s *Store) AuditEntries(ctx context.Context, action, subject string) ([]models.AuditEntry, error) {
	q := s.db.WithContext(ctx).Where("action = ?", action)
	if subject != "" {
		q = q.Where("subject = ?", subject)
	}
	var out []models.AuditEntry
	if err := q.Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
