package handlers

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"healthcode/models/storetest"
)

// The handler benchmarks run the real router in process, with logging (JSON,
// discarded) and metrics on, beside a bare net/http JSON handler, so their
// ratio is the figure: `go test ./handlers -run XXX -bench . -benchtime 2s`.

func BenchmarkBareJSON(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]string{"status": "ok", "server_time": time.Now().Format(time.RFC3339Nano)})
	})
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// benchEnv is a server with a face-verified holder and a verifier.
func benchEnv(b *testing.B) (e *testEnv, holder, staff string) {
	e = newTestEnv(b, func(s *testSetup) {
		s.cfg.RateLimit.CodePerMinuteUser, s.cfg.RateLimit.VerifyPerMinuteUser = 1<<30, 1<<30
	})
	holder, _ = e.verifiedUser(b, "holder", aliceName, aliceNumber)
	staff = e.makeVerifier(b, "staff", "王小明", staffNumber)
	e.api.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	return e, holder, staff
}

func BenchmarkShowCode(b *testing.B) {
	e, holder, _ := benchEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/v1/me/code", nil)
		req.Header.Set("Authorization", "Bearer "+holder)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkRefuse is what a request admission sheds costs in process; under
// overload every refusal competes with the requests being served.
func BenchmarkRefuse(b *testing.B) {
	e, holder, _ := benchEnv(b)
	e.api.admission = newAdmission(1, 0, 0, 0)
	e.api.admission.acquire(b.Context()) // the only slot, held
	req := httptest.NewRequest("GET", "/api/v1/me/code", nil)
	req.Header.Set("Authorization", "Bearer "+holder)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != 503 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	e, holder, staff := benchEnv(b)
	code := decode[codeResponse](b, e.json("GET", "/api/v1/me/code", holder, nil), 200)
	body := `{"qr":"` + code.QR + `"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/v1/verify", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+staff)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkVerifyParallel scans from many verifiers at once, as a city's
// gates do, so group commit batches; on MariaDB when
// HEALTHCODE_TEST_MYSQL_DSN is set.
func BenchmarkVerifyParallel(b *testing.B) {
	driver := "sqlite"
	if os.Getenv(storetest.EnvMySQLDSN) != "" {
		driver = "mysql"
	}
	e := newTestEnv(b, func(s *testSetup) {
		s.driver = driver
		s.cfg.RateLimit.CodePerMinuteUser, s.cfg.RateLimit.VerifyPerMinuteUser = 1<<30, 1<<30
	})
	e.api.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	holder, _ := e.verifiedUser(b, "holder", aliceName, aliceNumber)
	staff := e.makeVerifier(b, "staff", "王小明", staffNumber)
	code := decode[codeResponse](b, e.json("GET", "/api/v1/me/code", holder, nil), 200)
	body := `{"qr":"` + code.QR + `"}`
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/api/v1/verify", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+staff)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Errorf("%d %s", rec.Code, rec.Body)
				return
			}
		}
	})
}
