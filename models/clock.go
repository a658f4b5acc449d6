package models

import (
	"sync/atomic"
	"time"
)

// Clock tells the time. The service takes one from its composition root so
// midnight, expiry and clock skew can be tested; nothing calls time.Now
// directly.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// EndOfDay returns the next 24:00 (midnight at the end of t's day) in loc.
func EndOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// DateIn returns t's calendar date in loc as "2006-01-02".
func DateIn(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(time.DateOnly)
}

// Day is one calendar day in a location.
type Day struct {
	// Date is the day as "2006-01-02"; Start and End its first instant and
	// the next midnight; EndText End as RFC 3339 in the location.
	Date       string
	Start, End time.Time
	EndText    string
}

// Days tells the calendar day of a time in one location and remembers the
// last day asked, so the paths every code display takes (today's face check,
// the code's valid-until) format no date per request.
type Days struct {
	loc  *time.Location
	last atomic.Pointer[Day]
}

// NewDays returns the days of loc.
func NewDays(loc *time.Location) *Days { return &Days{loc: loc} }

// Of returns t's day.
func (d *Days) Of(t time.Time) *Day {
	if p := d.last.Load(); p != nil && !t.Before(p.Start) && t.Before(p.End) {
		return p
	}
	y, m, dd := t.In(d.loc).Date()
	day := &Day{Start: time.Date(y, m, dd, 0, 0, 0, 0, d.loc), End: time.Date(y, m, dd+1, 0, 0, 0, 0, d.loc)}
	day.Date, day.EndText = day.Start.Format(time.DateOnly), day.End.Format(time.RFC3339)
	d.last.Store(day)
	return day
}
