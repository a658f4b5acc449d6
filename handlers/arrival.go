package handlers

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// Queueing before the handlers is invisible to a concurrency limit: when the
// cores are saturated, requests wait in socket buffers and for the scheduler,
// not in the admission queue. To see that wait, the listener notes when the
// first bytes of each request arrive on a connection; admission sheds a
// request that has already waited longer than the configured delay.

// arrivalConn records when a request's first bytes arrived.
type arrivalConn struct {
	net.Conn
	// arrived is the Unix nanosecond time the current request's first
	// bytes were read, or 0 when unknown (a pipelined request whose bytes
	// were already buffered).
	arrived atomic.Int64
	// idle is set between requests: the next read with data starts one.
	idle atomic.Bool
}

func (c *arrivalConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.idle.CompareAndSwap(true, false) {
		c.arrived.Store(time.Now().UnixNano())
	}
	return n, err
}

// done marks the end of a request: the connection waits for the next one.
func (c *arrivalConn) done() {
	c.arrived.Store(0)
	c.idle.Store(true)
}

type arrivalListener struct{ net.Listener }

func (l arrivalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ac := &arrivalConn{Conn: c}
	ac.idle.Store(true)
	return ac, nil
}

// TrackArrivals wraps a listener so admission control can see how long each
// request waited before it reached the handlers. Pass ConnContext to the
// http.Server as well.
func TrackArrivals(ln net.Listener) net.Listener { return arrivalListener{ln} }

type connKey struct{}

// ConnContext puts the connection in each request's context; it goes into
// http.Server.ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if ac, ok := c.(*arrivalConn); ok {
		return context.WithValue(ctx, connKey{}, ac)
	}
	return ctx
}

// waited returns how long the request has waited since its first bytes
// arrived, and the connection to mark done, or (0, nil) when unknown.
func waited(ctx context.Context, now time.Time) (time.Duration, *arrivalConn) {
	ac, ok := ctx.Value(connKey{}).(*arrivalConn)
	if !ok {
		return 0, nil
	}
	at := ac.arrived.Load()
	if at == 0 {
		return 0, ac
	}
	return now.Sub(time.Unix(0, at)), ac
}
