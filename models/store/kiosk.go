package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"

	"gorm.io/gorm"
)

var (
	errKioskNotFound = fault.Errorf(fault.KindNotFound, fault.CodeKioskNotFound, "未找到该自助机")
	errKioskFields   = fault.Errorf(fault.KindInvalid, fault.CodeInvalidKiosk, "请填写自助机名称（64 字以内）和地点（128 字以内）")
)

func kioskKeyHash(key string) []byte { h := sha256.Sum256([]byte(key)); return h[:] }

// kiosksVersionName names the kiosks' version counter, bumped by every
// registration and deletion.
const kiosksVersionName = "kiosks"

// RegisterKiosk registers a kiosk and returns it with its key (shown once),
// audited as actor's.
func (s *Store) RegisterKiosk(ctx context.Context, name, place, actor, requestID string) (*models.Kiosk, string, error) {
	if name == "" || place == "" || len([]rune(name)) > 64 || len([]rune(place)) > 128 {
		return nil, "", errKioskFields
	}
	b := make([]byte, 32)
	rand.Read(b)
	key := base64.RawURLEncoding.EncodeToString(b)
	now := s.clock.Now().UTC()
	k := &models.Kiosk{ID: models.NewID(), Name: name, Place: place, KeyHash: kioskKeyHash(key), CreatedAt: now}
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Create(k).Error; err != nil {
			return err
		}
		if err := bumpVersion(tx, kiosksVersionName, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "kiosk.register", Subject: k.ID, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, "", err
	}
	return k, key, nil
}

// DeleteKiosk ends a kiosk's key, audited.
func (s *Store) DeleteKiosk(ctx context.Context, id, actor, requestID string) error {
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		res := tx.Model(&models.Kiosk{}).Where("id = ? AND deleted_at IS NULL", id).Update("deleted_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errKioskNotFound
		}
		if err := bumpVersion(tx, kiosksVersionName, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "kiosk.delete", Subject: id, RequestID: requestID}).Error
	})
}

// RefreshKiosks swaps in a new snapshot of the registered kiosks when they
// changed since the book's (or always, the first time). Errors are the
// database's.
func (s *Store) RefreshKiosks(ctx context.Context, b *models.KioskBook) error {
	return b.Refresh(readSnapshot(ctx, s, kiosksVersionName, func(tx *gormDB) (map[[sha256.Size]byte]models.Kiosk, error) {
		var rows []models.Kiosk
		if err := tx.Where("deleted_at IS NULL").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("read kiosks: %w", err)
		}
		kiosks := make(map[[sha256.Size]byte]models.Kiosk, len(rows))
		for _, k := range rows {
			if len(k.KeyHash) != sha256.Size {
				continue
			}
			kiosks[[sha256.Size]byte(k.KeyHash)] = k
		}
		return kiosks, nil
	}))
}

// IssueOfflineByDocument issues an offline code from an ID card's chip read
// at a kiosk (a trusted reader): the person is registered if new; birthDate
// stands in for a document that carries none. Audited as actor's.
func (s *Store) IssueOfflineByDocument(ctx context.Context, name string, doc document.Document, birthDate, actor, requestID string) (*models.OfflineCode, *models.Person, error) {
	now := s.clock.Now().UTC()
	var code *models.OfflineCode
	var person *models.Person
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var err error
		if person, err = s.personInTx(tx, name, doc, now, nil); err != nil {
			return err
		}
		if person.BirthDate == "" && birthDate != "" {
			// Kept, so the next issue (online, by a relative, by a live
			// code) judges the same age.
			if err := models.CheckBirthDate(birthDate, now, s.loc); err != nil {
				return err
			}
			if err := tx.Model(&models.Person{}).Where("id = ?", person.ID).Update("birth_date", birthDate).Error; err != nil {
				return err
			}
			person.BirthDate = birthDate
		}
		code, err = s.issueOffline(tx, person, person.BirthDate, actor, requestID, now)
		return err
	}, s.readCommitted()...)
	if err != nil {
		return nil, nil, err
	}
	return code, person, nil
}

// PreviewOffline says whether the holder of the document with keyed hash
// docHash, named name on the card (empty: known by a live code), born on
// birthDate, may be issued an offline code now, with the refusal's words
// when not — as the issue would judge: a registered holder's name must
// match the record, and a birth date on record stands. Errors are the
// database's.
func (s *Store) PreviewOffline(ctx context.Context, name, maskedName, maskedDoc, birthDate string, docHash []byte) (models.OfflinePreview, error) {
	if p, err := s.personByHash(ctx, docHash); err == nil {
		if name != "" {
			if err := s.checkName(p, name); err != nil {
				if !errors.Is(err, models.ErrNameMismatch) {
					return models.OfflinePreview{}, err
				}
				return models.OfflinePreview{MaskedName: maskedName, MaskedDoc: maskedDoc, Reason: models.ErrNameMismatch.Message}, nil
			}
		}
		if p.BirthDate != "" {
			birthDate = p.BirthDate
		}
	} else if !errors.Is(err, gorm.ErrRecordNotFound) {
		return models.OfflinePreview{}, fmt.Errorf("read person: %w", err)
	}
	ok, err := s.offlineEligible(s.db.WithContext(ctx), birthDate, docHash, s.clock.Now())
	if err != nil {
		return models.OfflinePreview{}, err
	}
	p := models.OfflinePreview{MaskedName: maskedName, MaskedDoc: maskedDoc, Eligible: ok}
	if !p.Eligible {
		p.Reason = errNotEligible.Message
	}
	return p, nil
}

// DocumentHash returns the keyed hash a document is found by (the hash a
// person's record, the lists and the registers hold).
func (s *Store) DocumentHash(d document.Document) []byte { return s.vault.DocumentHash(d) }
