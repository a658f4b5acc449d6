package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

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
)

// RevokedFeedBatch is the most entries one page of the revocation feed holds.
const RevokedFeedBatch = 1000

// OfflineCode is one issued paper code. ID is the code's cti (hex).
type OfflineCode struct {
	ID        string `gorm:"primaryKey;size:32"`
	PersonID  string `gorm:"size:32;not null"`
	PersonNo  uint32 `gorm:"not null"`
	Serial    int64  `gorm:"not null"`
	IssuedAt  time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
	Reason    string `gorm:"size:16;not null"`
	// IssuedBy is the actor that issued it: "kiosk:<id>" or "account:<id>".
	IssuedBy string `gorm:"size:64;not null"`
}

// TableName names the table.
func (OfflineCode) TableName() string { return "offline_codes" }

// offlineSerial is a person's current offline code: the serial last issued,
// whether it was reported lost, and its code.
type offlineSerial struct {
	PersonID string `gorm:"primaryKey;size:32"`
	PersonNo uint32 `gorm:"not null"`
	Serial   int64  `gorm:"not null"`
	Lost     bool   `gorm:"not null"`
	CodeID   string `gorm:"size:32;not null"`
	// Seq is the offline codes' version the row was last written at: rows
	// rise in commit order by it (the version row is held to commit), so a
	// node applies what follows the last one it holds.
	Seq       int64 `gorm:"not null"`
	UpdatedAt time.Time
}

func (offlineSerial) TableName() string { return "offline_serials" }

// offlineRevocation is one entry of the revocation feed: Seq rises in
// commit order (taken from the version row the transaction holds).
type offlineRevocation struct {
	Seq       int64  `gorm:"primaryKey;autoIncrement:false"`
	CodeHash  []byte `gorm:"size:16;not null"`
	RevokedAt time.Time
}

func (offlineRevocation) TableName() string { return "offline_revocations" }

// CodeID returns the code's cti.
func (o OfflineCode) CodeID() []byte { b, _ := hex.DecodeString(o.ID); return b }

// ErrBirthDateInvalid is a birth date given for a document without one that
// no living person has: not a date, in the future, or over 130 years ago.
var ErrBirthDateInvalid = fault.Errorf(fault.KindInvalid, fault.CodeInvalidBirthDate, "出生日期无效，请核对证件后重新输入（格式 YYYY-MM-DD）")

// CheckBirthDate checks a birth date given for a document that carries
// none, on day now in loc.
func CheckBirthDate(birthDate string, now time.Time, loc *time.Location) error {
	b, err := time.ParseInLocation(time.DateOnly, birthDate, loc)
	if err != nil || b.After(now.In(loc)) || b.Before(now.In(loc).AddDate(-130, 0, 0)) {
		return ErrBirthDateInvalid
	}
	return nil
}

// OfflineEligible says whether a person born on birthDate ("2006-01-02")
// may hold an offline code by age on day now in loc: 60 or over, or under
// 18. The disability register admits others too (see Store.offlineEligible).
func OfflineEligible(birthDate string, now time.Time, loc *time.Location) bool {
	b, err := time.ParseInLocation(time.DateOnly, birthDate, loc)
	if err != nil {
		return false
	}
	today := now.In(loc)
	age := today.Year() - b.Year()
	if today.Month() < b.Month() || today.Month() == b.Month() && today.Day() < b.Day() {
		age--
	}
	return age >= 60 || age < 18
}

// IssueOfflineCode issues a new offline code to the person with the given
// handle, superseding (reason reissued) the one they hold; audited as
// actor's. Errors: not found, not eligible (KindForbidden, CodeNotEligible).
func (s *Store) IssueOfflineCode(ctx context.Context, personID, actor, requestID string) (*OfflineCode, *Person, error) {
	now := s.clock.Now().UTC()
	var code *OfflineCode
	var person Person
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Take(&person, "id = ?", personID).Error; err != nil {
			return notFound(err, fault.CodePersonNotFound, "未找到该人员")
		}
		var err error
		code, err = s.issueOffline(tx, &person, person.BirthDate, actor, requestID, now)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return code, &person, nil
}

