package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/groupcommit"
)

// routeUnmatched is the route label of a request no route matched (404, 405).
const routeUnmatched = "unmatched"

// methodOther is the method label of a request whose method is not one of
// the standard ones.
const methodOther = "other"

// metricsScrapesAtOnce bounds concurrent scrapes: /metrics bypasses
// admission control, so further scrapes are answered 503 busy at once.
const metricsScrapesAtOnce = 2

// metrics is the API's own Prometheus registry: requests by method, route
// and status class, latency histograms, admission and group commit, beside
// the Go runtime and process collectors. Every label value comes from a
// fixed set (the route templates, the standard methods, five status
// classes), so the exposition stays the same size whatever callers send.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// exposition writes the registry in the Prometheus text format;
	// scrapes holds a slot per scrape running.
	exposition http.Handler
	scrapes    chan struct{}
}

// newMetrics registers the service's metrics on a new registry. The
// admission and group-commit figures are read when scraped; verifications,
// samples and visits may be nil (no group-commit metrics for that writer
// then).
func newMetrics(a *admission, verifications *groupcommit.Writer[*models.Verification],
	samples *groupcommit.Writer[*models.SampleRegistration], visits *groupcommit.Writer[*models.Visit], log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthcode_requests_total",
			Help: "Requests served, by method, route template and status class. Shed requests are not here but in healthcode_admission_shed_total.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "healthcode_request_duration_seconds",
			Help:    "Time from routing to the answer, by method and route template.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"method", "route"}),
		scrapes: make(chan struct{}, metricsScrapesAtOnce),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "healthcode_admission_in_flight", Help: "Requests holding an admission slot.",
		}, func() float64 { return float64(a.inFlight()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "healthcode_admission_shed_total", Help: "Requests answered 503 busy by admission control.",
		}, func() float64 { return float64(a.shed.Load()) }),
	)
	if verifications != nil {
		reg.MustRegister(groupCommitMetrics("verifications", "Verification records", verifications)...)
	}
	if samples != nil {
		reg.MustRegister(groupCommitMetrics("samples", "Sample registrations", samples)...)
	}
	if visits != nil {
		reg.MustRegister(groupCommitMetrics("checkins", "Venue check-ins", visits)...)
	}
	m.exposition = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Registry: reg,
	})
	return m
}

// serveMetrics answers a scrape, or 503 busy when metricsScrapesAtOnce are
// already running.
func (api *API) serveMetrics(c *gin.Context) {
	select {
	case api.metrics.scrapes <- struct{}{}:
	default:
		respondError(c, api.log, fault.ErrBusy)
		return
	}
	defer func() { <-api.metrics.scrapes }()
	api.metrics.exposition.ServeHTTP(c.Writer, c.Request)
}

// metricsRouter serves /metrics alone, for a listener of its own: request
// ids and JSON errors as on the public router, no access log.
func (api *API) metricsRouter() http.Handler {
	r := gin.New()
	r.Use(requestID(), api.recovery())
	r.NoRoute(func(c *gin.Context) { respondError(c, api.log, errNotFound) })
	r.GET("/metrics", api.serveMetrics)
	return r
}

// observe counts a request served on route (a route template or
// routeUnmatched) and its latency. The method is counted as itself only when
// it is a standard one.
func (m *metrics) observe(method, route string, status int, took time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(method, route, statusClass(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(took.Seconds())
}

// methodLabel is method if it is one of the standard methods, else
// methodOther.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return methodOther
}

// statusClass is the status label: "1xx" … "5xx", or "other".
func statusClass(status int) string {
	switch status / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return "other"
}

// groupCommitMetrics are a group-commit writer's figures, read when scraped:
// its queue, batches, rows, failed batches and commit time, labelled
// writer (one of the service's writers: verifications, samples, checkins). what names
// its records in the help text.
func groupCommitMetrics[T any](writer, what string, g *groupcommit.Writer[T]) []prometheus.Collector {
	labels := prometheus.Labels{"writer": writer}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "healthcode_group_commit_queue", Help: "Records waiting for a batch, by writer.", ConstLabels: labels,
		}, func() float64 { return float64(g.QueueLength()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "healthcode_group_commit_batches_total", Help: "Batches committed, by writer.", ConstLabels: labels,
		}, func() float64 { return float64(g.Stats().Batches) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "healthcode_group_commit_rows_total", Help: "Records committed, by writer.", ConstLabels: labels,
		}, func() float64 { return float64(g.Stats().Rows) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "healthcode_group_commit_failed_batches_total", Help: "Batches whose commit failed (their requests were answered with an error), by writer.", ConstLabels: labels,
		}, func() float64 { return float64(g.Stats().FailedBatches) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "healthcode_group_commit_seconds_total", Help: "Time spent committing batches, by writer.", ConstLabels: labels,
		}, func() float64 { return g.Stats().CommitTime.Seconds() }),
	}
}
