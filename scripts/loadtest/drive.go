package main

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// requestGen builds the i-th request of a run.
type requestGen func(i int) (*http.Request, error)

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
