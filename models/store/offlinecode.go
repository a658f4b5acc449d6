package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// offlineVersionName names the offline codes' version counter; its value
// is also the sequence number of the latest revocation.
const offlineVersionName = "offline_codes"

var (
	errNotEligible = fault.Errorf(fault.KindForbidden, fault.CodeNotEligible,
		"离线码供 60 周岁及以上老人、未满 18 周岁的未成年人和登记在册的残疾人申领")
	errNoOfflineCode = fault.Errorf(fault.KindNotFound, fault.CodeNoOfflineCode, "没有有效的离线码")
	errOfflineLimit  = fault.Errorf(fault.KindForbidden, fault.CodeOfflineCodeLimit,
		"离线码一天内最多申领 %d 次，请妥善保管已打印的离线码，明天再来", maxOfflineIssuesPerDay)
)

// maxOfflineIssuesPerDay is how many offline codes one person may be issued
// in any 24 hours, by every route together. Each reissue revokes a paper
// and adds an entry to the revocation feed every offline scanner and peer
// region downloads and keeps for 180 days: unbounded, one account could
// add 86,400 a day.
const maxOfflineIssuesPerDay = 5

// offlineRevocation is one entry of the revocation feed: Seq rises in
// commit order (taken from the version row the transaction holds).
type offlineRevocation struct {
	Seq       int64  `gorm:"primaryKey;autoIncrement:false"`
	CodeHash  []byte `gorm:"size:16;not null"`
	RevokedAt time.Time
}

func (offlineRevocation) TableName() string { return "offline_revocations" }

// IssueOfflineCode issues a new offline code to the person with the given
// handle, superseding (reason reissued) the one they hold; audited as
// actor's. Errors: not found, not eligible (KindForbidden, CodeNotEligible).
func (s *Store) IssueOfflineCode(ctx context.Context, personID, actor, requestID string) (*models.OfflineCode, *models.Person, error) {
	now := s.clock.Now().UTC()
	var code *models.OfflineCode
	var person models.Person
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Take(&person, "id = ?", personID).Error; err != nil {
			return notFound(err, fault.CodePersonNotFound, "未找到该人员")
		}
		var err error
		code, err = s.issueOffline(tx, &person, person.BirthDate, actor, requestID, now)
		return err
	}, s.readCommitted()...)
	if err != nil {
		return nil, nil, err
	}
	return code, &person, nil
}

// issueOffline issues person's next offline code inside tx, judging
// eligibility by birthDate, and audits it. tx must read committed data:
// the day's count is read after the person's lock, and under repeatable
// read it would see the snapshot from before the wait.
func (s *Store) issueOffline(tx *gormDB, person *models.Person, birthDate, actor, requestID string, now time.Time) (*models.OfflineCode, error) {
	if ok, err := s.offlineEligible(tx, birthDate, person.DocHash, now); err != nil {
		return nil, err
	} else if !ok {
		return nil, errNotEligible
	}
	// The person's row is locked first: a first code has no serial row
	// yet, and a locking read of a missing row locks nothing under READ
	// COMMITTED, so two issues at once (a double tap at the kiosk) could
	// both take serial 1 and leave two papers live.
	if err := tx.Clauses(lockForUpdate).Select("id").Take(&models.Person{}, "id = ?", person.ID).Error; err != nil {
		return nil, err
	}
	var issued int64
	if err := tx.Model(&models.OfflineCode{}).Where("person_id = ? AND issued_at > ?", person.ID, now.Add(-24*time.Hour)).Count(&issued).Error; err != nil {
		return nil, err
	}
	if issued >= maxOfflineIssuesPerDay {
		return nil, errOfflineLimit
	}
	var cur models.OfflineSerial
	if err := tx.Clauses(lockForUpdate).Where("person_id = ?", person.ID).Limit(1).Find(&cur).Error; err != nil {
		return nil, err
	}
	id := make([]byte, 12)
	rand.Read(id)
	code := &models.OfflineCode{ID: hex.EncodeToString(id), PersonID: person.ID, PersonNo: person.No, Serial: cur.Serial + 1,
		IssuedAt: now, ExpiresAt: now.Add(codetoken.OfflineLifetime), IssuedBy: actor}
	var seq int64
	var err error
	if cur.CodeID != "" && !cur.Lost {
		seq, err = revokeOffline(tx, cur.CodeID, models.ReasonReissued, now)
	} else {
		seq, err = nextOfflineSeq(tx, now)
	}
	if err != nil {
		return nil, err
	}
	if err := tx.Create(code).Error; err != nil {
		return nil, err
	}
	if err := tx.Save(&models.OfflineSerial{PersonID: person.ID, PersonNo: person.No, Serial: code.Serial, CodeID: code.ID, Seq: seq, UpdatedAt: now}).Error; err != nil {
		return nil, err
	}
	// The store's clock, not GORM's own now that Save stamps: the purge
	// counts a serial's 180 days from it.
	if err := tx.Model(&models.OfflineSerial{}).Where("person_id = ?", person.ID).UpdateColumn("updated_at", now).Error; err != nil {
		return nil, err
	}
	return code, tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "offline_code.issue", Subject: person.ID,
		Detail: fmt.Sprintf("serial %d", code.Serial), RequestID: requestID}).Error
}

