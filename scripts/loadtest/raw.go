package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The overload run offers several times what the server serves. Through
// net/http's client the generator spends about as much CPU per request as
// the server does, so on a machine they share it could never offer more than
// the server takes. rawOpenLoop writes prepared request bytes and reads the
// answers with a minimal HTTP/1.1 parser instead, which costs a fraction of
// that, so one core can offer a crowd.

// prepared is a target's distinct requests, as bytes on the wire.
type prepared struct {
	addr string // host:port they go to
	reqs [][]byte
}

// prepare renders the first n requests of gen once.
func prepare(gen requestGen, n int) (prepared, error) {
	p := prepared{reqs: make([][]byte, n)}
	for i := range n {
		req, err := gen(i)
		if err != nil {
			return p, err
		}
		var b bytes.Buffer
		if err := req.Write(&b); err != nil {
			return p, err
		}
		p.addr, p.reqs[i] = req.URL.Host, b.Bytes()
	}
	return p, nil
}

// rawClosedLoop runs clients connections that each send the next request
// as soon as the last is answered, for d.
func rawClosedLoop(ctx context.Context, p prepared, clients int, d time.Duration) *results {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next atomic.Int64
	start := time.Now()
	r := runRaw(p, clients, func() (int, bool) {
		return int(next.Add(1)), ctx.Err() == nil
	})
	r.elapsed = time.Since(start)
	return r
}

// rawOpenLoop offers rate requests a second to addr for d whatever the
// answers, as a crowd does, through at most conns keep-alive connections,
// one request at a time on each, as a load balancer's pool would; a request
// due when every connection is busy is dropped on the client side and
// counted.
func rawOpenLoop(ctx context.Context, p prepared, rate float64, d time.Duration, conns int) *results {
	work := make(chan int) // unbuffered: a send succeeds only when a connection is free
	var dropped int64
	start := time.Now()
	go func() {
		defer close(work)
		sent := 0
		for time.Since(start) < d && ctx.Err() == nil {
			// Dispatch every request due by now, then nap briefly: sleeping
			// per request is far coarser than the gaps at thousands a second.
			due := int(time.Since(start).Seconds() * rate)
			for ; sent < due; sent++ {
				select {
				case work <- sent:
				default:
					dropped++
				}
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	r := runRaw(p, conns, func() (int, bool) {
		i, ok := <-work
		return i, ok
	})
	r.elapsed, r.dropped = time.Since(start), dropped
	return r
}

// runRaw sends requests over conns connections, each taking the index of
// its next request from next until next says stop, and gathers the samples.
func runRaw(p prepared, conns int, next func() (int, bool)) *results {
	per := make([][]sample, conns)
	retry := make([]bool, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			var c *rawConn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for i, ok := next(); ok; i, ok = next() {
				start := time.Now()
				if c == nil {
					var err error
					if c, err = dialRaw(p.addr); err != nil {
						per[w] = append(per[w], sample{latency: time.Since(start)})
						time.Sleep(10 * time.Millisecond) // the server is gone: do not spin
						continue
					}
				}
				status, retryAfter, keep, err := c.roundTrip(p.reqs[i%len(p.reqs)])
				if err != nil {
					status = 0
				}
				per[w] = append(per[w], sample{status: status, latency: time.Since(start)})
				retry[w] = retry[w] || retryAfter
				if !keep {
					c.Close()
					c = nil
				}
			}
		})
	}
	wg.Wait()
	r := &results{}
	for w := range conns {
		r.samples = append(r.samples, per[w]...)
		r.retryAfterSeen = r.retryAfterSeen || retry[w]
	}
	return r
}

type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, br: bufio.NewReaderSize(c, 16<<10)}, nil
}

// roundTrip writes one request and reads its answer: the status, whether it
// carried Retry-After, and whether the connection may be used again.
func (c *rawConn) roundTrip(req []byte) (status int, retryAfter, keep bool, err error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err = c.Write(req); err != nil {
		return 0, false, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, false, fmt.Errorf("not an HTTP answer: %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, false, err
	}
	length, chunked, keep := -1, false, true
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return status, false, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return status, false, false, err
			}
		case bytes.EqualFold(name, []byte("Retry-After")):
			retryAfter = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = c.discardChunks()
	case length >= 0:
		_, err = c.br.Discard(length)
	default:
		return status, retryAfter, false, errors.New("answer without a length")
	}
	return status, retryAfter, keep && err == nil, err
}

func (c *rawConn) discardChunks() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeText, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		size, err := strconv.ParseInt(string(sizeText), 16, 64)
		if err != nil {
			return err
		}
		if _, err := c.br.Discard(int(size) + 2); err != nil { // data and CRLF
			return err
		}
		if size == 0 {
			return nil
		}
	}
}