// issueOffline issues person's next offline code inside tx, judging
// eligibility by birthDate, and audits it.
func (s *Store) issueOffline(tx *gormDB, person *Person, birthDate, actor, requestID string, now time.Time) (*OfflineCode, error) {
	if ok, err := s.offlineEligible(tx, birthDate, person.DocHash, now); err != nil {
		return nil, err
	} else if !ok {
		return nil, errNotEligible
	}
	// The person's row is locked first: a first code has no serial row
	// yet, and a locking read of a missing row locks nothing under READ
	// COMMITTED, so two issues at once (a double tap at the kiosk) could
	// both take serial 1 and leave two papers live.
	if err := tx.Clauses(lockForUpdate).Select("id").Take(&Person{}, "id = ?", person.ID).Error; err != nil {
		return nil, err
	}
	var cur offlineSerial
	if err := tx.Clauses(lockForUpdate).Where("person_id = ?", person.ID).Limit(1).Find(&cur).Error; err != nil {
		return nil, err
	}
	id := make([]byte, 12)
	rand.Read(id)
	code := &OfflineCode{ID: hex.EncodeToString(id), PersonID: person.ID, PersonNo: person.No, Serial: cur.Serial + 1,
		IssuedAt: now, ExpiresAt: now.Add(codetoken.OfflineLifetime), IssuedBy: actor}
	var seq int64
	var err error
	if cur.CodeID != "" && !cur.Lost {
		seq, err = revokeOffline(tx, cur.CodeID, ReasonReissued, now)
	} else {
		seq, err = nextOfflineSeq(tx, now)
	}
	if err != nil {
		return nil, err
	}
	if err := tx.Create(code).Error; err != nil {
		return nil, err
	}
	if err := tx.Save(&offlineSerial{PersonID: person.ID, PersonNo: person.No, Serial: code.Serial, CodeID: code.ID, Seq: seq, UpdatedAt: now}).Error; err != nil {
		return nil, err
	}
	// The store's clock, not GORM's own now that Save stamps: the purge
	// counts a serial's 180 days from it.
	if err := tx.Model(&offlineSerial{}).Where("person_id = ?", person.ID).UpdateColumn("updated_at", now).Error; err != nil {
		return nil, err
	}
	return code, tx.Create(&AuditEntry{At: now, Actor: actor, Action: "offline_code.issue", Subject: person.ID,
		Detail: fmt.Sprintf("serial %d", code.Serial), RequestID: requestID}).Error
}

// offlineEligible says whether the holder of the document with keyed hash
// docHash, born on birthDate, may hold an offline code on day now: by age,
// or by being on the disability register in force, whatever their age.
func (s *Store) offlineEligible(tx *gormDB, birthDate string, docHash []byte, now time.Time) (bool, error) {
	if OfflineEligible(birthDate, now, s.loc) {
		return true, nil
	}
	return onDisabilityRegister(tx, docHash)
}

// revokeOffline marks code id revoked for reason and appends it to the
// feed under the next version, inside tx; it returns that version.
func revokeOffline(tx *gormDB, id, reason string, now time.Time) (int64, error) {
	if err := tx.Model(&OfflineCode{}).Where("id = ?", id).Updates(map[string]any{"revoked_at": now, "reason": reason}).Error; err != nil {
		return 0, err
	}
	seq, err := nextOfflineSeq(tx, now)
	if err != nil {
		return 0, err
	}
	b, _ := hex.DecodeString(id)
	return seq, tx.Create(&offlineRevocation{Seq: seq, CodeHash: RevocationHash(b), RevokedAt: now}).Error
}

// nextOfflineSeq bumps the offline codes' version inside tx, which then
// holds its row to commit, and returns it.
func nextOfflineSeq(tx *gormDB, now time.Time) (int64, error) {
	if err := bumpVersion(tx, offlineVersionName, now); err != nil {
		return 0, err
	}
	return readVersion(tx, offlineVersionName)
}

// RevocationHash is a revoked code's entry in the feed: the first 128 bits
// of SHA-256 over its id.
func RevocationHash(codeID []byte) []byte {
	h := sha256.Sum256(codeID)
	return h[:16]
}

// ReportOfflineLoss revokes the person's current offline code (挂失) without
// issuing another; errNoOfflineCode when they hold none.
func (s *Store) ReportOfflineLoss(ctx context.Context, personID, actor, requestID string) error {
	now := s.clock.Now().UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var cur offlineSerial
		if err := tx.Clauses(lockForUpdate).Where("person_id = ?", personID).Limit(1).Find(&cur).Error; err != nil {
			return err
		}
		if cur.CodeID == "" || cur.Lost {
			return errNoOfflineCode
		}
		seq, err := revokeOffline(tx, cur.CodeID, ReasonReportedLost, now)
		if err != nil {
			return err
		}
		if err := tx.Model(&offlineSerial{}).Where("person_id = ?", personID).Updates(map[string]any{"lost": true, "seq": seq, "updated_at": now}).Error; err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: now, Actor: actor, Action: "offline_code.loss", Subject: personID,
			Detail: fmt.Sprintf("serial %d", cur.Serial), RequestID: requestID}).Error
	})
}

// CurrentOfflineCode returns the person's live offline code, or
// errNoOfflineCode.
func (s *Store) CurrentOfflineCode(ctx context.Context, personID string) (*OfflineCode, *Person, error) {
	return s.liveOfflineCode(ctx, "", "", "offline_serials.person_id = ?", personID)
}

