package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"healthcode/models/document"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

const loadOperatorKey = "load-test-operator-key-0123456789"

// jsonCall sends a JSON request to the real server and decodes the answer.
func jsonCall(t *testing.T, method, url, auth string, body, into any, want int) {
	t.Helper()
	status, _, raw := do(t, http.DefaultClient, method, url, auth, body)
	if status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, url, status, raw, want)
	}
	if into != nil {
		json.Unmarshal(raw, into)
	}
}

// do sends one JSON request and returns its status, its request id and body.
func do(t *testing.T, client *http.Client, method, url, auth string, body any) (int, string, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Request-Id"), raw
}

// upload posts a CSV file as an operator (multipart: the fields, then
// file) and returns the status and body.
func upload(t *testing.T, client *http.Client, url, csv string, fields ...string) (int, []byte) {
	t.Helper()
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	f, _ := w.CreateFormFile("file", "data.csv")
	f.Write([]byte(csv))
	w.Close()
	req, _ := http.NewRequest("POST", url, &form)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Operator "+loadOperatorKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// startOn starts the built server on driver's database — its own SQLite
// file, or a fresh MariaDB database (skipped without one, as storetest
// says) — and returns it with the options that open that database.
func startOn(t *testing.T, driver string, env ...string) (*server, store.DBOptions) {
	t.Helper()
	dbOpts := store.DBOptions{Driver: driver, MaxOpenConns: 1}
	if driver == "mysql" {
		dbOpts.DSN = storetest.MySQLDSN(t)
		env = append(env, "HEALTHCODE_DB_DRIVER=mysql", "HEALTHCODE_DB_DSN="+dbOpts.DSN)
	}
	s := startServer(t, buildBinary(t), env...)
	if driver == "sqlite" {
		dbOpts.DSN = filepath.Join(s.cmd.Dir, "data", "healthcode.db")
	}
	return s, dbOpts
}

// verificationRows counts the verification rows of a database.
func verificationRows(t *testing.T, opts store.DBOptions) int64 {
	t.Helper()
	return countRows(t, opts, "verifications", "1 = 1")
}

// countRows counts the rows of a table of the server's database that match
// where.
func countRows(t *testing.T, opts store.DBOptions, table, where string, args ...any) int64 {
	t.Helper()
	db, err := store.OpenDB(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer store.CloseDB(db)
	var rows int64
	if err := db.Table(table).Where(where, args...).Count(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// seedVerifier makes a face-verified holder with a code and a verifier
// through the sandbox, as the load harness does.
func seedVerifier(t *testing.T, base string) (verifier, qr string) {
	t.Helper()
	_, verifier, qr = seedPeople(t, base)
	return verifier, qr
}

// seedPeople is seedVerifier that also returns the holder's session token.
func seedPeople(t *testing.T, base string) (holder, verifier, qr string) {
	t.Helper()
	holder, _ = citizen(t, base, "user-0", "张三", "11010519491231002X")
	verifier, verifierID := citizen(t, base, "user-1", "王小明", idNumber("31011519800101123"))
	jsonCall(t, "POST", base+"/api/v1/admin/verifiers", "Operator "+loadOperatorKey, map[string]string{"account_id": verifierID, "place": "test"}, nil, 201)
	var code struct{ QR string }
	jsonCall(t, "GET", base+"/api/v1/me/code", "Bearer "+holder, nil, &code, 200)
	return holder, verifier, code.QR
}

// citizen logs a sandbox user in, binds the identity and passes a sandbox
// face check; it returns the session token and the account id.
func citizen(t *testing.T, base, user, name, number string) (token, accountID string) {
	t.Helper()
	var login, bound, done struct{ Token string }
	var me struct{ Account struct{ ID string } }
	jsonCall(t, "POST", base+"/api/v1/auth/sandbox", "", map[string]string{"user": user}, &login, 200)
	jsonCall(t, "POST", base+"/api/v1/identity", "Bearer "+login.Token, map[string]string{"name": name, "doc_type": "resident_id", "doc_number": number}, &bound, 200)
	var start struct {
		VerifyID string `json:"verify_id"`
	}
	jsonCall(t, "POST", base+"/api/v1/face/start", "Bearer "+bound.Token, nil, &start, 200)
	jsonCall(t, "POST", base+"/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"}, nil, 200)
	jsonCall(t, "POST", base+"/api/v1/face/callback", "Bearer "+bound.Token, map[string]string{"verify_id": start.VerifyID}, &done, 200)
	jsonCall(t, "GET", base+"/api/v1/me", "Bearer "+done.Token, nil, &me, 200)
	return done.Token, me.Account.ID
}

// idNumber completes 17 digits with their GB 11643 check digit.
func idNumber(first17 string) string { return first17 + string(document.CheckDigit(first17)) }

// hammer sends verify requests from n clients until stop closes and
// counts the answers by status; it reports 503s without Retry-After or the
// busy code as failures.
type tally struct {
	mu       sync.Mutex
	byStatus map[int]int
	badShed  int
	// proxyRefusals are the 503s without a node's X-Request-Id.
	proxyRefusals int
	transport     int
	wait          func()
}

func hammer(base, verifier, qr string, n int, stop <-chan struct{}) *tally {
	tl := &tally{byStatus: map[int]int{}}
	body, _ := json.Marshal(map[string]string{"qr": qr})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, Proxy: nil}, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", base+"/api/v1/verify", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+verifier)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					tl.mu.Lock()
					tl.transport++
					tl.mu.Unlock()
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var e struct{ Error struct{ Code string } }
				json.Unmarshal(raw, &e)
				tl.mu.Lock()
				tl.byStatus[resp.StatusCode]++
				if resp.StatusCode == 503 && (resp.Header.Get("Retry-After") == "" || e.Error.Code != "busy") {
					tl.badShed++
				}
				if resp.StatusCode == 503 && resp.Header.Get("X-Request-Id") == "" {
					tl.proxyRefusals++
				}
				tl.mu.Unlock()
			}
		})
	}
	tl.wait = func() { wg.Wait(); client.CloseIdleConnections() }
	return tl
}

