package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// reviewWithin is how soon a manual review is due.
const reviewWithin = 24 * time.Hour

var (
	errRelativeNotFound = fault.Errorf(fault.KindNotFound, fault.CodeRelativeNotFound, "未找到该亲属")
	errRelativeDeleted  = fault.Errorf(fault.KindForbidden, fault.CodeRelativeDeleted, "该亲属关系已解除")
)

// AddRelative links the account's holder to the person holding doc (name
// normalised). The link is approved at once when reference data proves it
// (same household register; a birth record naming the holder as the child's
// parent or the relative as the holder's), otherwise it waits for manual
// review. Errors: CodeNameMismatch (400), self (400), a live link to the
// same person or more than MaxRelatives live links (409).
func (s *Store) AddRelative(ctx context.Context, accountID, name string, doc document.Document, relation, requestID string) (*models.RelativeView, error) {
	if !models.ValidRelation(relation) {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidRelation, "关系只能是 child、parent、spouse、grandparent、grandchild 或 other")
	}
	acc, err := s.AccountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if acc.PersonID == nil {
		return nil, models.ErrIdentityRequired
	}
	holder, err := s.PersonByID(ctx, *acc.PersonID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	link := &models.Relative{ID: models.NewID(), AccountID: accountID, Relation: relation, CreatedAt: now}
	var p *models.Person
	// One transaction, the relative's first registration included: a link
	// refused (a wrong name, a duplicate, the limit) leaves nothing behind.
	err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		// Lock the holder's account so concurrent requests count links in turn.
		if err := tx.Clauses(lockForUpdate).Take(&models.Account{}, "id = ?", accountID).Error; err != nil {
			return err
		}
		var err error
		if p, err = s.personInTx(tx, name, doc, now, nil); err != nil {
			return err
		}
		if p.ID == holder.ID {
			return fault.Errorf(fault.KindInvalid, fault.CodeRelativeIsSelf, "不能把本人添加为亲属")
		}
		link.PersonID = p.ID
		var live []models.Relative
		if err := tx.Where("account_id = ? AND status IN ?", accountID, []string{models.LinkApproved, models.LinkPending}).Find(&live).Error; err != nil {
			return err
		}
		for _, l := range live {
			if l.PersonID == p.ID {
				return fault.Errorf(fault.KindConflict, fault.CodeRelativeExists, "该亲属已添加")
			}
		}
		if len(live) >= models.MaxRelatives {
			return fault.Errorf(fault.KindConflict, fault.CodeRelativeLimit, "每个账号最多添加%d位亲属", models.MaxRelatives)
		}
		evidence, err := s.linkEvidence(tx, holder.DocHash, p.DocHash, relation)
		if err != nil {
			return err
		}
		link.Evidence, link.Status = evidence, models.LinkApproved
		if evidence == models.EvidenceManual {
			due := now.Add(reviewWithin)
			link.Status, link.ReviewDueAt = models.LinkPending, &due
		}
		if err := tx.Create(link).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + accountID, Action: "relative.create", Subject: link.ID,
			Detail: fmt.Sprintf("relation=%s status=%s evidence=%s person=%s", relation, link.Status, evidence, p.ID), RequestID: requestID}).Error
	}, s.readCommitted()...)
	if err != nil {
		return nil, err
	}
	return &models.RelativeView{Relative: *link, PersonNo: p.No, DocType: p.DocType, MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc}, nil
}

// linkEvidence finds what proves the link: a shared household register, or
// a birth record matching the relation; EvidenceManual when nothing does.
func (s *Store) linkEvidence(tx *gormDB, holder, relative []byte, relation string) (string, error) {
	if ok, err := sameHousehold(tx, holder, relative); err != nil || ok {
		return models.EvidenceHousehold, err
	}
	var ok bool
	var err error
	switch relation {
	case "child":
		ok, err = isParentOf(tx, holder, relative)
	case "parent":
		ok, err = isParentOf(tx, relative, holder)
	}
	if err != nil {
		return "", err
	}
	if ok {
		return models.EvidenceBirthRecord, nil
	}
	return models.EvidenceManual, nil
}

// Relatives lists an account's links (deleted ones left out), newest first.
func (s *Store) Relatives(ctx context.Context, accountID string) ([]models.RelativeView, error) {
	var out []models.RelativeView
	err := s.db.WithContext(ctx).Table("relatives AS r").
		Select("r.*, p.doc_type, p.masked_name, p.masked_doc").
		Joins("JOIN persons AS p ON p.id = r.person_id").
		Where("r.account_id = ? AND r.status <> ?", accountID, models.LinkDeleted).
		Order("r.created_at DESC, r.id").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list relatives: %w", err)
	}
	return out, nil
}

