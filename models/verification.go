package models

import (
	"context"
	"fmt"
	"time"

	"healthcode/models/fault"
)

// Verifier is an account allowed to verify codes (staff at a gate), at a
// place.
type Verifier struct {
	AccountID string `gorm:"primaryKey;size:32"`
	Place     string
	GrantedBy string
	GrantedAt time.Time
	RevokedAt *time.Time
}

// TableName names the table.
func (Verifier) TableName() string { return "verifiers" }

// Results of a verification.
const (
	ResultValid   = "valid"
	ResultExpired = "expired"
	ResultInvalid = "invalid"
	ResultRevoked = "revoked"
)

// Verification records one scan: who checked which holder, with what
// result and colour, where and when.
type Verification struct {
	ID                uint64 `gorm:"primaryKey;autoIncrement"`
	VerifierAccountID string
	HolderHandle      string
	Result            string
	Reason            string
	Colour            Colour
	Kind              string
	Place             string
	CodeID            string
	CheckedAt         time.Time
}

// TableName names the table.
func (Verification) TableName() string { return "verifications" }

// GrantVerifier makes an account a verifier at place (or moves it there),
// audited. Errors: KindInvalid for a place that is empty or too long,
// KindNotFound for an unknown account.
func (s *Store) GrantVerifier(ctx context.Context, accountID, place, actor, requestID string) (*Verifier, error) {
	if place == "" || len([]rune(place)) > 100 {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidPlace, "请填写核验场所（不超过100字）")
	}
	now := s.clock.Now().UTC()
	v := &Verifier{AccountID: accountID, Place: place, GrantedBy: actor, GrantedAt: now}
	if err := s.grantRole(ctx, verifierRole, accountID, v, "place="+truncate(place, 300), actor, requestID, now); err != nil {
		return nil, err
	}
	return v, nil
}

// RevokeVerifier ends an account's verifier role, audited; an *Error of
// KindNotFound when it has none.
func (s *Store) RevokeVerifier(ctx context.Context, accountID, actor, requestID string) error {
	return s.revokeRole(ctx, verifierRole, &Verifier{}, accountID, actor, requestID)
}

// verificationColumns are the columns one scan row fills, in order.
const verificationColumns = "(verifier_account_id, holder_handle, result, reason, colour, kind, place, code_id, checked_at)"

// RecordVerifications stores scans as one multi-row INSERT (group commit).
// A single statement is atomic on its own: all rows or none, with one round
// trip instead of three for BEGIN, INSERT and COMMIT.
func (s *Store) RecordVerifications(ctx context.Context, vs []*Verification) error {
	if len(vs) == 0 {
		return nil
	}
	sql, args := multiRowInsert("verifications", verificationColumns, len(vs), func(i int, args []any) []any {
		v := vs[i]
		return append(args, v.VerifierAccountID, v.HolderHandle, v.Result, v.Reason, string(v.Colour), v.Kind, v.Place, v.CodeID, v.CheckedAt.UTC())
	})
	// Straight to the connection pool: the statement is built here, and
	// gorm's clause builder would walk all 9×n arguments again. Past GORM,
	// so its error is put into the domain's vocabulary here.
	if _, err := s.db.ConnPool.ExecContext(ctx, sql, args...); err != nil {
		return fmt.Errorf("record %d verifications: %w", len(vs), databaseError(err))
	}
	return nil
}

// VerificationsBy returns the scans of a verifier, oldest first.
func (s *Store) VerificationsBy(ctx context.Context, verifierAccountID string) ([]Verification, error) {
	var out []Verification
	err := s.db.WithContext(ctx).Where("verifier_account_id = ?", verifierAccountID).Order("id").Find(&out).Error
	return out, err
}
