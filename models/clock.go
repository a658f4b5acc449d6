package models

import "time"

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
