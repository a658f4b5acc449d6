package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"healthcode/models"
	"healthcode/models/fault"

	"gorm.io/gorm"
)

// CreateFaceVerification records a started face verification as pending.
func (s *Store) CreateFaceVerification(ctx context.Context, fv *models.FaceVerification, requestID string) error {
	fv.Status = models.FacePending
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Create(fv).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return fault.Errorf(fault.KindConflict, fault.CodeFaceDuplicate, "该核验已存在")
			}
			return fmt.Errorf("record face verification: %w", err)
		}
		return tx.Create(&models.AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + fv.AccountID,
			Action: "face.start", Subject: fv.Subject(), Detail: fv.Provider + " " + fv.ID, RequestID: requestID}).Error
	})
}

// FaceVerificationFor returns the verification with the platform ticket
// verifyID as seen by accountID: an *Error of KindNotFound when there is
// none, of KindForbidden (code face_not_yours) when it belongs to another
// account.
func (s *Store) FaceVerificationFor(ctx context.Context, accountID, verifyID string) (*models.FaceVerification, error) {
	fv, err := s.FaceVerificationByVerifyID(ctx, verifyID)
	if err != nil {
		return nil, err
	}
	if fv.AccountID != accountID {
		return nil, fault.Errorf(fault.KindForbidden, fault.CodeFaceNotYours, "该核验不属于当前账号")
	}
	return fv, nil
}

// FaceVerificationByVerifyID returns the verification with the platform
// ticket verifyID, or an *Error of KindNotFound.
func (s *Store) FaceVerificationByVerifyID(ctx context.Context, verifyID string) (*models.FaceVerification, error) {
	var fv models.FaceVerification
	if err := s.db.WithContext(ctx).Take(&fv, "verify_id = ?", verifyID).Error; err != nil {
		return nil, notFound(err, fault.CodeFaceNotFound, "未找到该人脸核验记录")
	}
	return &fv, nil
}

// CompleteFaceVerification records a platform's verdict on a pending
// verification. A verdict completed after the verification's ExpiresAt
// counts for nothing and is recorded as FaceExpired. A pass counts for the
// day (service time zone) on which the platform says it passed, not the day
// it was recorded. A pass for the account's current claim binds the account
// to the person holding the claimed document (created on first sight; the
// platform has confirmed name, document and face together, so the person's
// name becomes the claimed one); if another account held that person, the
// binding moves here (the owner changed phone or platform): the old account
// loses the identity and its sessions, and the relative links it held move
// with the person. A pass for the bound person marks the account verified
// for that day. When the verification was already completed (a replayed
// callback, or a notification racing the callback) the recorded outcome is
// returned unchanged.
func (s *Store) CompleteFaceVerification(ctx context.Context, fv *models.FaceVerification, out models.FaceOutcome, requestID string) (*models.FaceVerification, error) {
	now := s.clock.Now().UTC()
	status := models.FaceFailed
	switch {
	case now.After(fv.ExpiresAt):
		status = models.FaceExpired
	case out.Passed:
		status = models.FacePassed
	}
	passedAt := out.PassedAt
	if passedAt.IsZero() || passedAt.After(now) {
		passedAt = now
	}
	if status == models.FacePassed && fv.ClaimID != "" {
		// The person record comes first, in a statement of its own: two
		// accounts proving the same new document at once then meet on one
		// existing row, whose lock serialises them, instead of deadlocking
		// on the gap where the row would go.
		if err := s.registerClaimed(ctx, fv.ClaimID, now); err != nil {
			return nil, fmt.Errorf("complete face verification: %w", err)
		}
	}
	if err := s.completeFace(ctx, fv, status, out.Detail, models.DateIn(passedAt, s.loc), now, requestID); err != nil {
		return nil, fmt.Errorf("complete face verification: %w", err)
	}
	var got models.FaceVerification
	if err := s.db.WithContext(ctx).Take(&got, "id = ?", fv.ID).Error; err != nil {
		return nil, err
	}
	return &got, nil
}

// completeFace is CompleteFaceVerification's transaction. On MySQL it runs
// at READ COMMITTED: a binding waits for the person's row lock and must then
// see the accounts that earlier binders committed meanwhile, which a
// repeatable-read snapshot taken before the wait would hide.
func (s *Store) completeFace(ctx context.Context, fv *models.FaceVerification, status, detail, day string, now time.Time, requestID string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		res := tx.Model(&models.FaceVerification{}).Where("id = ? AND status = ?", fv.ID, models.FacePending).
			Updates(map[string]any{"status": status, "detail": truncate(detail, 128), "completed_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil // completed meanwhile; the recorded outcome stands
		}
		if status == models.FacePassed {
			if err := s.applyFacePass(tx, fv, day, now, requestID); err != nil {
				return err
			}
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + fv.AccountID, Action: "face." + status,
			Subject: fv.Subject(), Detail: fv.Provider + " " + fv.ID, RequestID: requestID}).Error
	}, s.readCommitted()...)
}

