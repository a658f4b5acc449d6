package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"healthcode/config"
	"healthcode/miniprogram"
	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
	"healthcode/models/groupcommit"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// testClock is a settable clock. A running one moves on in real time
// from where it was set (for browser tests, whose pages keep real time).
type testClock struct {
	mu      sync.Mutex
	now     time.Time
	running bool
	started time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return c.now.Add(time.Since(c.started))
	}
	return c.now
}

// Run makes the clock move on in real time.
func (c *testClock) Run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running, c.started = true, time.Now()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lockedBuffer collects log output from concurrent handlers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testSetup is what a test may change before the handler is built.
type testSetup struct {
	// start is where the test clock starts (shanghaiNoon when zero).
	start     time.Time
	cfg       config.Config
	driver    string
	platforms map[string]miniprogram.Platform
}

// testEnv is the real handler on a real store (SQLite unless a test asks
// for MariaDB), with a settable clock, captured logs and every response
// body kept for leak checks.
type testEnv struct {
	// handler is the service as New returns it; router is its Gin engine
	// behind admission control, where tests add routes of their own.
	handler   http.Handler
	router    *gin.Engine
	api       *API
	store     *store.Store
	db        *gorm.DB
	clock     *testClock
	logs      *lockedBuffer
	sessions  *models.Sessions
	sessKey   []byte
	platforms map[string]miniprogram.Platform
	keys      *codetoken.Keyring
	status    *models.StatusBook
	venues    *models.VenueBook
	offline   *models.OfflineBook

	mu     sync.Mutex
	bodies []string
}

// testOperatorKey is the operator key of test servers.
const testOperatorKey = "test-operator-key-0123456789abcdef"

// shanghaiNoon is the default test time: noon in Shanghai.
var shanghaiNoon = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

func newTestEnv(t testing.TB, changes ...func(*testSetup)) *testEnv {
	t.Helper()
	clock := &testClock{now: shanghaiNoon}
	setup := testSetup{cfg: config.Default(), driver: "sqlite", platforms: map[string]miniprogram.Platform{}}
	setup.cfg.HTTP.MaxBodyBytes = 4096
	setup.cfg.DataDir = t.TempDir()
	setup.platforms[models.PlatformSandbox] = miniprogram.NewSandbox(clock)
	for _, change := range changes {
		change(&setup)
	}
	if !setup.start.IsZero() {
		clock.now = setup.start
	}
	cfg := setup.cfg
	db := storetest.OpenWithQueryTimeout(t, setup.driver, cfg.DB.QueryTimeout.D())
	// The times GORM stamps are the store's clock's, as in serve.
	db.Config.NowFunc = func() time.Time { return clock.Now().UTC() }
	loc := cfg.Location()
	st := store.NewStore(db, storetest.Vault(t), clock, loc)
	key := storetest.RandomKey()
	sessions := models.NewSessions(key, cfg.SessionTTL.D(), clock, loc, models.NewRevocations())
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys, _ := codetoken.NewKeyring(codetoken.GenerateKey(clock.Now()))
	status := models.NewStatusBook()
	if err := st.RefreshStatus(t.Context(), status); err != nil {
		t.Fatal(err)
	}
	verifiers := models.NewVerifierBook()
	if err := st.RefreshVerifiers(t.Context(), verifiers); err != nil {
		t.Fatal(err)
	}
	offline := models.NewOfflineBook()
	if err := st.RefreshOffline(t.Context(), offline); err != nil {
		t.Fatal(err)
	}
	kiosks := models.NewKioskBook()
	if err := st.RefreshKiosks(t.Context(), kiosks); err != nil {
		t.Fatal(err)
	}
	verifications := groupcommit.New(groupcommit.Options{MaxBatch: 64, MaxWait: time.Millisecond, Queue: 1024}, st.RecordVerifications)
	t.Cleanup(verifications.Close)
	samplers := models.NewSamplerBook()
	if err := st.RefreshSamplers(t.Context(), samplers); err != nil {
		t.Fatal(err)
	}
	samples := groupcommit.New(groupcommit.Options{MaxBatch: 64, MaxWait: time.Millisecond, Queue: 1024}, st.RecordSamples)
	t.Cleanup(samples.Close)
	venues := models.NewVenueBook()
	if err := st.RefreshVenues(t.Context(), venues); err != nil {
		t.Fatal(err)
	}
	visits := groupcommit.New(groupcommit.Options{MaxBatch: 64, MaxWait: time.Millisecond, Queue: 1024}, st.RecordVisits)
	t.Cleanup(visits.Close)
	importer := store.NewImporter(st, 4, log, func() { st.RefreshStatus(context.Background(), status) })
	importCtx, stopImports := context.WithCancel(context.Background())
	imported := make(chan struct{})
	go func() { defer close(imported); importer.Run(importCtx) }()
	t.Cleanup(func() { stopImports(); <-imported })
	deps := Deps{Config: cfg, Store: st, Sessions: sessions, Platforms: setup.platforms, Keys: keys, Status: status,
		Verifiers: verifiers, Offline: offline, Kiosks: kiosks, Verifications: verifications, Importer: importer,
		Samplers: samplers, Samples: samples, Venues: venues, Visits: visits, OperatorKeys: []string{testOperatorKey}, Clock: clock, Logger: log}
	api := newAPI(deps)
	h, err := api.router()
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{
		handler: &front{api: api, router: h}, router: h, store: st, db: db, clock: clock, logs: logs, sessions: sessions, sessKey: key,
		platforms: setup.platforms, keys: keys, status: status, venues: venues, offline: offline,
		api: api,
	}
}

