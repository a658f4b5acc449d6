package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Statuses of a face verification.
const (
	FacePending = "pending"
	FacePassed  = "passed"
	FaceFailed  = "failed"
)

// FaceVerification is one face check of an account against a person, as
// started with a platform. VerifyID is the platform's ticket (WeChat
// verify_id, Alipay certify_id); ID is our order number sent with it.
type FaceVerification struct {
	ID          string `gorm:"primaryKey;size:32"`
	VerifyID    string
	Provider    string
	AccountID   string
	PersonID    string
	Status      string
	Detail      string
	ExpiresAt   time.Time
	CompletedAt *time.Time
	CreatedAt   time.Time
}

// TableName names the table.
func (FaceVerification) TableName() string { return "face_verifications" }

// NewFaceOrderNo returns a fresh order number for a platform request: 26
// characters of [a-z2-7], within WeChat's and Alipay's limits.
func NewFaceOrderNo() string { return newID() }

// CreateFaceVerification records a started face verification as pending.
func (s *Store) CreateFaceVerification(ctx context.Context, fv *FaceVerification, requestID string) error {
	fv.Status = FacePending
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Create(fv).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return Errorf(KindConflict, "face_duplicate", "该核验已存在")
			}
			return fmt.Errorf("record face verification: %w", err)
		}
		return tx.Create(&AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + fv.AccountID,
			Action: "face.start", Subject: fv.PersonID, Detail: fv.Provider + " " + fv.ID, RequestID: requestID}).Error
	})
}

// FaceVerificationFor returns the verification with the platform ticket
// verifyID as seen by accountID: an *Error of KindNotFound when there is
// none, of KindForbidden (code face_not_yours) when it belongs to another
// account.
func (s *Store) FaceVerificationFor(ctx context.Context, accountID, verifyID string) (*FaceVerification, error) {
	fv, err := s.FaceVerificationByVerifyID(ctx, verifyID)
	if err != nil {
		return nil, err
	}
	if fv.AccountID != accountID {
		return nil, Errorf(KindForbidden, "face_not_yours", "该核验不属于当前账号")
	}
	return fv, nil
}

// FaceVerificationByVerifyID returns the verification with the platform
// ticket verifyID, or an *Error of KindNotFound.
func (s *Store) FaceVerificationByVerifyID(ctx context.Context, verifyID string) (*FaceVerification, error) {
	var fv FaceVerification
	if err := s.db.WithContext(ctx).Take(&fv, "verify_id = ?", verifyID).Error; err != nil {
		return nil, notFound(err, "face_not_found", "未找到该人脸核验记录")
	}
	return &fv, nil
}

// CompleteFaceVerification records a platform's answer for a pending
// verification. On a pass the account is marked verified for today and a
// pending identity for that person is linked. When the verification was
// already completed (a replayed callback, or a notification racing the
// callback) the recorded outcome is returned unchanged.
func (s *Store) CompleteFaceVerification(ctx context.Context, fv *FaceVerification, passed bool, detail, requestID string) (*FaceVerification, error) {
	now := s.clock.Now().UTC()
	status := FaceFailed
	if passed {
		status = FacePassed
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		res := tx.Model(&FaceVerification{}).Where("id = ? AND status = ?", fv.ID, FacePending).
			Updates(map[string]any{"status": status, "detail": truncate(detail, 128), "completed_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil // completed meanwhile; the recorded outcome stands
		}
		if passed {
			var a Account
			if err := tx.Clauses(lockForUpdate).Take(&a, "id = ?", fv.AccountID).Error; err != nil {
				return err
			}
			// Only a pass for the account's own identity (bound, or pending
			// and now proven) counts; one for an identity it no longer
			// claims is recorded and nothing more.
			today := DateIn(now, s.loc)
			var updates map[string]any
			switch {
			case a.PendingPersonID != nil && *a.PendingPersonID == fv.PersonID:
				updates = map[string]any{"face_verified_on": today, "person_id": fv.PersonID, "pending_person_id": nil}
			case a.PersonID != nil && *a.PersonID == fv.PersonID:
				updates = map[string]any{"face_verified_on": today}
			}
			if updates != nil {
				if err := tx.Model(&a).Updates(updates).Error; err != nil {
					return err
				}
				// The platform confirmed name, document and face together:
				// the name on record is now the owner's and never changes.
				if err := tx.Model(&Person{}).Where("id = ? AND name_verified_at IS NULL", fv.PersonID).
					Update("name_verified_at", now).Error; err != nil {
					return err
				}
			}
		}
		return tx.Create(&AuditEntry{At: now, Actor: "account:" + fv.AccountID, Action: "face." + status,
			Subject: fv.PersonID, Detail: fv.Provider + " " + fv.ID, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("complete face verification: %w", err)
	}
	var got FaceVerification
	if err := s.db.WithContext(ctx).Take(&got, "id = ?", fv.ID).Error; err != nil {
		return nil, err
	}
	return &got, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
