package handlers

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestAdmissionLimitsInFlight(t *testing.T) {
	a := newAdmission(2, 0, 0)
	if !a.acquire(context.Background()) || !a.acquire(context.Background()) {
		t.Fatal("free slots refused")
	}
	start := time.Now()
	if a.acquire(context.Background()) {
		t.Fatal("a third request got in past a limit of 2")
	}
	if time.Since(start) > 5*time.Millisecond {
		t.Error("shedding without a queue waited")
	}
	a.release()
	if !a.acquire(context.Background()) {
		t.Error("a released slot was not reusable")
	}
	if a.shed.Load() != 1 {
		t.Errorf("shed = %d", a.shed.Load())
	}
}

func TestAdmissionQueueIsShortAndBounded(t *testing.T) {
	a := newAdmission(1, 1, 30*time.Millisecond)
	a.acquire(context.Background())

	// One may wait; a second waiter is shed at once.
	got := make(chan bool, 1)
	go func() { got <- a.acquire(context.Background()) }()
	for a.waiting.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if a.acquire(context.Background()) {
		t.Fatal("a second waiter was queued past a queue of 1")
	}
	if time.Since(start) > 5*time.Millisecond {
		t.Error("a request over the queue bound waited")
	}
	// The waiter gets the slot when it frees within the wait…
	time.Sleep(10 * time.Millisecond)
	a.release()
	if !<-got {
		t.Error("the waiter did not get the freed slot")
	}
	// …and gives up after the wait otherwise.
	start = time.Now()
	if a.acquire(context.Background()) {
		t.Fatal("got a slot while all were busy")
	}
	if w := time.Since(start); w < 25*time.Millisecond || w > 200*time.Millisecond {
		t.Errorf("waited %v, want about 30ms", w)
	}
}

func TestAdmissionUnderConcurrency(t *testing.T) {
	a := newAdmission(4, 8, 5*time.Millisecond)
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if !a.acquire(context.Background()) {
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			a.release()
		})
	}
	wg.Wait()
	if most.Load() > 4 {
		t.Errorf("%d requests inside at once, limit 4", most.Load())
	}
	if a.inFlight() != 0 || a.waiting.Load() != 0 {
		t.Errorf("slots leaked: %d in flight, %d waiting", a.inFlight(), a.waiting.Load())
	}
}

func TestShedRequestsGet503BusyButHealthBypasses(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) {
		s.cfg.Admission.MaxInFlight, s.cfg.Admission.MaxQueue = 1, 0
	})
	// Hold the only slot with a request that blocks inside the chain.
	r := e.handler
	release := make(chan struct{})
	r.GET("/test/block", func(c *gin.Context) { <-release; c.Status(204) })
	done := make(chan struct{})
	go func() { e.do("GET", "/test/block", nil); close(done) }()
	for e.api.admission.inFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	rec := e.do("GET", "/api/v1/me", nil)
	wantError(t, rec, 503, "busy")
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	if rec := e.do("GET", "/healthz", nil); rec.Code != 200 {
		t.Errorf("healthz under load = %d", rec.Code)
	}
	if rec := e.do("GET", "/readyz", nil); rec.Code != 200 {
		t.Errorf("readyz under load = %d", rec.Code)
	}
	close(release)
	<-done
	metrics := e.do("GET", "/metrics", nil).Body.String()
	for _, want := range []string{`healthcode_requests_total{method="GET",route="/api/v1/me",status="5xx"} 1`, "healthcode_admission_shed_total 1", `le="+Inf"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}