// RelativeOf returns an account's link. Another account's link is
// KindNotFound (never revealing that it exists); a pending, rejected or
// deleted link of the account is KindForbidden with a code saying which.
func (s *Store) RelativeOf(ctx context.Context, accountID, id string) (*models.RelativeView, error) {
	var v models.RelativeView
	res := s.db.WithContext(ctx).Table("relatives AS r").
		Select("r.*, p.no AS person_no, p.doc_type, p.masked_name, p.masked_doc").
		Joins("JOIN persons AS p ON p.id = r.person_id").
		Where("r.id = ? AND r.account_id = ?", id, accountID).Limit(1).Scan(&v)
	if res.Error != nil {
		return nil, fmt.Errorf("read relative: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, errRelativeNotFound
	}
	switch v.Status {
	case models.LinkPending:
		return &v, fault.Errorf(fault.KindForbidden, fault.CodeRelativePending, "该亲属关系正在审核，请耐心等待")
	case models.LinkRejected:
		return &v, fault.Errorf(fault.KindForbidden, fault.CodeRelativeRejected, "该亲属关系未通过审核")
	case models.LinkDeleted:
		return &v, errRelativeDeleted
	}
	return &v, nil
}

// DeleteRelative ends a link; codes issued for it stop verifying at once.
// Another account's link is KindNotFound.
func (s *Store) DeleteRelative(ctx context.Context, accountID, id, requestID string) error {
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var r models.Relative
		if err := tx.Clauses(lockForUpdate).Take(&r, "id = ? AND account_id = ?", id, accountID).Error; err != nil {
			return notFoundAs(err, errRelativeNotFound)
		}
		if r.Status == models.LinkDeleted {
			return errRelativeDeleted
		}
		if err := tx.Model(&r).Updates(map[string]any{"status": models.LinkDeleted, "updated_at": now}).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + accountID, Action: "relative.delete", Subject: id, RequestID: requestID}).Error
	})
}

// LinkStatus returns a link's status, for verifying a relative code.
func (s *Store) LinkStatus(ctx context.Context, id string) (string, error) {
	var r models.Relative
	if err := s.db.WithContext(ctx).Select("status").Take(&r, "id = ?", id).Error; err != nil {
		return "", notFoundAs(err, errRelativeNotFound)
	}
	return r.Status, nil
}

// Reviews lists links of a status (pending by default), oldest first, with
// overdue reviews flagged.
func (s *Store) Reviews(ctx context.Context, status string) ([]models.ReviewItem, error) {
	var out []models.ReviewItem
	err := s.db.WithContext(ctx).Table("relatives AS r").
		Select("r.*, p.masked_name, p.masked_doc, p.doc_type, h.masked_name AS holder_masked_name, h.masked_doc AS holder_masked_doc").
		Joins("JOIN persons AS p ON p.id = r.person_id").
		Joins("JOIN accounts AS a ON a.id = r.account_id").
		Joins("LEFT JOIN persons AS h ON h.id = a.person_id").
		Where("r.status = ?", status).Order("r.created_at, r.id").Limit(1000).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	now := s.clock.Now()
	for i := range out {
		out[i].Overdue = out[i].Status == models.LinkPending && out[i].ReviewDueAt != nil && now.After(*out[i].ReviewDueAt)
	}
	return out, nil
}

// checkReviewNote refuses a review's note that is too long or holds what
// looks like a document number: the applicant (or registrar) is shown it
// as typed, and it is kept unsealed.
func checkReviewNote(note string) error {
	if utf8.RuneCountInString(note) > 500 {
		return fault.Errorf(fault.KindInvalid, fault.CodeInvalidNote, "备注不超过500字")
	}
	if document.HoldsIDNumber(note) {
		return fault.Errorf(fault.KindInvalid, fault.CodeNoteHasDocument, "备注中请勿填写证件号码")
	}
	return nil
}

// DecideReview approves or rejects a pending link with a note the
// applicant sees. A link that is not pending is KindConflict.
func (s *Store) DecideReview(ctx context.Context, id, decision, note, actor, requestID string) (*models.Relative, error) {
	status := map[string]string{"approve": models.LinkApproved, "reject": models.LinkRejected}[decision]
	if status == "" {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidDecision, "decision 只能是 approve 或 reject")
	}
	if err := checkReviewNote(note); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	var r models.Relative
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Clauses(lockForUpdate).Take(&r, "id = ?", id).Error; err != nil {
			return notFoundAs(err, errRelativeNotFound)
		}
		if r.Status != models.LinkPending {
			return fault.Errorf(fault.KindConflict, fault.CodeReviewClosed, "该申请已处理")
		}
		r.Status, r.DecidedAt, r.DecidedBy, r.Note = status, &now, actor, note
		if err := tx.Model(&r).Select("status", "decided_at", "decided_by", "note", "updated_at").Updates(&r).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "relative.review", Subject: id,
			Detail: "decision=" + decision, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// moveRelatives hands the live links an account holds to another account,
// which now holds the person whose links they were. The receiving account
// was unbound until this moment, so it holds no live links of its own and
// the limit of MaxRelatives still holds. It returns how many moved.
func moveRelatives(tx *gormDB, fromAccountID, toAccountID string) (int64, error) {
	res := tx.Model(&models.Relative{}).Where("account_id = ? AND status IN ?", fromAccountID, []string{models.LinkApproved, models.LinkPending}).
		Update("account_id", toAccountID)
	return res.RowsAffected, res.Error
}

// endRelatives ends every live link an account holds, with a note.
func endRelatives(tx *gormDB, accountID, note string, now time.Time) (int64, error) {
	res := tx.Model(&models.Relative{}).Where("account_id = ? AND status IN ?", accountID, []string{models.LinkApproved, models.LinkPending}).
		Updates(map[string]any{"status": models.LinkDeleted, "note": note, "updated_at": now})
	return res.RowsAffected, res.Error
}