// do sends a request and returns the recorded response. header holds
// name, value pairs.
func (e *testEnv) do(method, path string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	e.mu.Lock()
	e.bodies = append(e.bodies, rec.Body.String())
	e.mu.Unlock()
	return rec
}

// json sends a JSON request, with a bearer token when token is not empty.
func (e *testEnv) json(method, path, token string, body any) *httptest.ResponseRecorder {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	if token == "" {
		return e.do(method, path, r, "Content-Type", "application/json")
	}
	return e.do(method, path, r, "Content-Type", "application/json", "Authorization", "Bearer "+token)
}

// allOutput is every response body and log line so far.
func (e *testEnv) allOutput() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.bodies, "\n") + "\n" + e.logs.String()
}

// wantError checks the status and the error envelope's code.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %s is not the error envelope: %v", rec.Body, err)
	}
	if body.Error.Code != code || body.Error.Message == "" || body.Error.RequestID == "" {
		t.Errorf("error = %+v, want code %s with a message and a request id", body.Error, code)
	}
}

// decode reads a JSON response body, failing unless the status is want.
func decode[T any](t testing.TB, rec *httptest.ResponseRecorder, want int) T {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, want, rec.Body)
	}
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return v
}

func TestHealthAndReadiness(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do("GET", "/healthz", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"ok"`) {
		t.Errorf("healthz = %d %s", rec.Code, rec.Body)
	}
	rec = e.do("GET", "/readyz", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"schema_version":%d`, store.LatestSchemaVersion())) {
		t.Errorf("readyz = %d %s", rec.Code, rec.Body)
	}
}

func TestReadinessFailsWithoutTheDatabase(t *testing.T) {
	e := newTestEnv(t)
	db := storetest.Open(t, "sqlite")
	store.CloseDB(db)
	e.api.store = store.NewStore(db, storetest.Vault(t), models.SystemClock{}, time.UTC)
	r := gin.New()
	r.Use(requestID())
	r.GET("/readyz", e.api.readyz)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	wantError(t, rec, http.StatusServiceUnavailable, "not_ready")
}

func TestUnknownRouteAndWrongMethod(t *testing.T) {
	e := newTestEnv(t)
	wantError(t, e.do("GET", "/api/v1/nothing", nil), 404, "not_found")
	wantError(t, e.do("POST", "/healthz", nil), 405, "method_not_allowed")
}