// total is the number of answers of any status.
func (tl *tally) total() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, c := range tl.byStatus {
		n += c
	}
	return n
}

// failed is the number of requests not answered 200, transport failures
// included.
func (tl *tally) failed() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := tl.transport
	for status, c := range tl.byStatus {
		if status != 200 {
			n += c
		}
	}
	return n
}

func (tl *tally) count(status int) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.byStatus[status]
}

// TestOverloadShedsAndShutdownLosesNothing runs the real server with tiny
// admission limits, overloads it with verifications, then stops it with
// SIGTERM under load: shed requests get 503 busy with Retry-After, nothing
// else fails, and the database holds exactly the verifications answered 200.
func TestOverloadShedsAndShutdownLosesNothing(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			env := []string{
				"HEALTHCODE_OPERATOR_KEYS=" + loadOperatorKey,
				"HEALTHCODE_ADMISSION_MAX_IN_FLIGHT=4", "HEALTHCODE_ADMISSION_MAX_QUEUE=4", "HEALTHCODE_ADMISSION_MAX_WAIT=2ms",
				"HEALTHCODE_RATE_VERIFY_PER_MINUTE_ACCOUNT=100000000", "HEALTHCODE_RATE_LOGIN_PER_MINUTE_IP=100000",
				"HEALTHCODE_RATE_IDENTITY_PER_MINUTE_IP=100000",
			}
			s, dbOpts := startOn(t, driver, env...)
			verifier, qr := seedVerifier(t, s.base)

			// Overload: 64 clients against 4 slots and a queue of 4.
			stop := make(chan struct{})
			over := hammer(s.base, verifier, qr, 64, stop)
			time.Sleep(1500 * time.Millisecond)
			close(stop)
			over.wait()
			if over.count(503) == 0 || over.count(200) == 0 {
				t.Fatalf("overload answers %v: want both 200 and 503", over.byStatus)
			}
			if over.badShed > 0 {
				t.Errorf("%d 503 answers lacked Retry-After or the busy code", over.badShed)
			}
			for status, n := range over.byStatus {
				if status >= 500 && status != 503 {
					t.Errorf("%d answers of status %d under overload", n, status)
				}
			}
			if over.transport > 0 {
				t.Errorf("%d requests failed in transport under overload", over.transport)
			}

			// SIGTERM under load: every verification answered 200 is in the database.
			stop = make(chan struct{})
			during := hammer(s.base, verifier, qr, 32, stop)
			time.Sleep(700 * time.Millisecond)
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-s.exited:
				if err != nil {
					t.Fatalf("exit after SIGTERM under load: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("server did not stop")
			}
			close(stop)
			during.wait()

			rows := verificationRows(t, dbOpts)
			answered := over.count(200) + during.count(200)
			if rows != int64(answered) {
				t.Errorf("%d verifications answered 200, %d rows in the database", answered, rows)
			}
			if during.count(200) == 0 {
				t.Error("no verification was answered during the shutdown phase")
			}
			t.Logf("overload %v; shutdown phase %v, transport errors %d; rows %d", over.byStatus, during.byStatus, during.transport, rows)
		})
	}
}