// KioskReprintWindow is how long after issuing a code a kiosk may fetch its
// print page (a paper jam, a second copy); after that the holder asks again.
const KioskReprintWindow = 15 * time.Minute

// PrintOfflineCode returns the person's live offline code for its print
// page, audited as offline_code.print by actor; errNoOfflineCode when they
// hold none.
func (s *Store) PrintOfflineCode(ctx context.Context, personID, actor, requestID string) (*OfflineCode, *Person, error) {
	return s.liveOfflineCode(ctx, actor, requestID, "offline_serials.person_id = ?", personID)
}

// KioskPrintOfflineCode returns the live offline code codeID for the print
// page of the kiosk that issued it (actor "kiosk:<id>"), within
// KioskReprintWindow of the issue, audited as offline_code.print; any other
// code is errNoOfflineCode, so a kiosk's key opens no one else's paper.
func (s *Store) KioskPrintOfflineCode(ctx context.Context, codeID, actor, requestID string) (*OfflineCode, *Person, error) {
	since := s.clock.Now().Add(-KioskReprintWindow).UTC()
	return s.liveOfflineCode(ctx, actor, requestID, "offline_codes.id = ? AND offline_codes.issued_by = ? AND offline_codes.issued_at > ?",
		codeID, actor, since)
}

// liveOfflineCode returns the current, unrevoked, unexpired offline code
// that where selects, and its holder; with actor set the read is audited
// as offline_code.print.
func (s *Store) liveOfflineCode(ctx context.Context, actor, requestID, where string, args ...any) (*OfflineCode, *Person, error) {
	now := s.clock.Now().UTC()
	var code OfflineCode
	var person Person
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
		return tx.Create(&AuditEntry{At: now, Actor: actor, Action: "offline_code.print", Subject: person.ID,
			Detail: fmt.Sprintf("serial %d", code.Serial), RequestID: requestID}).Error
	})
	if err != nil {
		return nil, nil, err
	}
	return &code, &person, nil
}

// RevokedFeed is one page of the revocation feed.
type RevokedFeed struct {
	Entries []string `json:"entries"`
	Next    int64    `json:"next"`
}

// OfflineRevocations returns the revocations after sequence since, at most
// RevokedFeedBatch, each base64 of RevocationHash, and the sequence to ask
// after next.
func (s *Store) OfflineRevocations(ctx context.Context, since int64) (RevokedFeed, error) {
	var rows []offlineRevocation
	err := s.db.WithContext(ctx).Where("seq > ?", since).Order("seq").Limit(RevokedFeedBatch).Find(&rows).Error
	if err != nil {
		return RevokedFeed{}, err
	}
	feed := RevokedFeed{Entries: make([]string, 0, len(rows)), Next: since}
	for _, r := range rows {
		feed.Entries = append(feed.Entries, base64.StdEncoding.EncodeToString(r.CodeHash))
		feed.Next = r.Seq
	}
	return feed, nil
}

// OfflineBook holds every person's current offline serial in memory, so
// verify answers a superseded or lost paper without a database read. It is
// an immutable snapshot swapped atomically: a large base read once, and a
// small overlay of the changes since, which each refresh copies and
// extends with the rows written after the last sequence it holds; when the
// overlay outgrows offlineOverlayMax it is merged into a new base. A loss
// report never makes a node read the whole table again. It is safe for
// concurrent use.
type OfflineBook struct {
	snap atomic.Pointer[offlineSnapshot]
}

type offlineSnapshot struct {
	base, overlay map[uint32]offlineState
	seq           int64
}

type offlineState struct {
	serial int64
	lost   bool
}

// offlineOverlayMax bounds the changes a refresh copies before it merges
// them into the base (a copy of every serial, once per that many changes).
const offlineOverlayMax = 4096

// offlineChangeBatch is how many changed rows a refresh reads per query.
const offlineChangeBatch = 10000

// NewOfflineBook returns an empty book; load it with Store.RefreshOffline.
func NewOfflineBook() *OfflineBook { return &OfflineBook{} }

// state returns the person's current serial, and whether the book was
// loaded at all.
func (b *OfflineBook) state(no uint32) (st offlineState, known, loaded bool) {
	s := b.snap.Load()
	if s == nil {
		return offlineState{}, false, false
	}
	if st, ok := s.overlay[no]; ok {
		return st, true, true
	}
	st, ok := s.base[no]
	return st, ok, true
}

// Seq returns the last sequence the book holds (0 before the first load).
func (b *OfflineBook) Seq() int64 {
	if s := b.snap.Load(); s != nil {
		return s.seq
	}
	return 0
}