// offlineEligible says whether the holder of the document with keyed hash
// docHash, born on birthDate, may hold an offline code on day now: by age,
// or by being on the disability register in force, whatever their age.
func (s *Store) offlineEligible(tx *gormDB, birthDate string, docHash []byte, now time.Time) (bool, error) {
	if models.OfflineEligible(birthDate, now, s.loc) {
		return true, nil
	}
	return onDisabilityRegister(tx, docHash)
}

// revokeOffline marks code id revoked for reason and appends it to the
// feed under the next version, inside tx; it returns that version.
func revokeOffline(tx *gormDB, id, reason string, now time.Time) (int64, error) {
	if err := tx.Model(&models.OfflineCode{}).Where("id = ?", id).Updates(map[string]any{"revoked_at": now, "reason": reason}).Error; err != nil {
		return 0, err
	}
	seq, err := nextOfflineSeq(tx, now)
	if err != nil {
		return 0, err
	}
	b, _ := hex.DecodeString(id)
	return seq, tx.Create(&offlineRevocation{Seq: seq, CodeHash: models.RevocationHash(b), RevokedAt: now}).Error
}

// nextOfflineSeq bumps the offline codes' version inside tx, which then
// holds its row to commit, and returns it.
func nextOfflineSeq(tx *gormDB, now time.Time) (int64, error) {
	if err := bumpVersion(tx, offlineVersionName, now); err != nil {
		return 0, err
	}
	return readVersion(tx, offlineVersionName)
}

// ReportOfflineLoss revokes the person's current offline code (挂失) without
// issuing another; errNoOfflineCode when they hold none.
func (s *Store) ReportOfflineLoss(ctx context.Context, personID, actor, requestID string) error {
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var cur models.OfflineSerial
		if err := tx.Clauses(lockForUpdate).Where("person_id = ?", personID).Limit(1).Find(&cur).Error; err != nil {
			return err
		}
		if cur.CodeID == "" || cur.Lost {
			return errNoOfflineCode
		}
		seq, err := revokeOffline(tx, cur.CodeID, models.ReasonReportedLost, now)
		if err != nil {
			return err
		}
		if err := tx.Model(&models.OfflineSerial{}).Where("person_id = ?", personID).Updates(map[string]any{"lost": true, "seq": seq, "updated_at": now}).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "offline_code.loss", Subject: personID,
			Detail: fmt.Sprintf("serial %d", cur.Serial), RequestID: requestID}).Error
	})
}

// CurrentOfflineCode returns the person's live offline code, or
// errNoOfflineCode.
func (s *Store) CurrentOfflineCode(ctx context.Context, personID string) (*models.OfflineCode, *models.Person, error) {
	return s.liveOfflineCode(ctx, "", "", "offline_serials.person_id = ?", personID)
}

// PrintOfflineCode returns the person's live offline code for its print
// page, audited as offline_code.print by actor; errNoOfflineCode when they
// hold none.
func (s *Store) PrintOfflineCode(ctx context.Context, personID, actor, requestID string) (*models.OfflineCode, *models.Person, error) {
	return s.liveOfflineCode(ctx, actor, requestID, "offline_serials.person_id = ?", personID)
}

// KioskPrintOfflineCode returns the live offline code codeID for the print
// page of the kiosk that issued it (actor "kiosk:<id>"), within
// KioskReprintWindow of the issue, audited as offline_code.print; any other
// code is errNoOfflineCode, so a kiosk's key opens no one else's paper.
func (s *Store) KioskPrintOfflineCode(ctx context.Context, codeID, actor, requestID string) (*models.OfflineCode, *models.Person, error) {
	since := s.clock.Now().Add(-models.KioskReprintWindow).UTC()
	return s.liveOfflineCode(ctx, actor, requestID, "offline_codes.id = ? AND offline_codes.issued_by = ? AND offline_codes.issued_at > ?",
		codeID, actor, since)
}

