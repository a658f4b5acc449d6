package platformtest

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// hang holds a request unanswered until its client gives up (the
// connection closes) or released is closed at the end of the test.
func hang(r *http.Request, released <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-released:
	}
}

// BlackHole is a black-holed egress: a TCP listener that accepts every
// connection and never reads a byte or answers. Point a client at URL to see
// whether, and for how long, it waits.
type BlackHole struct {
	// URL is http://<address> of the listener.
	URL string

	ln       net.Listener
	mu       sync.Mutex
	accepted int
	conns    []net.Conn
}

// NewBlackHole starts a black hole on a loopback port; the test's end closes
// it and every connection it holds, so clients still waiting get an error.
func NewBlackHole(t testing.TB) *BlackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &BlackHole{URL: "http://" + ln.Addr().String(), ln: ln}
	go b.accept()
	t.Cleanup(b.close)
	return b
}

// Accepted returns how many connections reached the black hole.
func (b *BlackHole) Accepted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accepted
}

func (b *BlackHole) accept() {
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.accepted++
		b.conns = append(b.conns, conn)
		b.mu.Unlock()
	}
}

func (b *BlackHole) close() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}

// Within runs call and reports how long it took and whether it returned in
// time. When call has not returned after limit it fails the test, saying
// what hung, and returns at once (call goes on in the background until the
// fakes close; do not read what it writes).
func Within(t testing.TB, limit time.Duration, what string, call func()) (time.Duration, bool) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		call()
	}()
	select {
	case <-done:
		return time.Since(start), true
	case <-time.After(limit):
		t.Errorf("%s: no answer after %v", what, limit)
		return limit, false
	}
}
