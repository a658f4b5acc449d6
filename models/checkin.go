package models

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"healthcode/models/fault"
)

// CheckIn is one person's scan of a venue's code (扫码登记): who (a handle
// and the masked name and document), the colour they had, by which account
// (a parent checks in a child), and when. It never changes a colour.
type CheckIn struct {
	ID string `gorm:"primaryKey;size:32"`
	// VisitID groups the people checked in by one scan.
	VisitID     string
	VenueID     string
	AccountID   string
	PersonID    string
	PersonNo    uint32
	MaskedName  string
	MaskedDoc   string
	Colour      Colour
	CheckedInAt time.Time
}

// TableName names the table.
func (CheckIn) TableName() string { return "check_ins" }

// MaxCheckInPeople bounds the people one scan checks in: the visitor and
// their relatives.
const MaxCheckInPeople = MaxRelatives + 1

// Visit is one scan's check-ins, handed to the group-commit writer: they are
// durable before the answer. Its result page opens with a sealed ticket
// naming ID, which writes nothing until the page is opened.
type Visit struct {
	ID       string
	CheckIns []CheckIn
}

// NewVisit makes a visit of the account at a venue at now for people.
//
// Check-ins are the busiest table after scans, so each costs one B-tree
// written at its end and one index entry by venue: the visit's id rises
// with time and each check-in's id is the visit's and its place in it, so
// the visit (its result page) and the oldest rows (the purge) are ranges
// of the primary key, with no index of their own.
func NewVisit(accountID, venueID string, people []CheckIn, now time.Time) *Visit {
	now = now.UTC()
	visitID := newOrderedID(now)
	for i := range people {
		people[i].ID, people[i].VisitID, people[i].VenueID, people[i].AccountID, people[i].CheckedInAt = checkInID(visitID, i), visitID, venueID, accountID, now
	}
	return &Visit{ID: visitID, CheckIns: people}
}

// checkInID is the id of a visit's i-th check-in.
func checkInID(visitID string, i int) string {
	return visitID + string([]byte{'0' + byte(i/10), '0' + byte(i%10)})
}

// RecordVisits stores a batch of visits (group commit) in one INSERT, a
// statement of its own: every check-in, or none.
func (s *Store) RecordVisits(ctx context.Context, visits []*Visit) error {
	if len(visits) == 0 {
		return nil
	}
	rows := make([]CheckIn, 0, len(visits))
	for _, v := range visits {
		rows = append(rows, v.CheckIns...)
	}
	insert, args := multiRowInsert("check_ins", checkInColumns, len(rows), func(i int, args []any) []any {
		c := &rows[i]
		return append(args, c.ID, c.VisitID, c.VenueID, c.AccountID, c.PersonID, c.PersonNo, c.MaskedName, c.MaskedDoc, string(c.Colour), c.CheckedInAt.UTC())
	})
	if _, err := s.db.ConnPool.ExecContext(ctx, insert, args...); err != nil {
		return fmt.Errorf("record %d visits: %w", len(visits), databaseError(err))
	}
	return nil
}

// checkInColumns are the columns RecordVisits writes.
const checkInColumns = "(id, visit_id, venue_id, account_id, person_id, person_no, masked_name, masked_doc, colour, checked_in_at)"

// VisitView is a visit as its result page shows it.
type VisitView struct {
	CheckIns     []CheckIn
	VenueName    string
	VenueAddress string
}

// VisitOf returns the account's visit with its venue. Another account's
// visit is KindNotFound.
func (s *Store) VisitOf(ctx context.Context, accountID, visitID string) (*VisitView, error) {
	var out VisitView
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Where("id BETWEEN ? AND ? AND account_id = ?", checkInID(visitID, 0), checkInID(visitID, 99), accountID).
			Order("id").Limit(MaxCheckInPeople).Find(&out.CheckIns).Error; err != nil {
			return err
		}
		if len(out.CheckIns) == 0 {
			return fault.Errorf(fault.KindNotFound, fault.CodeCheckInNotFound, "登记记录不存在")
		}
		var v Venue
		if err := tx.Select("name", "address").Take(&v, "id = ?", out.CheckIns[0].VenueID).Error; err != nil {
			return notFoundAs(err, errVenueNotFound)
		}
		out.VenueName, out.VenueAddress = v.Name, v.Address
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The registrar reads them newest first; the visitor in the order given.
	return &out, nil
}

// MaxCheckInPage is the most check-ins one page of a register holds.
const MaxCheckInPage = 200

// CheckInQuery asks for a venue's check-ins in [From, To), newest first,
// after Cursor (a previous page's NextCursor), at most Limit.
type CheckInQuery struct {
	From, To time.Time
	Cursor   string
	Limit    int
}

// CheckInPage is a page of a venue's register, with the counts by colour of
// the whole period.
type CheckInPage struct {
	CheckIns []CheckIn
	// NextCursor continues after the last check-in of the page; "" when
	// there is no more.
	NextCursor string
	Counts     map[Colour]int64
}

