// Package clocktest helps tests (and load runs) that must run on the real
// clock: a browser page or a child process compares times with its own
// clock, so the service under test cannot be given a fixed one. Such a test
// must still not depend on the hour it happens to run at.
package clocktest

import (
	"fmt"
	"sync"
	"time"
)

// Zone is NoonZone of the moment this process first asks: one zone for all
// the servers a test starts, so nodes behind one proxy agree on the date.
var Zone = sync.OnceValue(func() string { return NoonZone(time.Now()) })

// NoonZone names a whole-hour zone (an IANA "Etc/GMT" one) in which now is
// between 12:00 and 13:00, so a test started now is about eleven hours from
// either end of the service's day. A test of the real clock that verifies a
// face, then shows a code, fails if the day ends in between; in the service
// zone (Shanghai) that happens to a run started just before 16:00 UTC.
func NoonZone(now time.Time) string {
	east := 12 - now.UTC().Hour() // -11 … +12 hours east of UTC
	switch {
	case east > 0:
		return fmt.Sprintf("Etc/GMT-%d", east) // the IANA sign is inverted
	case east < 0:
		return fmt.Sprintf("Etc/GMT+%d", -east)
	}
	return "Etc/GMT"
}
