package handlers

import (
	"testing"
	"time"

	"healthcode/models/fault"
)

// A dependency down fails every request: one line a second a kind reaches
// the log, and the next says how many it stood for.
func TestOutageLinesAreSampled(t *testing.T) {
	var s logSampler
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		kind fault.Kind
		ok   bool
		more int64
	}{
		{0, fault.KindUnavailable, true, 0},
		{100 * time.Millisecond, fault.KindUnavailable, false, 0},
		{200 * time.Millisecond, fault.KindUpstream, true, 0},
		{900 * time.Millisecond, fault.KindUnavailable, false, 0},
		{time.Second, fault.KindUnavailable, true, 2},
		{1100 * time.Millisecond, fault.KindUpstream, false, 0},
		{3 * time.Second, fault.KindUpstream, true, 1},
	}
	for _, st := range steps {
		ok, more := s.allow(st.kind, t0.Add(st.at))
		if ok != st.ok || more != st.more {
			t.Errorf("at %v (%s): allow = %v, %d; want %v, %d", st.at, st.kind, ok, more, st.ok, st.more)
		}
	}
}
