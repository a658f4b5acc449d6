package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"healthcode/models/fault"
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

// front is admission control in front of the router. A request the server
// cannot take is answered there, before routing, the access log and the
// rest of the middleware: under overload every microsecond spent refusing
// is taken from the requests being served, so the refusal is a prepared
// answer. Health, readiness and metrics bypass it so a busy server still
// reports how it is (metrics bound their own concurrent scrapes).
type front struct {
	api    *API
	router http.Handler
	// lastShedLog is when shedding was last logged (Unix ns), and
	// shedLogged the shed count as of then: sheds are logged as one line a
	// second with their count, not a line each, which under overload would
	// cost as much as the refusals.
	lastShedLog atomic.Int64
	shedLogged  atomic.Uint64
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	delay, conn := waited(r.Context(), now)
	if conn != nil {
		defer conn.done()
	}
	switch r.URL.Path {
	case "/healthz", "/readyz":
		f.router.ServeHTTP(w, r)
		return
	case "/metrics":
		if f.api.cfg.MetricsAddr == "" { // else not routed here
			f.router.ServeHTTP(w, r)
			return
		}
	}
	a := f.api.admission
	if d := a.maxDelay; d > 0 && delay > d {
		// The request already waited too long in the socket or for a core:
		// answer at once rather than add to the backlog.
		a.shed.Add(1)
		f.refuse(w, r, now)
		return
	}
	if !a.acquire(r.Context()) {
		f.refuse(w, r, now)
		return
	}
	defer a.release()
	f.router.ServeHTTP(w, r)
}

// busyBodyStart and busyBodyEnd are the 503 body before and after its
// request id: the same JSON respondError writes for fault.ErrBusy (a test
// compares the two).
var busyBodyStart, busyBodyEnd = func() ([]byte, []byte) {
	const mark = "REQUESTID"
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: fault.ErrBusy.Code, Message: fault.ErrBusy.Message, RequestID: mark}})
	start, end, _ := bytes.Cut(b, []byte(mark))
	return start, end
}()

var (
	headerJSON  = []string{"application/json; charset=utf-8"}
	headerRetry = []string{"1"}
)

// refuse answers 503 busy with Retry-After.
func (f *front) refuse(w http.ResponseWriter, r *http.Request, now time.Time) {
	id := newRequestID() // ours, as for every answer (see requestID)
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Retry-After"] = headerRetry
	h[headerRequestID] = []string{id}
	body := make([]byte, 0, len(busyBodyStart)+len(id)+len(busyBodyEnd))
	body = append(append(append(body, busyBodyStart...), id...), busyBodyEnd...)
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(body)

	last := f.lastShedLog.Load()
	if now.UnixNano()-last >= int64(time.Second) && f.lastShedLog.CompareAndSwap(last, now.UnixNano()) {
		total := f.api.admission.shed.Load()
		f.api.log.Warn("shedding load", "shed", total-f.shedLogged.Swap(total), "in_flight", f.api.admission.inFlight(),
			"last_request_id", id)
	}
}
