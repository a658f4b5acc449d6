package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// Identity is the identity an account holds (bound, proven by a face
// verification) or claims (pending one), in masked form, with what a face
// verification of it needs.
type Identity struct {
	// PersonID is the bound person's handle; empty for a claim.
	PersonID string
	// ClaimID is the claim's id; empty for a bound identity.
	ClaimID    string
	DocType    document.Type
	MaskedName string
	MaskedDoc  string
	nameSealed []byte
	docSealed  []byte
	// namePurpose and docPurpose are what the sealed fields are bound to.
	namePurpose, docPurpose string
}

// Bound reports whether the identity is proven and bound to the account.
func (id *Identity) Bound() bool { return id.PersonID != "" }

// Purposes that sealed claim fields are bound to.
const (
	purposeClaimName = "claim.name"
	purposeClaimDoc  = "claim.doc"
)

// ClaimIdentity records that the account claims the identity of name (already
// normalised) and doc. Nothing is bound and no stored person changes: the
// account's current claim becomes this one, and a face verification started
// for it binds the document when it passes. The answer is the same whether or
// not the document is known, bound to another account or stored under
// another name, so a claim reveals nothing. An account already bound to doc
// gets its bound identity back; one bound to another document gets an
// *Error with CodeIdentityAlreadyBound (409).
func (s *Store) ClaimIdentity(ctx context.Context, accountID, name string, doc document.Document, requestID string) (*Identity, error) {
	hash := s.vault.DocumentHash(doc)
	now := s.clock.Now().UTC()
	claim := &models.IdentityClaim{
		ID: models.NewID(), AccountID: accountID, DocType: doc.Type, DocHash: hash,
		NameSealed: s.vault.Seal(name, purposeClaimName), DocSealed: s.vault.Seal(doc.Number, purposeClaimDoc),
		MaskedName: document.MaskName(name), MaskedDoc: document.MaskNumber(doc.Number), CreatedAt: now,
	}
	if !doc.BirthDate.IsZero() {
		claim.BirthDate = doc.BirthDate.Format(time.DateOnly)
	}
	var bound *models.Person
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var a models.Account
		if err := tx.Clauses(lockForUpdate).Take(&a, "id = ?", accountID).Error; err != nil {
			return notFoundAs(err, errAccountNotFound)
		}
		if a.PersonID != nil {
			var p models.Person
			if err := tx.Take(&p, "id = ?", *a.PersonID).Error; err != nil {
				return err
			}
			if !bytes.Equal(p.DocHash, hash) {
				return fault.Errorf(fault.KindConflict, fault.CodeIdentityAlreadyBound, "该账号已绑定其他身份，如需更换请联系客服")
			}
			bound = &p
			return nil
		}
		if err := tx.Create(claim).Error; err != nil {
			return err
		}
		if err := tx.Model(&a).Update("claim_id", claim.ID).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + accountID, Action: "identity.claim",
			Subject: claim.ID, Detail: string(doc.Type) + " " + claim.MaskedDoc, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("claim identity: %w", err)
	}
	if bound != nil {
		return personIdentity(bound), nil
	}
	return claimIdentity(claim), nil
}

// AccountIdentity returns the identity the account holds, or else the one it
// claims; an *Error with CodeIdentityRequired (403) when it has neither.
func (s *Store) AccountIdentity(ctx context.Context, a *models.Account) (*Identity, error) {
	switch {
	case a.PersonID != nil:
		p, err := s.PersonByID(ctx, *a.PersonID)
		if err != nil {
			return nil, err
		}
		return personIdentity(p), nil
	case a.ClaimID != nil:
		var c models.IdentityClaim
		if err := s.db.WithContext(ctx).Take(&c, "id = ?", *a.ClaimID).Error; err != nil {
			return nil, notFoundAs(err, models.ErrIdentityRequired)
		}
		return claimIdentity(&c), nil
	}
	return nil, models.ErrIdentityRequired
}

// FaceIdentity returns the identity a face verification checks: its claim,
// or the bound person for a daily check.
func (s *Store) FaceIdentity(ctx context.Context, fv *models.FaceVerification) (*Identity, error) {
	if fv.ClaimID == "" {
		p, err := s.PersonByID(ctx, fv.PersonID)
		if err != nil {
			return nil, err
		}
		return personIdentity(p), nil
	}
	var c models.IdentityClaim
	if err := s.db.WithContext(ctx).Take(&c, "id = ?", fv.ClaimID).Error; err != nil {
		return nil, notFound(err, fault.CodeFaceNotFound, "未找到该人脸核验记录")
	}
	return claimIdentity(&c), nil
}

// UnsealIdentity returns an identity's name and document number in clear,
// for a face-verification request to a platform. Never log or return them.
func (s *Store) UnsealIdentity(id *Identity) (name, number string, err error) {
	if name, err = s.vault.Open(id.nameSealed, id.namePurpose); err != nil {
		return "", "", fmt.Errorf("unseal name of identity %s%s: %w", id.PersonID, id.ClaimID, err)
	}
	if number, err = s.vault.Open(id.docSealed, id.docPurpose); err != nil {
		return "", "", fmt.Errorf("unseal document of identity %s%s: %w", id.PersonID, id.ClaimID, err)
	}
	return name, number, nil
}

func personIdentity(p *models.Person) *Identity {
	return &Identity{PersonID: p.ID, DocType: p.DocType, MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc,
		nameSealed: p.NameSealed, docSealed: p.DocSealed, namePurpose: purposePersonName, docPurpose: purposePersonDoc}
}

func claimIdentity(c *models.IdentityClaim) *Identity {
	return &Identity{ClaimID: c.ID, DocType: c.DocType, MaskedName: c.MaskedName, MaskedDoc: c.MaskedDoc,
		nameSealed: c.NameSealed, docSealed: c.DocSealed, namePurpose: purposeClaimName, docPurpose: purposeClaimDoc}
}

// UnbindIdentity ends an account's binding (or claim) on an operator's
// decision: the account loses its identity and every session (at once in r,
// on other nodes when they poll), and the
// relative links it held end (they were the person's, and no account holds
// the person now). The action is audited with the operator's note. An
// account with neither a binding nor a claim is an *Error of KindNotFound
// (identity_not_bound); an unknown account KindNotFound too.
func (s *Store) UnbindIdentity(ctx context.Context, r *models.Revocations, accountID, actor, note, requestID string) error {
	now := s.clock.Now().UTC()
	var rev models.SessionRevocation
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var a models.Account
		if err := tx.Clauses(lockForUpdate).Take(&a, "id = ?", accountID).Error; err != nil {
			return notFoundAs(err, errAccountNotFound)
		}
		if a.PersonID == nil && a.ClaimID == nil {
			return fault.Errorf(fault.KindNotFound, fault.CodeIdentityNotBound, "该账号未绑定身份")
		}
		subject := accountID
		if a.PersonID != nil {
			subject = *a.PersonID
		}
		if err := tx.Model(&a).Updates(map[string]any{"person_id": nil, "claim_id": nil, "face_verified_on": ""}).Error; err != nil {
			return err
		}
		var err error
		if rev, err = revokeSessions(tx, accountID, now); err != nil {
			return err
		}
		ended, err := endRelatives(tx, accountID, "账号身份已由运营人员解除", now)
		if err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "identity.unbind", Subject: subject,
			Detail: truncate(fmt.Sprintf("account:%s, %d relative links ended: %s", accountID, ended, note), 1024), RequestID: requestID}).Error
	})
	if err != nil {
		return err
	}
	r.Update([]models.SessionRevocation{rev}, false, time.Time{})
	return nil
}
