package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// faultAnswer is one request of the fault test's load and what came back.
type faultAnswer struct {
	route      string
	start, end time.Time
	status     int
	code       string
	retryAfter string
	err        error
}

// faultLoad sends a little traffic of every kind to the server, from a few
// clients, and keeps every answer.
type faultLoad struct {
	base, holder, verifier, qr string
	client                     *http.Client

	mu      sync.Mutex
	answers []faultAnswer
	logins  int
	stop    chan struct{}
	wg      sync.WaitGroup
}

// faultRoutes are the routes the load cycles through; needsDB says which
// cannot answer without the database.
var faultRoutes = []struct {
	name    string
	needsDB bool
}{
	{"code", false},  // GET /api/v1/me/code: memory only
	{"me", true},     // GET /api/v1/me: reads the account
	{"verify", true}, // POST /api/v1/verify: a group-committed row
	{"login", true},  // POST /api/v1/auth/sandbox: a transaction
	{"readyz", true}, // GET /readyz
}

func startFaultLoad(base, holder, verifier, qr string, clients int) *faultLoad {
	l := &faultLoad{base: base, holder: holder, verifier: verifier, qr: qr, stop: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, Proxy: nil}, Timeout: 10 * time.Second}}
	for i := range clients {
		l.wg.Go(func() {
			for n := i; ; n++ {
				select {
				case <-l.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				l.send(faultRoutes[n%len(faultRoutes)].name)
			}
		})
	}
	return l
}

// send makes one request of the named route and records its answer.
func (l *faultLoad) send(route string) faultAnswer {
	var method, path, auth string
	var body any
	switch route {
	case "code":
		method, path, auth = "GET", "/api/v1/me/code", "Bearer "+l.holder
	case "me":
		method, path, auth = "GET", "/api/v1/me", "Bearer "+l.holder
	case "verify":
		method, path, auth, body = "POST", "/api/v1/verify", "Bearer "+l.verifier, map[string]string{"qr": l.qr}
	case "login":
		l.mu.Lock()
		l.logins++
		user := fmt.Sprint("fault-", l.logins)
		l.mu.Unlock()
		method, path, body = "POST", "/api/v1/auth/sandbox", map[string]string{"user": user}
	case "readyz":
		method, path = "GET", "/readyz"
	}
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, l.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	a := faultAnswer{route: route, start: time.Now()}
	resp, err := l.client.Do(req)
	if err != nil {
		a.err = err
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error struct{ Code string } }
		json.Unmarshal(raw, &e)
		a.status, a.code, a.retryAfter = resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After")
	}
	a.end = time.Now()
	l.mu.Lock()
	l.answers = append(l.answers, a)
	l.mu.Unlock()
	return a
}

// finish stops the clients and returns every answer.
func (l *faultLoad) finish() []faultAnswer {
	close(l.stop)
	l.wg.Wait()
	l.client.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answers
}

