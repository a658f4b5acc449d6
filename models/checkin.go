package models

import (
	"time"
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
	// Audit is written with the check-ins, in their transaction: a visit
	// that names relatives reads each one's live colour, a proxy lookup.
	Audit []AuditEntry
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
	visitID := NewOrderedID(now)
	for i := range people {
		people[i].ID, people[i].VisitID, people[i].VenueID, people[i].AccountID, people[i].CheckedInAt = CheckInID(visitID, i), visitID, venueID, accountID, now
	}
	return &Visit{ID: visitID, CheckIns: people}
}

// CheckInID is the id of a visit's i-th check-in.
func CheckInID(visitID string, i int) string {
	return visitID + string([]byte{'0' + byte(i/10), '0' + byte(i%10)})
}

// VisitView is a visit as its result page shows it.
type VisitView struct {
	CheckIns     []CheckIn
	VenueName    string
	VenueAddress string
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
