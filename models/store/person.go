package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Purposes that sealed person fields are bound to.
const (
	purposePersonName = "person.name"
	purposePersonDoc  = "person.doc"
)

// EnsurePerson returns the person holding doc, creating the record on first
// sight. name must already be normalised. When the document is on record
// under another name it returns an *Error with CodeNameMismatch.
func (s *Store) EnsurePerson(ctx context.Context, name string, doc document.Document) (*models.Person, error) {
	var p *models.Person
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var err error
		p, err = s.personInTx(tx, name, doc, s.clock.Now().UTC(), nil)
		return err
	}, s.readCommitted()...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// EnsureSampledPerson is EnsurePerson for a registration typed by hand into
// tube at site: someone new is recorded only if the tube would take them
// (else its refusal: KindNotFound with CodeTubeNotFound, KindConflict with
// CodeTubeSealed or CodeTubeFull), so a refused registration leaves nobody
// behind under whatever name was typed. The tube is looked at, not held:
// the registration decides under its lock.
func (s *Store) EnsureSampledPerson(ctx context.Context, name string, doc document.Document, tube, site string) (*models.Person, error) {
	var p *models.Person
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var err error
		p, err = s.personInTx(tx, name, doc, s.clock.Now().UTC(), func() error { return tubeTakes(tx, tube, site) })
		return err
	}, s.readCommitted()...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// personInTx is EnsurePerson inside tx (which must read committed data, see
// createPerson): a person registered by someone else a moment ago is found,
// not duplicated. mayCreate, when given, is asked before someone new is
// recorded; its error comes back as it is.
func (s *Store) personInTx(tx *gormDB, name string, doc document.Document, now time.Time, mayCreate func() error) (*models.Person, error) {
	hash := s.vault.DocumentHash(doc)
	var p models.Person
	err := tx.Take(&p, "doc_hash = ?", hash).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		if mayCreate != nil {
			if err := mayCreate(); err != nil {
				return nil, err
			}
		}
		p = models.Person{
			ID: models.NewID(), DocType: doc.Type, DocHash: hash,
			NameSealed: s.vault.Seal(name, purposePersonName), DocSealed: s.vault.Seal(doc.Number, purposePersonDoc),
			MaskedName: document.MaskName(name), MaskedDoc: document.MaskNumber(doc.Number),
		}
		if !doc.BirthDate.IsZero() {
			p.BirthDate = doc.BirthDate.Format(time.DateOnly)
		}
		created, err := createPerson(tx, &p, true, now)
		if err != nil {
			return nil, fmt.Errorf("create person: %w", err)
		}
		if created {
			return &p, nil
		}
		// Into a fresh value: gorm would add p's own new id to the query.
		var winner models.Person
		if err := tx.Take(&winner, "doc_hash = ?", hash).Error; err != nil {
			return nil, fmt.Errorf("read the person registered meanwhile: %w", err)
		}
		return &winner, s.checkName(&winner, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return &p, s.checkName(&p, name)
}

// createPerson records a new person with the next dense number and the
// status the lists in force give them (someone already on a list has just
// registered: every node's book learns it through the change log). With
// orIgnore, a person of the same document recorded meanwhile wins quietly
// and created is false. The transaction must read committed data (see
// Store.readCommitted): it waits for the status log lock and must then see
// what the import it waited for committed.
func createPerson(tx *gormDB, p *models.Person, orIgnore bool, now time.Time) (created bool, err error) {
	var n personNumber
	if err := tx.Create(&n).Error; err != nil {
		return false, fmt.Errorf("number person: %w", err)
	}
	if n.No >= 1<<32 {
		return false, fmt.Errorf("number person: %d is beyond the status book's numbers", n.No)
	}
	p.No = uint32(n.No)
	q := tx
	if orIgnore {
		q = tx.Clauses(clause.OnConflict{DoNothing: true})
	}
	res := q.Create(p)
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	log, err := openStatusLog(tx, now, false, nil)
	if err != nil {
		return false, err
	}
	if err := syncStatuses(log, []listedPerson{{No: p.No, DocHash: p.DocHash}}, nil, ""); err != nil {
		return false, err
	}
	return true, log.close()
}

// personNumber hands out dense person numbers (table person_numbers).
type personNumber struct {
	No uint64 `gorm:"primaryKey;autoIncrement"`
}

func (personNumber) TableName() string { return "person_numbers" }

// PersonByID returns a person by handle, or an *Error of KindNotFound.
func (s *Store) PersonByID(ctx context.Context, id string) (*models.Person, error) {
	var p models.Person
	if err := s.db.WithContext(ctx).Take(&p, "id = ?", id).Error; err != nil {
		return nil, notFound(err, fault.CodePersonNotFound, "未找到该人员")
	}
	return &p, nil
}

// PersonByDocument returns the person holding doc, or an *Error of
// KindNotFound.
func (s *Store) PersonByDocument(ctx context.Context, doc document.Document) (*models.Person, error) {
	p, err := s.personByHash(ctx, s.vault.DocumentHash(doc))
	if err != nil {
		return nil, notFound(err, fault.CodePersonNotFound, "未找到该证件的登记信息")
	}
	return p, nil
}

func (s *Store) personByHash(ctx context.Context, hash []byte) (*models.Person, error) {
	var p models.Person
	if err := s.db.WithContext(ctx).Take(&p, "doc_hash = ?", hash).Error; err != nil {
		return nil, err
	}
	return &p, nil
}

func (s *Store) checkName(p *models.Person, name string) error {
	onRecord, err := s.vault.Open(p.NameSealed, purposePersonName)
	if err != nil {
		return fmt.Errorf("unseal name of person %s: %w", p.ID, err)
	}
	if subtle.ConstantTimeCompare([]byte(onRecord), []byte(name)) != 1 {
		return models.ErrNameMismatch
	}
	return nil
}
