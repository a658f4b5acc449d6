package store

import (
	"context"
	"fmt"

	"healthcode/models"
	"healthcode/models/fault"
)

// GrantVerifier makes an account a verifier at place (or moves it there),
// audited. Errors: KindInvalid for a place that is empty or too long,
// KindNotFound for an unknown account.
func (s *Store) GrantVerifier(ctx context.Context, accountID, place, actor, requestID string) (*models.Verifier, error) {
	if place == "" || len([]rune(place)) > 100 {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidPlace, "请填写核验场所（不超过100字）")
	}
	now := s.clock.Now().UTC()
	v := &models.Verifier{AccountID: accountID, Place: place, GrantedBy: actor, GrantedAt: now}
	if err := s.grantRole(ctx, verifierRole, accountID, v, "place="+truncate(place, 300), actor, requestID, now); err != nil {
		return nil, err
	}
	return v, nil
}

// RevokeVerifier ends an account's verifier role, audited; an *Error of
// KindNotFound when it has none.
func (s *Store) RevokeVerifier(ctx context.Context, accountID, actor, requestID string) error {
	return s.revokeRole(ctx, verifierRole, &models.Verifier{}, accountID, actor, requestID)
}

// verificationColumns are the columns one scan row fills, in order.
const verificationColumns = "(verifier_account_id, holder_handle, result, reason, colour, kind, place, code_id, checked_at)"

// RecordVerifications stores scans as one multi-row INSERT (group commit).
// A single statement is atomic on its own: all rows or none, with one round
// trip instead of three for BEGIN, INSERT and COMMIT.
func (s *Store) RecordVerifications(ctx context.Context, vs []*models.Verification) error {
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
func (s *Store) VerificationsBy(ctx context.Context, verifierAccountID string) ([]models.Verification, error) {
	var out []models.Verification
	err := s.db.WithContext(ctx).Where("verifier_account_id = ?", verifierAccountID).Order("id").Find(&out).Error
	return out, err
}
