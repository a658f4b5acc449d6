package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"healthcode/models"
	"healthcode/models/fault"
)

// RecordVisits stores a batch of visits (group commit) in one INSERT, a
// statement of its own: every check-in, or none.
func (s *Store) RecordVisits(ctx context.Context, visits []*models.Visit) error {
	if len(visits) == 0 {
		return nil
	}
	rows := make([]models.CheckIn, 0, len(visits))
	for _, v := range visits {
		rows = append(rows, v.CheckIns...)
	}
	insert, args := multiRowInsert("check_ins", checkInColumns, len(rows), func(i int, args []any) []any {
		c := &rows[i]
		return append(args, c.ID, c.VisitID, c.VenueID, c.AccountID, c.PersonID, c.PersonNo, c.MaskedName, c.MaskedDoc, string(c.Colour), c.CheckedInAt.UTC())
	})
	var audit []models.AuditEntry
	for _, v := range visits {
		audit = append(audit, v.Audit...)
	}
	if len(audit) == 0 {
		// Most visits: one statement, no transaction.
		if _, err := s.db.ConnPool.ExecContext(ctx, insert, args...); err != nil {
			return fmt.Errorf("record %d visits: %w", len(visits), databaseError(err))
		}
		return nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if _, err := tx.Statement.ConnPool.ExecContext(ctx, insert, args...); err != nil {
			return databaseError(err)
		}
		return tx.Create(&audit).Error
	})
	if err != nil {
		return fmt.Errorf("record %d visits: %w", len(visits), err)
	}
	return nil
}

// checkInColumns are the columns RecordVisits writes.
const checkInColumns = "(id, visit_id, venue_id, account_id, person_id, person_no, masked_name, masked_doc, colour, checked_in_at)"

// VisitOf returns the account's visit with its venue. Another account's
// visit is KindNotFound.
func (s *Store) VisitOf(ctx context.Context, accountID, visitID string) (*models.VisitView, error) {
	var out models.VisitView
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Where("id BETWEEN ? AND ? AND account_id = ?", models.CheckInID(visitID, 0), models.CheckInID(visitID, 99), accountID).
			Order("id").Limit(models.MaxCheckInPeople).Find(&out.CheckIns).Error; err != nil {
			return err
		}
		if len(out.CheckIns) == 0 {
			return fault.Errorf(fault.KindNotFound, fault.CodeCheckInNotFound, "登记记录不存在")
		}
		var v models.Venue
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

var errBadCursor = fault.Errorf(fault.KindInvalid, fault.CodeInvalidCursor, "cursor 无效")

// cursor is the position after a check-in, newest first: its time and id.
func encodeCursor(c models.CheckIn) string {
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
func checkInsBefore(tx *gormDB, venueID string, from, to time.Time, at time.Time, id string, limit int) ([]models.CheckIn, error) {
	q := tx.Where("venue_id = ? AND checked_in_at >= ? AND checked_in_at < ?", venueID, from.UTC(), to.UTC())
	if id != "" {
		q = q.Where("(checked_in_at < ? OR (checked_in_at = ? AND id < ?))", at, at, id)
	}
	var out []models.CheckIn
	err := q.Order("checked_in_at DESC, id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// CheckInsOf reads a page of a venue's register for its registrar or a
// deputy, audited in the same transaction. A stranger's venue is
// KindNotFound; a bad cursor KindInvalid.
func (s *Store) CheckInsOf(ctx context.Context, accountID, venueID string, q models.CheckInQuery, requestID string) (*models.CheckInPage, error) {
	var at time.Time
	var id string
	if q.Cursor != "" {
		var err error
		if at, id, err = decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	q.Limit = min(max(q.Limit, 1), models.MaxCheckInPage)
	page := &models.CheckInPage{Counts: map[models.Colour]int64{models.Green: 0, models.Yellow: 0, models.Red: 0}}
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
			Colour models.Colour
			N      int64
		}
		if err := tx.Model(&models.CheckIn{}).Select("colour, COUNT(*) AS n").
			Where("venue_id = ? AND checked_in_at >= ? AND checked_in_at < ?", venueID, q.From.UTC(), q.To.UTC()).
			Group("colour").Scan(&counts).Error; err != nil {
			return err
		}
		for _, c := range counts {
			page.Counts[c.Colour] = c.N
		}
		return tx.Create(&models.AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + accountID, Action: "venue.checkins_read", Subject: venueID,
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
func (s *Store) ExportCheckIns(ctx context.Context, accountID, venueID string, from, to time.Time, requestID string, each func(models.CheckIn) error) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if _, err := venueFor(tx, accountID, venueID); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + accountID, Action: "venue.checkins_export", Subject: venueID,
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
	_, err := s.changeVenue(ctx, accountID, venueID, "venue.checkins_delete", requestID, func(tx *gormDB, v *models.Venue, now time.Time) error {
		res := tx.Where("venue_id = ? AND checked_in_at >= ? AND checked_in_at < ?", venueID, from.UTC(), to.UTC()).Delete(&models.CheckIn{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