var errBadCursor = fault.Errorf(fault.KindInvalid, fault.CodeInvalidCursor, "cursor 无效")

// cursor is the position after a check-in, newest first: its time and id.
func encodeCursor(c CheckIn) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CheckedInAt.UnixMicro(), 10) + ":" + c.ID))
}

func decodeCursor(s string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", errBadCursor
	}
	at, id, ok := strings.Cut(string(raw), ":")
	micros, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" || len(id) > 32 {
		return time.Time{}, "", errBadCursor
	}
	return time.UnixMicro(micros).UTC(), id, nil
}

// checkInsBefore reads up to limit check-ins of a venue in [from, to) older
// than the cursor position (when set), newest first.
func checkInsBefore(tx *gormDB, venueID string, from, to time.Time, at time.Time, id string, limit int) ([]CheckIn, error) {
	q := tx.Where("venue_id = ? AND checked_in_at >= ? AND checked_in_at < ?", venueID, from.UTC(), to.UTC())
	if id != "" {
		q = q.Where("(checked_in_at < ? OR (checked_in_at = ? AND id < ?))", at, at, id)
	}
	var out []CheckIn
	err := q.Order("checked_in_at DESC, id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// CheckInsOf reads a page of a venue's register for its registrar or a
// deputy, audited in the same transaction. A stranger's venue is
// KindNotFound; a bad cursor KindInvalid.
func (s *Store) CheckInsOf(ctx context.Context, accountID, venueID string, q CheckInQuery, requestID string) (*CheckInPage, error) {
	var at time.Time
	var id string
	if q.Cursor != "" {
		var err error
		if at, id, err = decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	q.Limit = min(max(q.Limit, 1), MaxCheckInPage)
	page := &CheckInPage{Counts: map[Colour]int64{Green: 0, Yellow: 0, Red: 0}}
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if _, err := venueFor(tx, accountID, venueID); err != nil {
			return err
		}
		rows, err := checkInsBefore(tx, venueID, q.From, q.To, at, id, q.Limit+1)
		if err != nil {
			return err
		}
		if len(rows) > q.Limit {
			rows = rows[:q.Limit]
			page.NextCursor = encodeCursor(rows[len(rows)-1])
		}
		page.CheckIns = rows
		var counts []struct {
			Colour Colour
			N      int64
		}
		if err := tx.Model(&CheckIn{}).Select("colour, COUNT(*) AS n").
			Where("venue_id = ? AND checked_in_at >= ? AND checked_in_at < ?", venueID, q.From.UTC(), q.To.UTC()).
			Group("colour").Scan(&counts).Error; err != nil {
			return err
		}
		for _, c := range counts {
			page.Counts[c.Colour] = c.N
		}
		return tx.Create(&AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + accountID, Action: "venue.checkins_read", Subject: venueID,
			Detail:    fmt.Sprintf("from=%s to=%s rows=%d", q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339), len(rows)),
			RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// exportPage is how many check-ins one statement of an export reads.
const exportPage = 1000

// ExportCheckIns hands each check-in of a venue in [from, to), newest first,
// to each, for its registrar or a deputy: the export is audited first, then
// read a page at a time (each page its own short statement). A stranger's
// venue is KindNotFound before anything is handed out.
func (s *Store) ExportCheckIns(ctx context.Context, accountID, venueID string, from, to time.Time, requestID string, each func(CheckIn) error) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if _, err := venueFor(tx, accountID, venueID); err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + accountID, Action: "venue.checkins_export", Subject: venueID,
			Detail: "from=" + from.UTC().Format(time.RFC3339) + " to=" + to.UTC().Format(time.RFC3339), RequestID: requestID}).Error
	})
	if err != nil {
		return err
	}
	var at time.Time
	var id string
	for {
		rows, err := checkInsBefore(s.db.WithContext(ctx), venueID, from, to, at, id, exportPage)
		if err != nil {
			return fmt.Errorf("export check-ins: %w", err)
		}
		for _, r := range rows {
			if err := each(r); err != nil {
				return err
			}
		}
		if len(rows) < exportPage {
			return nil
		}
		last := rows[len(rows)-1]
		at, id = last.CheckedInAt, last.ID
	}
}

// DeleteCheckIns deletes a venue's check-ins in [from, to) for its
// registrar (a deputy only views), audited; it returns how many went.
func (s *Store) DeleteCheckIns(ctx context.Context, accountID, venueID string, from, to time.Time, requestID string) (int64, error) {
	var n int64
	_, err := s.changeVenue(ctx, accountID, venueID, "venue.checkins_delete", requestID, func(tx *gormDB, v *Venue, now time.Time) error {
		res := tx.Where("venue_id = ? AND checked_in_at >= ? AND checked_in_at < ?", venueID, from.UTC(), to.UTC()).Delete(&CheckIn{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
