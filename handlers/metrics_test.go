package handlers

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and returns its size and its healthcode_ series as
// "name{label=value,…}", sorted.
func (e *testEnv) scrape(t *testing.T) (size int, series []string, families map[string]*dto.MetricFamily) {
	t.Helper()
	rec := e.do("GET", "/metrics", nil)
	if rec.Code != 200 {
		t.Fatalf("/metrics = %d %s", rec.Code, rec.Body)
	}
	size = rec.Body.Len()
	if size > 256<<10 {
		t.Fatalf("/metrics is %d KB", size>>10)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for name, f := range families {
		if !strings.HasPrefix(name, "healthcode_") {
			continue
		}
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			series = append(series, name+"{"+strings.Join(labels, ",")+"}")
		}
	}
	sort.Strings(series)
	return size, series, families
}

// Label values are bounded whatever callers send: the route is a route
// template or "unmatched", the method a standard one or "other". Once every
// new method name was a new series kept for ever (500 requests with 8 KB
// methods grew /metrics to 60 MB and the server to 281 MB).
func TestMetricsLabelsAreBounded(t *testing.T) {
	e := newTestEnv(t)
	token := e.sandboxLogin(t, "alice").Token
	e.json("GET", "/api/v1/me", token, nil)
	// One request of each kind the run below sends, so the run itself has
	// no new series to make.
	e.do("BREW", "/api/v1/me", nil)
	e.do("GET", "/no/such/page", nil)
	e.scrape(t)
	sizeBefore, before, _ := e.scrape(t)

	for i := range 256 {
		method := fmt.Sprintf("X%04d%s", i, strings.Repeat("Q", 4<<10))
		if rec := e.do(method, "/api/v1/me", nil); rec.Code != 405 {
			t.Fatalf("%d-byte method = %d", len(method), rec.Code)
		}
		e.do("GET", fmt.Sprintf("/%d/%s", i, strings.Repeat("z", 2<<10)), nil)
		// Methods net/http would refuse still reach a handler in process.
		req := httptest.NewRequest("GET", "/api/v1/me", nil)
		req.Method = fmt.Sprintf("\xff\x00%d\n\"}", i)
		e.handler.ServeHTTP(httptest.NewRecorder(), req)
	}

	sizeAfter, after, families := e.scrape(t)
	if !slices.Equal(before, after) {
		t.Errorf("the run made new series:\nbefore %v\nafter  %v", before, after)
	}
	if sizeAfter-sizeBefore > 512 {
		t.Errorf("/metrics grew from %d to %d bytes", sizeBefore, sizeAfter)
	}
	routes := map[string]bool{"unmatched": true}
	for _, r := range e.router.Routes() {
		routes[r.Path] = true
	}
	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
		"CONNECT": true, "OPTIONS": true, "TRACE": true, "other": true}
	for _, name := range []string{"healthcode_requests_total", "healthcode_request_duration_seconds"} {
		f := families[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				switch v := l.GetValue(); l.GetName() {
				case "route":
					if !routes[v] {
						t.Errorf("%s has route %q", name, v)
					}
				case "method":
					if !methods[v] {
						t.Errorf("%s has method %.40q", name, v)
					}
				}
			}
		}
	}
	// Everything the run sent is counted, under the bounded labels.
	other := requestsOf(families, "other", "unmatched", "4xx")
	get := requestsOf(families, "GET", "unmatched", "4xx")
	if other != 513 || get != 257 {
		t.Errorf("counted %v other and %v GET unmatched 4xx requests, want 513 and 257", other, get)
	}
	if requestsOf(families, "GET", "/api/v1/me", "2xx") != 1 {
		t.Errorf("GET /api/v1/me 2xx not counted once:\n%v", after)
	}
}