// The request id is always the server's own; a well-formed client id is
// logged beside it, a malformed one ignored.
func TestRequestID(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do("GET", "/healthz", nil, "X-Request-Id", "gateway.abc-123_x")
	id := rec.Header().Get("X-Request-Id")
	if !validRequestID(id) || id == "gateway.abc-123_x" {
		t.Errorf("response request id %q, want the server's own", id)
	}
	if line := logLine(e.logs.String(), "request_id="+id+" "); !strings.Contains(line, " client_request_id=gateway.abc-123_x") {
		t.Errorf("access log line %q lacks the client's request id:\n%s", line, e.logs)
	}
	for _, bad := range []string{"bad id\nforged log line", "short", strings.Repeat("a", 65), "semi;colon", "ümlaut-0001", "slash/0001"} {
		rec = e.do("GET", "/healthz", nil, "X-Request-Id", bad)
		if got := rec.Header().Get("X-Request-Id"); !validRequestID(got) || got == bad {
			t.Errorf("malformed request id %q: answered %q", bad, got)
		}
		if strings.Contains(e.logs.String(), "forged") || strings.Contains(e.logs.String(), "client_request_id=short") {
			t.Errorf("malformed request id %q logged:\n%s", bad, e.logs)
		}
	}
	for _, good := range []string{"12345678", strings.Repeat("a", 64), "A.b_C-d.0"} {
		if !validRequestID(good) {
			t.Errorf("validRequestID(%q) = false", good)
		}
	}
}

// logLine returns the first line of logs that contains s.
func logLine(logs, s string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

func TestBodyLimitAndRecovery(t *testing.T) {
	e := newTestEnv(t)
	r := gin.New()
	e.api.cfg.HTTP.MaxBodyBytes = 64
	r.Use(requestID(), e.api.recovery(), e.api.bodyLimit())
	r.POST("/echo", func(c *gin.Context) {
		var v map[string]any
		if err := bindJSON(c, &v); err != nil {
			respondError(c, e.api.log, err)
			return
		}
		c.JSON(200, v)
	})
	r.GET("/panic", func(c *gin.Context) { panic("boom") })
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}

	big := `{"a":"` + strings.Repeat("x", 100) + `"}`
	wantError(t, serve(httptest.NewRequest("POST", "/echo", strings.NewReader(big))), 413, "too_large")
	// Without a declared length the limit still holds while reading.
	chunked := httptest.NewRequest("POST", "/echo", io.MultiReader(strings.NewReader(big)))
	chunked.ContentLength = -1
	wantError(t, serve(chunked), 413, "too_large")
	wantError(t, serve(httptest.NewRequest("POST", "/echo", strings.NewReader(`{"a":`))), 400, "invalid_json")
	wantError(t, serve(httptest.NewRequest("POST", "/echo", strings.NewReader(``))), 400, "invalid_json")
	wantError(t, serve(httptest.NewRequest("POST", "/echo", strings.NewReader(`{} {}`))), 400, "invalid_json")
	if rec := serve(httptest.NewRequest("POST", "/echo", strings.NewReader(`{"a":1}`))); rec.Code != 200 {
		t.Errorf("small body = %d %s", rec.Code, rec.Body)
	}

	rec := serve(httptest.NewRequest("GET", "/panic", nil))
	wantError(t, rec, 500, "internal")
	if strings.Contains(rec.Body.String(), "boom") {
		t.Error("the panic value reached the client")
	}
	if !strings.Contains(e.logs.String(), "boom") {
		t.Error("the panic was not logged")
	}
}

func TestStatusOfEveryKind(t *testing.T) {
	want := map[fault.Kind]int{
		fault.KindInvalid: 400, fault.KindUnauthorized: 401, fault.KindForbidden: 403,
		fault.KindNotFound: 404, kindMethod: 405, fault.KindConflict: 409,
		kindTooLarge: 413, kindUnsupportedMedia: 415, kindRateLimited: 429, fault.KindBusy: 503,
		fault.KindUnavailable: 503, fault.KindUpstream: 503, fault.KindInternal: 500,
	}
	for kind, status := range want {
		if got := statusOf(kind); got != status {
			t.Errorf("statusOf(%s) = %d, want %d", kind, got, status)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
