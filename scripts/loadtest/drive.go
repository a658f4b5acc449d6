package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// requestGen builds the i-th request of a run.
type requestGen func(i int) (*http.Request, error)

// httpDoer sends requests.
type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// sample is one answered request (status 0: a transport error).
type sample struct {
	status  int
	latency time.Duration
}

// results are the samples of one run.
type results struct {
	samples        []sample
	elapsed        time.Duration
	dropped        int64
	retryAfterSeen bool
}

func (r *results) rps() float64 {
	return float64(r.count(func(s int) bool { return s > 0 && s < 500 })) / r.elapsed.Seconds()
}

func (r *results) count(match func(status int) bool) int {
	n := 0
	for _, s := range r.samples {
		if match(s.status) {
			n++
		}
	}
	return n
}

// percentile of the latencies of samples whose status matches (all when
// match is nil); -1 when there are none.
func (r *results) percentile(p float64, match func(int) bool) time.Duration {
	var ls []time.Duration
	for _, s := range r.samples {
		if match == nil || match(s.status) {
			ls = append(ls, s.latency)
		}
	}
	if len(ls) == 0 {
		return -1
	}
	slices.Sort(ls)
	return ls[min(len(ls)-1, int(p*float64(len(ls))))]
}

func (r *results) max() time.Duration { return r.percentile(1, nil) }

func (r *results) statuses() string {
	byStatus := map[int]int{}
	for _, s := range r.samples {
		byStatus[s.status]++
	}
	var keys []int
	for k := range byStatus {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "error"
		}
		parts = append(parts, fmt.Sprintf("%s:%d", name, byStatus[k]))
	}
	return strings.Join(parts, " ")
}

// send runs one request and reports its status and latency.
func send(c httpDoer, gen requestGen, i int) (sample, bool) {
	req, err := gen(i)
	if err != nil {
		return sample{}, false
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return sample{status: 0, latency: time.Since(start)}, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return sample{status: resp.StatusCode, latency: time.Since(start)}, resp.Header.Get("Retry-After") != ""
}

// closedLoop runs clients that each send the next request as soon as the
// last is answered, for d.
func closedLoop(ctx context.Context, c httpDoer, gen requestGen, clients int, d time.Duration) *results {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next atomic.Int64
	per := make([][]sample, clients)
	var retry atomic.Bool
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				s, ra := send(c, gen, int(next.Add(1)))
				per[w] = append(per[w], s)
				if ra {
					retry.Store(true)
				}
			}
		})
	}
	wg.Wait()
	r := &results{elapsed: time.Since(start), retryAfterSeen: retry.Load()}
	for _, p := range per {
		r.samples = append(r.samples, p...)
	}
	return r
}

// openLoop offers rate requests a second for d whatever the answers, as a
// crowd does, through at most conns connections, as a load balancer in front
// of the node would; a request finding every connection busy is dropped on
// the client side and counted.
func openLoop(ctx context.Context, c httpDoer, gen requestGen, rate float64, d time.Duration, conns int) *results {
	var mu sync.Mutex
	r := &results{}
	sem := make(chan struct{}, conns)
	start := time.Now()
	var wg sync.WaitGroup
	sent := 0
	for time.Since(start) < d && ctx.Err() == nil {
		// Dispatch every request due by now, then nap briefly: sleeping per
		// request is far coarser than the gaps at thousands a second.
		due := int(time.Since(start).Seconds() * rate)
		for ; sent < due; sent++ {
			select {
			case sem <- struct{}{}:
			default:
				r.dropped++
				continue
			}
			i := sent
			wg.Go(func() {
				defer func() { <-sem }()
				s, ra := send(c, gen, i)
				mu.Lock()
				r.samples = append(r.samples, s)
				if ra {
					r.retryAfterSeen = true
				}
				mu.Unlock()
			})
		}
		time.Sleep(500 * time.Microsecond)
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}