// requestsOf is the value of healthcode_requests_total for one label set.
func requestsOf(families map[string]*dto.MetricFamily, method, route, status string) float64 {
	f := families["healthcode_requests_total"]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		if got["method"] == method && got["route"] == route && got["status"] == status {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// The exposition is client_golang's: the Go runtime and process collectors
// beside the service's own metrics, with their types declared.
func TestMetricsExposition(t *testing.T) {
	e := newTestEnv(t)
	e.do("GET", "/healthz", nil)
	_, _, families := e.scrape(t)
	for name, typ := range map[string]dto.MetricType{
		"go_goroutines":                                dto.MetricType_GAUGE,
		"go_memstats_heap_alloc_bytes":                 dto.MetricType_GAUGE,
		"process_resident_memory_bytes":                dto.MetricType_GAUGE,
		"healthcode_requests_total":                    dto.MetricType_COUNTER,
		"healthcode_request_duration_seconds":          dto.MetricType_HISTOGRAM,
		"healthcode_admission_in_flight":               dto.MetricType_GAUGE,
		"healthcode_admission_shed_total":              dto.MetricType_COUNTER,
		"healthcode_group_commit_queue":                dto.MetricType_GAUGE,
		"healthcode_group_commit_batches_total":        dto.MetricType_COUNTER,
		"healthcode_group_commit_rows_total":           dto.MetricType_COUNTER,
		"healthcode_group_commit_failed_batches_total": dto.MetricType_COUNTER,
		"healthcode_group_commit_seconds_total":        dto.MetricType_COUNTER,
	} {
		f := families[name]
		if f == nil {
			t.Errorf("no %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), typ)
		}
	}
	if requestsOf(families, "GET", "/healthz", "2xx") != 1 {
		t.Error("GET /healthz not counted")
	}
}

// With a metrics listener configured, the public router does not serve
// /metrics: the exposition is only on the separate listener's handler, which
// serves nothing else.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) { s.cfg.MetricsAddr = "127.0.0.1:0" })
	e.do("GET", "/healthz", nil)
	wantError(t, e.do("GET", "/metrics", nil), 404, "not_found")
	side := e.api.metricsRouter()
	serve := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		side.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	rec := serve("/metrics")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `healthcode_requests_total{method="GET",route="/healthz",status="2xx"} 1`) {
		t.Errorf("metrics listener = %d:\n%s", rec.Code, rec.Body)
	}
	wantError(t, serve("/healthz"), 404, "not_found")
	// Scrapes on the metrics listener are not requests to the service.
	if strings.Contains(serve("/metrics").Body.String(), `route="/metrics"`) {
		t.Error("a scrape on the metrics listener was counted as a request")
	}
}

// Scrapes bypass admission control, so they bound themselves: beyond
// metricsScrapesAtOnce at once the answer is 503 busy.
func TestMetricsScrapesAreBounded(t *testing.T) {
	e := newTestEnv(t)
	for range metricsScrapesAtOnce {
		e.api.metrics.scrapes <- struct{}{}
	}
	rec := e.do("GET", "/metrics", nil)
	wantError(t, rec, 503, "busy")
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	<-e.api.metrics.scrapes
	if rec := e.do("GET", "/metrics", nil); rec.Code != 200 {
		t.Errorf("with a slot free: %d", rec.Code)
	}
}

// BenchmarkObserve is what counting a request costs on the hot path.
func BenchmarkObserve(b *testing.B) {
	e := newTestEnv(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.api.metrics.observe("GET", "/api/v1/me/code", 200, 3*time.Millisecond)
		}
	})
}

// writerValue is the value of a group-commit metric for one writer, or -1
// when there is no such series.
func writerValue(families map[string]*dto.MetricFamily, name, writer string) float64 {
	for _, m := range families[name].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "writer" && l.GetValue() == writer {
				if m.Counter != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// The group-commit writers, scan records, sample registrations and venue
// check-ins, show their queue and batches under one bounded label.
func TestMetricsCountSampleBatches(t *testing.T) {
	e, alice := familyEnv(t)
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "采样点")
	qr := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200).QR
	decode[openTubeResponse](t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "MET-000001", "mode": 10}), 201)
	decode[sampleResponse](t, e.sample(staff, "MET-000001", map[string]string{"sample_id": "metrics-1", "qr": qr}), 201)
	decode[sampleResponse](t, e.sample(staff, "MET-000001", map[string]string{"sample_id": "metrics-2", "doc_type": "resident_id", "doc_number": bobNumber, "name": "王波"}), 201)
	_, _, families := e.scrape(t)
	for _, c := range []struct {
		name, writer string
		want         func(float64) bool
	}{
		{"healthcode_group_commit_rows_total", "samples", func(v float64) bool { return v == 2 }},
		{"healthcode_group_commit_batches_total", "samples", func(v float64) bool { return v >= 1 && v <= 2 }},
		{"healthcode_group_commit_queue", "samples", func(v float64) bool { return v == 0 }},
		{"healthcode_group_commit_failed_batches_total", "samples", func(v float64) bool { return v == 0 }},
		{"healthcode_group_commit_rows_total", "verifications", func(v float64) bool { return v == 0 }},
		{"healthcode_group_commit_rows_total", "checkins", func(v float64) bool { return v == 0 }},
	} {
		if got := writerValue(families, c.name, c.writer); !c.want(got) {
			t.Errorf("%s{writer=%q} = %v", c.name, c.writer, got)
		}
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "healthcode_group_commit_") && len(f.Metric) != 3 {
			t.Errorf("%s has %d series, want one per writer", f.GetName(), len(f.Metric))
		}
	}
}
