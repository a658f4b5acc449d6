package handlers

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// latencyBuckets are the upper bounds (seconds) of the latency histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// metrics counts requests by route and status and keeps a latency histogram
// per route, lock-free on the hot path, exposed in the Prometheus text
// format at /metrics.
type metrics struct {
	routes sync.Map // "METHOD route" → *routeMetrics
}

type routeMetrics struct {
	byStatus [6]atomic.Uint64 // by status class: 1xx … 5xx (index 1–5)
	buckets  []atomic.Uint64
	count    atomic.Uint64
	sumMicro atomic.Uint64
}

func (m *metrics) observe(method, route string, status int, took time.Duration) {
	key := method + " " + route
	v, ok := m.routes.Load(key)
	if !ok {
		v, _ = m.routes.LoadOrStore(key, &routeMetrics{buckets: make([]atomic.Uint64, len(latencyBuckets))})
	}
	rm := v.(*routeMetrics)
	if class := status / 100; class >= 1 && class <= 5 {
		rm.byStatus[class].Add(1)
	}
	secs := took.Seconds()
	for i, b := range latencyBuckets {
		if secs <= b {
			rm.buckets[i].Add(1)
			break
		}
	}
	rm.count.Add(1)
	rm.sumMicro.Add(uint64(took.Microseconds()))
}

// serve writes the metrics in the Prometheus text exposition format.
func (api *API) serveMetrics(c *gin.Context) {
	var keys []string
	api.metrics.routes.Range(func(k, _ any) bool { keys = append(keys, k.(string)); return true })
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# TYPE healthcode_requests_total counter\n")
	for _, k := range keys {
		v, _ := api.metrics.routes.Load(k)
		rm := v.(*routeMetrics)
		method, route, _ := strings.Cut(k, " ")
		for class := 1; class <= 5; class++ {
			if n := rm.byStatus[class].Load(); n > 0 {
				fmt.Fprintf(&b, "healthcode_requests_total{method=%q,route=%q,status=\"%dxx\"} %d\n", method, route, class, n)
			}
		}
	}
	b.WriteString("# TYPE healthcode_request_duration_seconds histogram\n")
	for _, k := range keys {
		v, _ := api.metrics.routes.Load(k)
		rm := v.(*routeMetrics)
		method, route, _ := strings.Cut(k, " ")
		var cum uint64
		for i, ub := range latencyBuckets {
			cum += rm.buckets[i].Load()
			fmt.Fprintf(&b, "healthcode_request_duration_seconds_bucket{method=%q,route=%q,le=\"%g\"} %d\n", method, route, ub, cum)
		}
		count := rm.count.Load()
		fmt.Fprintf(&b, "healthcode_request_duration_seconds_bucket{method=%q,route=%q,le=\"+Inf\"} %d\n", method, route, count)
		fmt.Fprintf(&b, "healthcode_request_duration_seconds_sum{method=%q,route=%q} %g\n", method, route, float64(rm.sumMicro.Load())/1e6)
		fmt.Fprintf(&b, "healthcode_request_duration_seconds_count{method=%q,route=%q} %d\n", method, route, count)
	}
	fmt.Fprintf(&b, "# TYPE healthcode_admission_in_flight gauge\nhealthcode_admission_in_flight %d\n", api.admission.inFlight())
	fmt.Fprintf(&b, "# TYPE healthcode_admission_shed_total counter\nhealthcode_admission_shed_total %d\n", api.admission.shed.Load())
	if api.verifications != nil {
		fmt.Fprintf(&b, "# TYPE healthcode_group_commit_queue gauge\nhealthcode_group_commit_queue %d\n", api.verifications.QueueLength())
		st := api.verifications.Stats()
		fmt.Fprintf(&b, "# TYPE healthcode_group_commit_batches_total counter\nhealthcode_group_commit_batches_total %d\n", st.Batches)
		fmt.Fprintf(&b, "# TYPE healthcode_group_commit_rows_total counter\nhealthcode_group_commit_rows_total %d\n", st.Rows)
		fmt.Fprintf(&b, "# TYPE healthcode_group_commit_failed_batches_total counter\nhealthcode_group_commit_failed_batches_total %d\n", st.FailedBatches)
		fmt.Fprintf(&b, "# TYPE healthcode_group_commit_seconds_total counter\nhealthcode_group_commit_seconds_total %g\n", st.CommitTime.Seconds())
	}
	c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}