// liveOfflineCode returns the current, unrevoked, unexpired offline code
// that where selects, and its holder; with actor set the read is audited
// as offline_code.print.
func (s *Store) liveOfflineCode(ctx context.Context, actor, requestID, where string, args ...any) (*models.OfflineCode, *models.Person, error) {
	now := s.clock.Now().UTC()
	var code models.OfflineCode
	var person models.Person
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		err := tx.Joins("JOIN offline_serials ON offline_serials.code_id = offline_codes.id").
			Where("offline_codes.revoked_at IS NULL AND offline_codes.expires_at > ?", now).Where(where, args...).
			Take(&code).Error
		if err != nil {
			return notFoundAs(err, errNoOfflineCode)
		}
		if err := tx.Take(&person, "id = ?", code.PersonID).Error; err != nil {
			return notFound(err, fault.CodePersonNotFound, "未找到该人员")
		}
		if actor == "" {
			return nil
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "offline_code.print", Subject: person.ID,
			Detail: fmt.Sprintf("serial %d", code.Serial), RequestID: requestID}).Error
	})
	if err != nil {
		return nil, nil, err
	}
	return &code, &person, nil
}

// OfflineRevocations returns the revocations after sequence since, at most
// RevokedFeedBatch, each base64 of RevocationHash, and the sequence to ask
// after next.
func (s *Store) OfflineRevocations(ctx context.Context, since int64) (models.RevokedFeed, error) {
	var rows []offlineRevocation
	err := s.db.WithContext(ctx).Where("seq > ?", since).Order("seq").Limit(models.RevokedFeedBatch).Find(&rows).Error
	if err != nil {
		return models.RevokedFeed{}, err
	}
	feed := models.RevokedFeed{Entries: make([]string, 0, len(rows)), Next: since}
	for _, r := range rows {
		feed.Entries = append(feed.Entries, base64.StdEncoding.EncodeToString(r.CodeHash))
		feed.Next = r.Seq
	}
	return feed, nil
}

// offlineChangeBatch is how many changed rows a refresh reads per query.
const offlineChangeBatch = 10000

// RefreshOffline brings the book up to date: the first time it reads every
// current serial (with the version it read them at, in one transaction);
// after that only the rows written after the last sequence it holds.
func (s *Store) RefreshOffline(ctx context.Context, b *models.OfflineBook) error {
	if !b.Loaded() {
		return s.loadOffline(ctx, b)
	}
	return b.Apply(offlineChangeBatch, func(after int64) ([]models.OfflineSerial, error) {
		var rows []models.OfflineSerial
		err := s.db.WithContext(ctx).Select("person_no", "serial", "lost", "seq").Where("seq > ?", after).
			Order("seq").Limit(offlineChangeBatch).Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("read offline serial changes: %w", err)
		}
		return rows, nil
	})
}

// loadOffline reads every current serial into the book, with the version
// they were read at.
func (s *Store) loadOffline(ctx context.Context, b *models.OfflineBook) error {
	var seq int64
	var rows []models.OfflineSerial
	err := s.db.WithContext(withBulkTransaction(ctx)).Transaction(func(tx *gormDB) error {
		var err error
		if seq, err = readVersion(tx, offlineVersionName); err != nil {
			return err
		}
		return tx.Select("person_no", "serial", "lost").Find(&rows).Error
	})
	if err != nil {
		return fmt.Errorf("load offline serials: %w", err)
	}
	b.Load(seq, rows)
	return nil
}

// SetBirthDate records, for an operator, the birth date of the registered
// holder of doc, a document that carries none (a passport, a permit): the
// offline codes' age rule then applies to them. Audited as actor's, by
// handle only.
func (s *Store) SetBirthDate(ctx context.Context, doc document.Document, birthDate, actor, requestID string) (*models.Person, error) {
	if !doc.BirthDate.IsZero() {
		return nil, models.ErrBirthDateOnDocument
	}
	now := s.clock.Now().UTC()
	if err := models.CheckBirthDate(birthDate, now, s.loc); err != nil {
		return nil, err
	}
	p, err := s.PersonByDocument(ctx, doc)
	if err != nil {
		return nil, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Model(&models.Person{}).Where("id = ?", p.ID).Update("birth_date", birthDate).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "person.birth_date", Subject: p.ID, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	p.BirthDate = birthDate
	return p, nil
}
