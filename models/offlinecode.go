package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"

	"healthcode/models/codetoken"
	"healthcode/models/fault"
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

// OfflineSerial is a person's current offline code: the serial last issued,
// whether it was reported lost, and its code.
type OfflineSerial struct {
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

// TableName names the table.
func (OfflineSerial) TableName() string { return "offline_serials" }

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

// RevocationHash is a revoked code's entry in the feed: the first 128 bits
// of SHA-256 over its id.
func RevocationHash(codeID []byte) []byte {
	h := sha256.Sum256(codeID)
	return h[:16]
}

// KioskReprintWindow is how long after issuing a code a kiosk may fetch its
// print page (a paper jam, a second copy); after that the holder asks again.
const KioskReprintWindow = 15 * time.Minute

// RevokedFeed is one page of the revocation feed.
type RevokedFeed struct {
	Entries []string `json:"entries"`
	Next    int64    `json:"next"`
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

// NewOfflineBook returns an empty book; load it with store.Store.RefreshOffline.
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

// Loaded reports whether the book was loaded once.
func (b *OfflineBook) Loaded() bool { return b.snap.Load() != nil }

// Load gives the book its first snapshot: every current serial, read at
// sequence seq. A concurrent first load may have won, and refreshes built
// on it: then the book keeps that one.
func (b *OfflineBook) Load(seq int64, rows []OfflineSerial) {
	snap := &offlineSnapshot{base: make(map[uint32]offlineState, len(rows)), overlay: map[uint32]offlineState{}, seq: seq}
	for _, r := range rows {
		snap.base[r.PersonNo] = offlineState{serial: r.Serial, lost: r.Lost}
	}
	b.snap.CompareAndSwap(nil, snap)
}

// Apply brings a loaded book up to date with the rows read returns: given a
// sequence, the rows written after it in sequence order, at most batch of
// them; it reads until a read returns fewer. Errors are read's.
func (b *OfflineBook) Apply(batch int, read func(after int64) ([]OfflineSerial, error)) error {
	held := b.snap.Load()
	next := held
	for {
		rows, err := read(next.seq)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		next = next.with(rows)
		if len(rows) < batch {
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
func (s *offlineSnapshot) with(rows []OfflineSerial) *offlineSnapshot {
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
