package handlers

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
)

// admission is a concurrency limit with a short bounded queue. A request
// takes one of maxInFlight slots; when none is free it may wait up to
// maxWait, if fewer than maxQueue already wait; otherwise it is shed at
// once. Shedding early keeps the latency of accepted requests bounded when
// far more arrive than the server can serve.
type admission struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
	maxWait  time.Duration
	// maxDelay sheds a request that waited this long before it even reached
	// the handlers (0: never); see arrival.go.
	maxDelay time.Duration
	shed     atomic.Uint64
}

func newAdmission(maxInFlight, maxQueue int, maxWait, maxDelay time.Duration) *admission {
	return &admission{slots: make(chan struct{}, maxInFlight), maxQueue: int64(maxQueue), maxWait: maxWait, maxDelay: maxDelay}
}

// acquire takes a slot, waiting within the bounds; false means shed.
func (a *admission) acquire(ctx context.Context) bool {
	select {
	case a.slots <- struct{}{}:
		return true
	default:
	}
	if a.maxWait <= 0 || a.waiting.Add(1) > a.maxQueue {
		a.waiting.Add(-1)
		a.shed.Add(1)
		return false
	}
	defer a.waiting.Add(-1)
	t := time.NewTimer(a.maxWait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	a.shed.Add(1)
	return false
}

func (a *admission) release() { <-a.slots }

// inFlight reports the slots in use.
func (a *admission) inFlight() int { return len(a.slots) }

// admit is the admission middleware; health, readiness and metrics bypass it
// so a busy server still reports how it is.
func (api *API) admit(c *gin.Context) {
	delay, conn := waited(c.Request.Context(), time.Now())
	if conn != nil {
		defer conn.done()
	}
	switch c.FullPath() {
	case "/healthz", "/readyz", "/metrics":
		c.Next()
		return
	}
	if d := api.admission.maxDelay; d > 0 && delay > d {
		// The request already waited too long in the socket or for a core:
		// answer at once rather than add to the backlog.
		api.admission.shed.Add(1)
		respondError(c, api.log, models.ErrBusy)
		return
	}
	if !api.admission.acquire(c.Request.Context()) {
		respondError(c, api.log, models.ErrBusy)
		return
	}
	defer api.admission.release()
	c.Next()
}
