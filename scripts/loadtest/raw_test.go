package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The raw generator's answers must be read exactly as net/http writes them,
// or a run would count garbage: fixed lengths, chunked bodies, 503 with
// Retry-After, and a server that closes the connection.
func TestRawGeneratorReadsWhatTheServerWrites(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		switch r.URL.Path {
		case "/chunked":
			w.WriteHeader(200)
			for range 3 {
				fmt.Fprint(w, strings.Repeat("x", 5000))
				w.(http.Flusher).Flush()
			}
		case "/busy":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"code":"busy"}}`)
		case "/close":
			if n%2 == 0 {
				w.Header().Set("Connection", "close")
			}
			fmt.Fprint(w, "ok")
		default:
			fmt.Fprint(w, `{"status":"ok"}`)
		}
	}))
	defer srv.Close()

	for _, c := range []struct {
		path   string
		status int
		retry  bool
	}{{"/", 200, false}, {"/chunked", 200, false}, {"/busy", 503, true}, {"/close", 200, false}} {
		p, err := prepare(func(int) (*http.Request, error) { return http.NewRequest("GET", srv.URL+c.path, nil) }, 1)
		if err != nil {
			t.Fatal(err)
		}
		served.Store(0)
		res := rawClosedLoop(context.Background(), p, 4, 200*time.Millisecond)
		if len(res.samples) < 20 {
			t.Fatalf("%s: only %d answers in 200ms", c.path, len(res.samples))
		}
		if got := res.count(func(s int) bool { return s == c.status }); got != len(res.samples) {
			t.Errorf("%s: %d of %d answers read as %d: %s", c.path, got, len(res.samples), c.status, res.statuses())
		}
		if res.retryAfterSeen != c.retry {
			t.Errorf("%s: Retry-After seen = %v", c.path, res.retryAfterSeen)
		}
		// Every answer counted was served; none was invented or lost.
		if int64(len(res.samples)) != served.Load() {
			t.Errorf("%s: %d answers counted, %d served", c.path, len(res.samples), served.Load())
		}
	}
}

func TestRawOpenLoopOffersTheRateAndCountsDrops(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	defer close(release)

	p, _ := prepare(func(int) (*http.Request, error) { return http.NewRequest("GET", srv.URL+"/", nil) }, 1)
	res := rawOpenLoop(context.Background(), p, 1000, 500*time.Millisecond, 8)
	if n := len(res.samples) + int(res.dropped); n < 400 || n > 600 {
		t.Errorf("offered %d requests at 1000/s for 0.5s", n)
	}

	// Two connections held by a server that does not answer: everything
	// after the first two requests is dropped on the client side.
	slow, _ := prepare(func(int) (*http.Request, error) { return http.NewRequest("GET", srv.URL+"/slow", nil) }, 1)
	done := make(chan *results)
	go func() { done <- rawOpenLoop(context.Background(), slow, 1000, 300*time.Millisecond, 2) }()
	time.Sleep(400 * time.Millisecond)
	release <- struct{}{}
	release <- struct{}{}
	res = <-done
	if len(res.samples) != 2 || res.dropped < 250 {
		t.Errorf("%d answered, %d dropped; want 2 answered and the rest dropped", len(res.samples), res.dropped)
	}
}
