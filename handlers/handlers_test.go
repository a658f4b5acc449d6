package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/storetest"
)

// testEnv is a handler on a real SQLite store, with its logs captured.
type testEnv struct {
	handler http.Handler
	api     *API
	store   *models.Store
	logs    *bytes.Buffer
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.MaxBodyBytes = 4096
	db := storetest.Open(t, "sqlite")
	loc, _ := time.LoadLocation(cfg.TimeZone)
	store := models.NewStore(db, storetest.Vault(t), models.SystemClock{}, loc)
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	h, err := New(Deps{Config: cfg, Store: store, Clock: models.SystemClock{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{handler: h, store: store, logs: logs, api: &API{cfg: cfg, store: store, clock: models.SystemClock{}, log: log}}
}

// do sends a request and returns the recorded response.
func (e *testEnv) do(method, path string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// wantError checks the status and the error envelope's code.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
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

func TestHealthAndReadiness(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do("GET", "/healthz", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"ok"`) {
		t.Errorf("healthz = %d %s", rec.Code, rec.Body)
	}
	rec = e.do("GET", "/readyz", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"schema_version":1`) {
		t.Errorf("readyz = %d %s", rec.Code, rec.Body)
	}
}

func TestReadinessFailsWithoutTheDatabase(t *testing.T) {
	e := newTestEnv(t)
	db := storetest.Open(t, "sqlite")
	models.CloseDB(db)
	e.api.store = models.NewStore(db, storetest.Vault(t), models.SystemClock{}, time.UTC)
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

func TestRequestID(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do("GET", "/healthz", nil, "X-Request-Id", "gateway-abc-123")
	if got := rec.Header().Get("X-Request-Id"); got != "gateway-abc-123" {
		t.Errorf("request id %q not echoed", got)
	}
	rec = e.do("GET", "/healthz", nil, "X-Request-Id", "bad id\nforged log line")
	if got := rec.Header().Get("X-Request-Id"); got == "" || strings.Contains(got, "forged") {
		t.Errorf("malformed request id accepted: %q", got)
	}
	if !strings.Contains(e.logs.String(), "request_id=gateway-abc-123") {
		t.Errorf("access log lacks the request id:\n%s", e.logs)
	}
}

func TestBodyLimitAndRecovery(t *testing.T) {
	e := newTestEnv(t)
	r := gin.New()
	r.Use(requestID(), e.api.recovery(), e.api.bodyLimit(64))
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
	want := map[models.Kind]int{
		models.KindInvalid: 400, models.KindUnauthorized: 401, models.KindForbidden: 403,
		models.KindNotFound: 404, models.KindMethod: 405, models.KindConflict: 409,
		models.KindTooLarge: 413, models.KindRateLimited: 429, models.KindBusy: 503,
		models.KindUnavailable: 503, models.KindUpstream: 502, models.KindInternal: 500,
	}
	for kind, status := range want {
		if got := statusOf(kind); got != status {
			t.Errorf("statusOf(%s) = %d, want %d", kind, got, status)
		}
	}
}
