package handlers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/config"
)

func TestAdmissionLimitsInFlight(t *testing.T) {
	a := newAdmission(2, 0, 0, 0)
	for range 2 {
		if !a.acquire(context.Background()) {
			t.Fatal("a free slot was refused")
		}
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
	a := newAdmission(1, 1, 30*time.Millisecond, 0)
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
	a := newAdmission(4, 8, 5*time.Millisecond, 0)
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
	r := e.router
	release := make(chan struct{})
	r.GET("/test/block", func(c *gin.Context) { <-release; c.Status(204) })
	done := make(chan struct{})
	go func() { e.do("GET", "/test/block", nil); close(done) }()
	for e.api.admission.inFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	rec := e.do("GET", "/api/v1/me", nil, headerRequestID, "gateway-id-0001")
	wantError(t, rec, 503, "busy")
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	// The prepared refusal is the same JSON any other error answer is, with
	// the server's own request id, never the gateway's.
	id := rec.Header().Get(headerRequestID)
	want := `{"error":{"code":"busy","message":"系统繁忙，请稍后再试","request_id":"` + id + `"}}`
	if got := rec.Body.String(); got != want || !validRequestID(id) || id == "gateway-id-0001" {
		t.Errorf("body = %s, want %s", got, want)
	}
	if rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("headers = %v", rec.Header())
	}
	// Sheds are logged once a second with their count, not one line each.
	for range 3 {
		wantError(t, e.do("GET", "/api/v1/me", nil), 503, "busy")
	}
	if n := strings.Count(e.logs.String(), "shedding load"); n != 1 {
		t.Errorf("%d shedding log lines for 4 sheds within a second, want 1:\n%s", n, e.logs.String())
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
	for _, want := range []string{"healthcode_admission_shed_total 4", `le="+Inf"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	// Shed requests never reached a route: the route counters hold only
	// what was served.
	if strings.Contains(metrics, `route="/api/v1/me"`) {
		t.Errorf("a shed request was counted under its route:\n%s", metrics)
	}
}

// A request that waited too long before reaching the handlers (here: its
// headers trickled in) is shed at once; the next request on the same
// keep-alive connection is judged on its own wait.
func TestAdmissionShedsRequestsThatWaitedTooLong(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) { s.cfg.Admission.MaxDelay = config.Duration(30 * time.Millisecond) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.handler, ConnContext: ConnContext}
	go srv.Serve(TrackArrivals(ln))
	defer srv.Close()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	read := func() *http.Response {
		t.Helper()
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	fmt.Fprint(conn, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")
	time.Sleep(60 * time.Millisecond)
	fmt.Fprint(conn, "\r\n")
	if resp := read(); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("a request that waited 60 ms = %d, want 503 with Retry-After", resp.StatusCode)
	}
	time.Sleep(60 * time.Millisecond) // idle time between requests does not count
	fmt.Fprint(conn, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := read(); resp.StatusCode != 401 {
		t.Errorf("the next prompt request = %d, want 401 (it reached the handler)", resp.StatusCode)
	}
	// Health checks are never shed.
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	time.Sleep(60 * time.Millisecond)
	fmt.Fprint(conn, "\r\n")
	if resp := read(); resp.StatusCode != 200 {
		t.Errorf("a slow health check = %d", resp.StatusCode)
	}
}