// waitRecovered sends probes until readiness, a login and a verification
// all succeed, and returns when they did; the probes are recorded with the
// load.
func (l *faultLoad) waitRecovered(t *testing.T, from time.Time, within time.Duration) time.Time {
	t.Helper()
	for time.Since(from) < within {
		if l.send("readyz").status == 200 && l.send("login").status == 200 && l.send("verify").status == 200 {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not recovered %v after the database returned", within)
	return time.Time{}
}

// TestDatabaseDownOrHung runs the real server on MariaDB through a proxy
// that freezes the database (connections open, no byte moving) and then
// cuts it (connections closed, new ones refused), under a little load of
// every kind of request. While the database is away, routes that need it
// answer 503 unavailable with Retry-After within the query timeout, showing
// a code keeps working from memory, and /readyz says not ready; no request
// fails any other way. When the database returns, everything recovers by
// itself within seconds: readiness, writes, and the background refreshers
// (a status import reaches the shown code).
func TestDatabaseDownOrHung(t *testing.T) {
	const (
		queryTimeout = 500 * time.Millisecond
		faultFor     = 3 * time.Second
		// How late an answer may be on these shared cores: the deadline
		// is the query timeout; the rest is scheduling.
		margin = 700 * time.Millisecond
	)
	dsn := storetest.MySQLDSN(t)
	direct, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFaultProxy(t, direct.Addr)
	proxied := direct.Clone()
	proxied.Addr = proxy.addr
	s := startServer(t, buildBinary(t),
		"HEALTHCODE_DB_DRIVER=mysql", "HEALTHCODE_DB_DSN="+proxied.FormatDSN(),
		"HEALTHCODE_DB_QUERY_TIMEOUT="+queryTimeout.String(), "HEALTHCODE_DB_MAX_OPEN_CONNS=8",
		"HEALTHCODE_OPERATOR_KEYS="+loadOperatorKey,
		"HEALTHCODE_RATE_LOGIN_PER_MINUTE_IP=1000000", "HEALTHCODE_RATE_IDENTITY_PER_MINUTE_IP=1000000",
		"HEALTHCODE_RATE_CODE_PER_MINUTE_ACCOUNT=1000000", "HEALTHCODE_RATE_VERIFY_PER_MINUTE_ACCOUNT=1000000",
	)
	holder, verifier, qr := seedPeople(t, s.base)

	load := startFaultLoad(s.base, holder, verifier, qr, 4)
	begun := time.Now()
	time.Sleep(time.Second)
	type window struct {
		name     string
		from, to time.Time
	}
	var faults, healthy []window
	healthy = append(healthy, window{"before", begun, time.Now()})

	proxy.freeze()
	frozen := window{name: "frozen", from: time.Now()}
	time.Sleep(faultFor)
	frozen.to = time.Now()
	proxy.unfreeze()
	faults = append(faults, frozen)
	back := load.waitRecovered(t, frozen.to, 5*time.Second)
	t.Logf("recovered %v after the freeze ended", back.Sub(frozen.to).Round(time.Millisecond))
	// Readiness is cached for a second: from then on all is well.
	time.Sleep(1500 * time.Millisecond)
	healthy = append(healthy, window{"after the freeze", back.Add(time.Second), time.Now()})

	proxy.cut()
	cut := window{name: "cut", from: time.Now()}
	time.Sleep(faultFor)
	cut.to = time.Now()
	proxy.restore()
	faults = append(faults, cut)
	back = load.waitRecovered(t, cut.to, 5*time.Second)
	t.Logf("recovered %v after the cut ended", back.Sub(cut.to).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond)
	healthy = append(healthy, window{"after the cut", back.Add(time.Second), time.Now()})
	answers := load.finish()

	needsDB := map[string]bool{}
	for _, r := range faultRoutes {
		needsDB[r.name] = r.needsDB
	}
	inside := func(a faultAnswer, w window) bool { return !a.start.Before(w.from) && !a.end.After(w.to) }
	slowest := map[string]time.Duration{}
	seen := map[string]int{}
	verified := 0
	for _, a := range answers {
		took := a.end.Sub(a.start)
		slowest[a.route] = max(slowest[a.route], took)
		if a.route == "verify" && a.status == 200 {
			verified++
		}
		switch {
		case a.err != nil:
			t.Errorf("%s failed in transport after %v: %v", a.route, took, a.err)
			continue
		case a.status >= 500 && a.status != 503:
			t.Errorf("%s answered %d (%s)", a.route, a.status, a.code)
		case a.status == 503 && (a.retryAfter == "" || (a.code != fault.CodeUnavailable && a.code != "not_ready")):
			t.Errorf("%s answered 503 %q with Retry-After %q, want unavailable (or not_ready) with Retry-After", a.route, a.code, a.retryAfter)
		case a.route == "code" && a.status != 200:
			t.Errorf("show-code answered %d (%s) %v after the start", a.status, a.code, a.start.Sub(begun))
		}
		// A request caught mid-statement by the fault waits out that
		// statement's deadline and, at worst, one more.
		if took > 2*queryTimeout+margin {
			t.Errorf("%s took %v (query timeout %v)", a.route, took, queryTimeout)
		}
		for _, w := range healthy {
			if inside(a, w) && a.status != 200 {
				t.Errorf("%s answered %d (%s) %s", a.route, a.status, a.code, w.name)
			}
		}
		for _, f := range faults {
			// Requests sent once the fault began: none of their bytes
			// can reach the database and come back.
			if !inside(a, f) {
				continue
			}
			seen[f.name+" "+a.route]++
			switch {
			case a.route == "readyz":
				// The cached ready answer lasts a second; the check
				// after it meets its deadline.
				if a.start.After(f.from.Add(time.Second+2*queryTimeout+margin)) && a.status != 503 {
					t.Errorf("readyz answered %d %v into the %s database", a.status, a.start.Sub(f.from), f.name)
				}
			case needsDB[a.route]:
				if a.status != 503 || a.code != fault.CodeUnavailable {
					t.Errorf("%s answered %d (%s) with the database %s", a.route, a.status, a.code, f.name)
				}
				if took > queryTimeout+margin {
					t.Errorf("%s took %v with the database %s, query timeout %v", a.route, took, f.name, queryTimeout)
				}
			}
		}
	}
	for _, f := range faults {
		for _, r := range faultRoutes {
			if seen[f.name+" "+r.name] == 0 {
				t.Errorf("no %s request ran while the database was %s", r.name, f.name)
			}
		}
	}
	routes := make([]string, 0, len(slowest))
	for r := range slowest {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		t.Logf("%-7s slowest %v", r, slowest[r].Round(time.Millisecond))
	}
	t.Logf("%d answers, %d verifications accepted", len(answers), verified)

	// No accepted write was lost: every verification answered 200 is a row
	// (a row answered 503 may be one too, if its commit was under way).
	if rows := verificationRows(t, store.DBOptions{Driver: "mysql", DSN: dsn}); rows < int64(verified) {
		t.Errorf("%d verifications accepted, %d rows in the database", verified, rows)
	}

	// Another node's changes reach this one through the refreshers, which
	// lived through both outages: a list imported by the command line
	// (a process of its own) reaches the code shown from memory, and a
	// logout recorded in the database ends the holder's session.
	list := filepath.Join(t.TempDir(), "cdc.csv")
	os.WriteFile(list, []byte("doc_type,doc_number,colour,reason\nresident_id,11010519491231002X,red,fault test\n"), 0o600)
	other := exec.Command(s.cmd.Path, "import-status", "--source", "cdc", "--file", list)
	other.Dir = s.cmd.Dir // the same data directory, so the same keys
	other.Env = append(os.Environ(), "HEALTHCODE_DB_DRIVER=mysql", "HEALTHCODE_DB_DSN="+dsn)
	if out, err := other.CombinedOutput(); err != nil {
		t.Fatalf("import-status: %v\n%s", err, out)
	}
	eventually := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(6 * time.Second); !done(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the refresher did not recover", what)
			}
		}
	}
	eventually("the imported colour never reached the code", func() bool {
		var code struct{ Colour string }
		jsonCall(t, "GET", s.base+"/api/v1/me/code", "Bearer "+holder, nil, &code, 200)
		return code.Colour == "red"
	})
	var me struct{ Account struct{ ID string } }
	jsonCall(t, "GET", s.base+"/api/v1/me", "Bearer "+holder, nil, &me, 200)
	db, err := store.OpenDB(context.Background(), store.DBOptions{Driver: "mysql", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer store.CloseDB(db)
	elsewhere := store.NewStore(db, storetest.Vault(t), models.SystemClock{}, time.UTC)
	if err := elsewhere.Logout(context.Background(), models.NewRevocations(), me.Account.ID); err != nil {
		t.Fatal(err)
	}
	eventually("a logout elsewhere never ended the session", func() bool {
		req, _ := http.NewRequest("GET", s.base+"/api/v1/me/code", nil)
		req.Header.Set("Authorization", "Bearer "+holder)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 401
	})
	if logs := s.logs.String(); strings.Contains(logs, "panic") {
		t.Errorf("the server logged a panic:\n%s", logs)
	}
	s.checkEndpointsAndStop(t)
}
