package handlers

import (
	"sync"
	"time"

	"healthcode/models"
)

// maxCountedVerifiers bounds the scan counter: verifiers counted on one
// node in one day (about 100 bytes each). Past it, a verifier not yet
// counted today gets no count rather than a wrong one.
const maxCountedVerifiers = 100_000

// scanCounter counts each verifier's scans today (the service time zone)
// on this node, for the verification view. It reads nothing from the
// database: the verify path must not pay a query per scan for a figure staff
// glance at, and verifications are indexed by holder, not by verifier. A
// verifier's requests reach the same node (the proxy routes by account), so
// the count is theirs unless the node restarted today or their requests moved
// to another node; then it counts from that moment. It is safe for concurrent
// use.
type scanCounter struct {
	loc    *time.Location
	mu     sync.Mutex
	dayEnd time.Time
	counts map[string]int
}

func newScanCounter(loc *time.Location) *scanCounter {
	return &scanCounter{loc: loc, counts: map[string]int{}}
}

// add counts a scan by verifierID at `at` and returns the verifier's count
// today, or false when the counter is full and the verifier not in it.
func (c *scanCounter) add(verifierID string, at time.Time) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(at)
	n, ok := c.counts[verifierID]
	if !ok && len(c.counts) >= maxCountedVerifiers {
		return 0, false
	}
	c.counts[verifierID] = n + 1
	return n + 1, true
}

// get returns the verifier's count today without counting, or false when
// the counter is full and the verifier not in it.
func (c *scanCounter) get(verifierID string, at time.Time) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rollLocked(at)
	n, ok := c.counts[verifierID]
	return n, ok || len(c.counts) < maxCountedVerifiers
}

// rollLocked starts a new day's counts once `at` reaches 24:00.
func (c *scanCounter) rollLocked(at time.Time) {
	if at.Before(c.dayEnd) {
		return
	}
	if len(c.counts) > 0 {
		c.counts = map[string]int{}
	}
	c.dayEnd = models.EndOfDay(at, c.loc)
}
