package models

import (
	"testing"
	"time"
)

// Days answers as DateIn and EndOfDay do, whichever day was asked last:
// across midnight, back again (a clock set back), and far apart.
func TestDaysAgreeWithDateInAndEndOfDay(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	days := NewDays(loc)
	midnight := time.Date(2026, 3, 10, 0, 0, 0, 0, loc)
	for _, at := range []time.Time{
		midnight.Add(-time.Nanosecond), midnight, midnight.Add(time.Nanosecond), midnight.Add(-time.Nanosecond),
		midnight.Add(23*time.Hour + 59*time.Minute), midnight.Add(24 * time.Hour), midnight.AddDate(-1, 0, 0),
		midnight.Add(15 * time.Hour).UTC(), // the same instant in another location's terms
	} {
		d := days.Of(at)
		if d.Date != DateIn(at, loc) || !d.End.Equal(EndOfDay(at, loc)) || d.EndText != EndOfDay(at, loc).Format(time.RFC3339) {
			t.Errorf("Of(%s) = %s ending %s (%s), want %s ending %s", at, d.Date, d.End, d.EndText, DateIn(at, loc), EndOfDay(at, loc))
		}
		if at.Before(d.Start) || !at.Before(d.End) {
			t.Errorf("Of(%s) = [%s, %s) does not hold it", at, d.Start, d.End)
		}
	}
}
