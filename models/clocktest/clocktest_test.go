package clocktest_test

import (
	"testing"
	"time"

	_ "time/tzdata"

	"healthcode/models/clocktest"
)

func TestNoonZoneIsNoonAtEveryHour(t *testing.T) {
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	for m := 0; m < 24*60; m += 17 {
		now := day.Add(time.Duration(m) * time.Minute)
		name := clocktest.NoonZone(now)
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatalf("%s: %s does not load: %v", now, name, err)
		}
		if h := now.In(loc).Hour(); h != 12 {
			t.Errorf("%s is %02d:xx in %s, want 12:xx", now.Format(time.TimeOnly), h, name)
		}
	}
}