// applyFacePass gives a passed verification its effect, inside the
// transaction that records it: only a pass for the account's own current
// claim or bound person counts; one for an identity it no longer claims is
// recorded and nothing more. Locks are taken person first, then accounts,
// so transactions proving the same document queue on the person's row.
func (s *Store) applyFacePass(tx *gormDB, fv *models.FaceVerification, day string, now time.Time, requestID string) error {
	if fv.ClaimID == "" {
		return tx.Model(&models.Account{}).Where("id = ? AND person_id = ?", fv.AccountID, fv.PersonID).
			Update("face_verified_on", day).Error
	}
	var claim models.IdentityClaim
	if err := tx.Take(&claim, "id = ?", fv.ClaimID).Error; err != nil {
		return err
	}
	p, err := s.personForClaim(tx, &claim, now)
	if err != nil {
		return err
	}
	var a models.Account
	if err := tx.Clauses(lockForUpdate).Take(&a, "id = ?", fv.AccountID).Error; err != nil {
		return err
	}
	if a.PersonID != nil || a.ClaimID == nil || *a.ClaimID != fv.ClaimID {
		return nil // the account has since claimed or bound something else
	}
	if err := s.moveBinding(tx, p, a.ID, now, requestID); err != nil {
		return err
	}
	if err := tx.Model(&a).Updates(map[string]any{"person_id": p.ID, "claim_id": nil, "face_verified_on": day}).Error; err != nil {
		return err
	}
	return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + a.ID, Action: "identity.bind",
		Subject: p.ID, Detail: string(p.DocType) + " " + p.MaskedDoc, RequestID: requestID}).Error
}

// registerClaimed records the person holding a claim's document if there
// is none yet, named as claimed (a face verification has just confirmed
// it). A concurrent registration of the same document wins quietly.
func (s *Store) registerClaimed(ctx context.Context, claimID string, now time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var c models.IdentityClaim
		if err := tx.Take(&c, "id = ?", claimID).Error; err != nil {
			return err
		}
		name, number, err := s.UnsealIdentity(claimIdentity(&c))
		if err != nil {
			return err
		}
		p := models.Person{
			ID: models.NewID(), DocType: c.DocType, DocHash: c.DocHash,
			NameSealed: s.vault.Seal(name, purposePersonName), DocSealed: s.vault.Seal(number, purposePersonDoc),
			MaskedName: c.MaskedName, MaskedDoc: c.MaskedDoc, BirthDate: c.BirthDate, NameVerifiedAt: &now,
		}
		_, err = createPerson(tx, &p, true, now)
		return err
	}, s.readCommitted()...)
}

// personForClaim returns the person holding a claim's document (registered
// already), locked, with its name set to the claimed one: a face
// verification has just confirmed it.
func (s *Store) personForClaim(tx *gormDB, c *models.IdentityClaim, now time.Time) (*models.Person, error) {
	var p models.Person
	if err := tx.Clauses(lockForUpdate).Take(&p, "doc_hash = ?", c.DocHash).Error; err != nil {
		return nil, err
	}
	name, _, err := s.UnsealIdentity(claimIdentity(c))
	if err != nil {
		return nil, err
	}
	switch err := s.checkName(&p, name); {
	case errors.Is(err, models.ErrNameMismatch):
		p.NameSealed, p.MaskedName = s.vault.Seal(name, purposePersonName), c.MaskedName
	case err != nil:
		return nil, err
	}
	p.NameVerifiedAt = &now
	if err := tx.Model(&p).Select("name_sealed", "masked_name", "name_verified_at").Updates(&p).Error; err != nil {
		return nil, err
	}
	return &p, nil
}

// moveBinding takes person p from any other account holding it: that account
// loses the identity and every session (other nodes learn of it through the
// revocation rows they poll), and the relative links and venue rights it
// held move to the account toAccountID, which now holds the person.
func (s *Store) moveBinding(tx *gormDB, p *models.Person, toAccountID string, now time.Time, requestID string) error {
	// Found without locking (a locking scan would lock every row it passes),
	// then each holder locked by its key: the person's row, locked by the
	// caller, keeps new holders from appearing meanwhile.
	var holderIDs []string
	if err := tx.Model(&models.Account{}).Where("person_id = ? AND id <> ?", p.ID, toAccountID).Order("id").Pluck("id", &holderIDs).Error; err != nil {
		return err
	}
	for _, id := range holderIDs {
		var old models.Account
		if err := tx.Clauses(lockForUpdate).Take(&old, "id = ?", id).Error; err != nil {
			return err
		}
		if old.PersonID == nil || *old.PersonID != p.ID {
			continue
		}
		if err := tx.Model(&old).Updates(map[string]any{"person_id": nil, "face_verified_on": ""}).Error; err != nil {
			return err
		}
		if _, err := revokeSessions(tx, old.ID, now); err != nil {
			return err
		}
		moved, err := moveRelatives(tx, old.ID, toAccountID)
		if err != nil {
			return err
		}
		if err := tx.Create(&models.AuditEntry{At: now, Actor: "account:" + toAccountID, Action: "identity.move",
			Subject: p.ID, Detail: fmt.Sprintf("from account:%s, %d relative links moved", old.ID, moved), RequestID: requestID}).Error; err != nil {
			return err
		}
	}
	// Venue rights are the person's: they come to the account that holds
	// them now, from wherever they were left (also an account unbound
	// before this bind).
	venues, err := moveVenues(tx, p, toAccountID, now)
	if err != nil || venues == 0 {
		return err
	}
	return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + toAccountID, Action: "venue.rights_move",
		Subject: p.ID, Detail: fmt.Sprintf("%d venue rights moved", venues), RequestID: requestID}).Error
}