// RefreshOffline brings the book up to date: the first time it reads every
// current serial (with the version it read them at, in one transaction);
// after that only the rows written after the last sequence it holds.
func (s *Store) RefreshOffline(ctx context.Context, b *OfflineBook) error {
	held := b.snap.Load()
	if held == nil {
		return s.loadOffline(ctx, b)
	}
	next := held
	for {
		var rows []offlineSerial
		err := s.db.WithContext(ctx).Select("person_no", "serial", "lost", "seq").Where("seq > ?", next.seq).
			Order("seq").Limit(offlineChangeBatch).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("read offline serial changes: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		next = next.with(rows)
		if len(rows) < offlineChangeBatch {
			break
		}
	}
	if next != held {
		// Another refresh may have swapped in a newer one meanwhile.
		for cur := held; cur.seq < next.seq && !b.snap.CompareAndSwap(cur, next); cur = b.snap.Load() {
		}
	}
	return nil
}

// with returns a snapshot of s with rows applied (rows in seq order).
func (s *offlineSnapshot) with(rows []offlineSerial) *offlineSnapshot {
	next := &offlineSnapshot{base: s.base, seq: rows[len(rows)-1].Seq}
	if len(s.overlay)+len(rows) > offlineOverlayMax {
		next.base = make(map[uint32]offlineState, len(s.base)+len(s.overlay)+len(rows))
		for _, m := range []map[uint32]offlineState{s.base, s.overlay} {
			for no, st := range m {
				next.base[no] = st
			}
		}
		for _, r := range rows {
			next.base[r.PersonNo] = offlineState{serial: r.Serial, lost: r.Lost}
		}
		next.overlay = map[uint32]offlineState{}
		return next
	}
	next.overlay = make(map[uint32]offlineState, len(s.overlay)+len(rows))
	for no, st := range s.overlay {
		next.overlay[no] = st
	}
	for _, r := range rows {
		next.overlay[r.PersonNo] = offlineState{serial: r.Serial, lost: r.Lost}
	}
	return next
}

// loadOffline reads every current serial into the book, with the version
// they were read at.
func (s *Store) loadOffline(ctx context.Context, b *OfflineBook) error {
	snap := &offlineSnapshot{overlay: map[uint32]offlineState{}}
	err := s.db.WithContext(withBulkTransaction(ctx)).Transaction(func(tx *gormDB) error {
		var err error
		if snap.seq, err = readVersion(tx, offlineVersionName); err != nil {
			return err
		}
		var rows []offlineSerial
		if err := tx.Select("person_no", "serial", "lost").Find(&rows).Error; err != nil {
			return err
		}
		snap.base = make(map[uint32]offlineState, len(rows))
		for _, r := range rows {
			snap.base[r.PersonNo] = offlineState{serial: r.Serial, lost: r.Lost}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load offline serials: %w", err)
	}
	// A concurrent first load may have won, and refreshes built on it.
	b.snap.CompareAndSwap(nil, snap)
	return nil
}

// OfflinePolicy lets an offline code stand while its serial is its holder's
// current one and not reported lost, read from the book.
type OfflinePolicy struct{ Book *OfflineBook }

// Revoked returns ReasonReissued for a superseded serial, ReasonReportedLost
// for a lost one. A serial newer than the book knows was issued on another
// node since the last refresh: it stands.
func (p OfflinePolicy) Revoked(_ context.Context, c codetoken.Claims) (string, error) {
	st, ok, loaded := p.Book.state(c.PersonNo)
	if !loaded {
		return "", nil
	}
	switch {
	case !ok || c.Serial > st.serial:
		return "", nil
	case c.Serial < st.serial:
		return ReasonReissued, nil
	case st.lost:
		return ReasonReportedLost, nil
	}
	return "", nil
}

// ErrBirthDateOnDocument refuses a birth date for a document that carries
// its own (a resident ID card's is read from its number).
var ErrBirthDateOnDocument = fault.Errorf(fault.KindConflict, fault.CodeBirthDateOnDocument, "该证件已载明出生日期，无需补录")

// SetBirthDate records, for an operator, the birth date of the registered
// holder of doc, a document that carries none (a passport, a permit): the
// offline codes' age rule then applies to them. Audited as actor's, by
// handle only.
func (s *Store) SetBirthDate(ctx context.Context, doc document.Document, birthDate, actor, requestID string) (*Person, error) {
	if !doc.BirthDate.IsZero() {
		return nil, ErrBirthDateOnDocument
	}
	now := s.clock.Now().UTC()
	if err := CheckBirthDate(birthDate, now, s.loc); err != nil {
		return nil, err
	}
	p, err := s.PersonByDocument(ctx, doc)
	if err != nil {
		return nil, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Model(&Person{}).Where("id = ?", p.ID).Update("birth_date", birthDate).Error; err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: now, Actor: actor, Action: "person.birth_date", Subject: p.ID, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	p.BirthDate = birthDate
	return p, nil
}
