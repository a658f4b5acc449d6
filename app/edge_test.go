package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"healthcode/models/store"
	"healthcode/models/storetest"
)

// haproxyConfig is the shipped edge configuration the cluster tests run.
var haproxyConfig, _ = filepath.Abs("../scripts/deploy/haproxy.cfg")

// proxySource is the address the test proxy connects to the nodes from,
// the only one the nodes trust for X-Forwarded-For.
const proxySource = "127.0.0.2"

// edge is a real HAProxy running the shipped configuration.
type edge struct {
	base string
	cmd  *exec.Cmd
	logs *syncLog
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startEdge runs HAProxy in front of the nodes with the shipped
// configuration; settings are HC_* overrides (see haproxy.cfg).
func startEdge(t *testing.T, nodes []*server, settings ...string) *edge {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		storetest.Unavailable(t, "the cluster tests need HAProxy (apt-get install haproxy): %v", err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-db", "-f", haproxyConfig)
	cmd.Env = append(os.Environ(), "HC_BIND="+addr, "HC_SOURCE="+proxySource, "HC_CHECK_INTER=300ms")
	for i, n := range nodes {
		cmd.Env = append(cmd.Env, fmt.Sprintf("HC_NODE%d=%s", i+1, strings.TrimPrefix(n.base, "http://")))
	}
	cmd.Env = append(cmd.Env, settings...)
	e := &edge{base: "http://" + addr, cmd: cmd, logs: &syncLog{}}
	cmd.Stdout, cmd.Stderr = logSink{e.logs}, logSink{e.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(e.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy did not answer\n%s", e.logs)
		}
	}
	return e
}

// logSink writes a process's output into a syncLog.
type logSink struct{ l *syncLog }

func (s logSink) Write(p []byte) (int, error) { s.l.WriteString(string(p)); return len(p), nil }

// cluster is two real nodes on one MariaDB database, sharing a data
// directory (their keys, as a deployment's shared secrets), behind HAProxy.
type cluster struct {
	a, b    *server
	edge    *edge
	dsn     string
	dataDir string
}

// nodeEnv is what every cluster node runs with.
func nodeEnv(dsn, dataDir string) []string {
	return []string{
		"HEALTHCODE_DB_DRIVER=mysql", "HEALTHCODE_DB_DSN=" + dsn, "HEALTHCODE_DATA_DIR=" + dataDir,
		"HEALTHCODE_OPERATOR_KEYS=" + loadOperatorKey, "HEALTHCODE_HTTP_TRUSTED_PROXIES=" + proxySource,
		"HEALTHCODE_HTTP_DRAIN_DELAY=2s",
		"HEALTHCODE_RATE_VERIFY_PER_MINUTE_ACCOUNT=100000000", "HEALTHCODE_RATE_LOGIN_PER_MINUTE_IP=100000",
		"HEALTHCODE_RATE_IDENTITY_PER_MINUTE_IP=100000", "HEALTHCODE_RATE_CODE_PER_MINUTE_ACCOUNT=100000",
	}
}

// startCluster starts node A (which migrates and writes the development
// keys), then node B, then the proxy; edgeSettings override HC_* settings.
func startCluster(t *testing.T, edgeSettings ...string) *cluster {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		storetest.Unavailable(t, "the cluster tests need HAProxy (apt-get install haproxy): %v", err)
	}
	c := &cluster{dsn: storetest.MySQLDSN(t), dataDir: t.TempDir()}
	c.a = startServer(t, buildBinary(t), nodeEnv(c.dsn, c.dataDir)...)
	c.b = startServer(t, buildBinary(t), nodeEnv(c.dsn, c.dataDir)...)
	c.edge = startEdge(t, []*server{c.a, c.b}, edgeSettings...)
	return c
}

// answeredBy says which node's log holds the request id, waiting for the
// nodes' buffered logs.
func (c *cluster) answeredBy(t *testing.T, requestID string) *server {
	t.Helper()
	mark := "request_id=" + requestID + " "
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, s := range []*server{c.a, c.b} {
			if strings.Contains(s.logs.String(), mark) {
				return s
			}
		}
	}
	t.Fatalf("no node logged request %s", requestID)
	return nil
}

// within polls done every 50 ms until it holds or the limit passes, and
// returns how long it took.
func within(t *testing.T, limit time.Duration, what string, done func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !done() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// clientOf is the client address of an access-log line.
func clientOf(line string) string {
	if m := regexp.MustCompile(`\bclient=(\S+)`).FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// TestClusterBehindHAProxy runs two nodes on one MariaDB database behind
// the shipped HAProxy configuration: changes made through one node reach
// the other (logout within 2 s, a status import, a verifier grant, a key
// rotation, a revoked relative link), requests of one account meet one
// node, and the nodes believe the client address only from the proxy.
func TestClusterBehindHAProxy(t *testing.T) {
	c := startCluster(t)
	holder, verifier, qr := seedPeople(t, c.a.base)
	plain := http.DefaultClient

	t.Run("client address from the proxy only", func(t *testing.T) {
		// A client on 127.0.0.3 claiming another address: the node sees
		// 127.0.0.3 through the proxy, and its own peer directly.
		from3 := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext}}
		status, id, _ := do(t, from3, "GET", c.edge.base+"/api/v1/me", "Bearer "+holder, nil)
		req, _ := http.NewRequest("GET", c.edge.base+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+holder)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := from3.Do(req)
		if err != nil || status != 200 {
			t.Fatalf("through the proxy: %d %v", status, err)
		}
		resp.Body.Close()
		spoofed := resp.Header.Get("X-Request-Id")
		for _, rid := range []string{id, spoofed} {
			logs := c.answeredBy(t, rid).logs.String()
			line := regexp.MustCompile(`request_id=` + rid + ` .*`).FindString(logs)
			if clientOf(line) != "127.0.0.3" {
				t.Errorf("through the proxy the node logged %q, want client=127.0.0.3", line)
			}
		}
		req, _ = http.NewRequest("GET", c.a.base+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+holder)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err = from3.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		direct := resp.Header.Get("X-Request-Id")
		line := regexp.MustCompile(`request_id=` + direct + ` .*`).FindString(c.answeredBy(t, direct).logs.String())
		if clientOf(line) != "127.0.0.3" {
			t.Errorf("directly the node logged %q, want its peer client=127.0.0.3 (the header is not the proxy's)", line)
		}
	})

	t.Run("routing by account", func(t *testing.T) {
		seen := map[*server]int{}
		for i := range 16 {
			var login struct{ Token string }
			jsonCall(t, "POST", c.edge.base+"/api/v1/auth/sandbox", "", map[string]string{"user": fmt.Sprint("route-", i)}, &login, 200)
			var first *server
			for range 5 {
				status, id, _ := do(t, plain, "GET", c.edge.base+"/api/v1/me", "Bearer "+login.Token, nil)
				if status != 200 {
					t.Fatalf("me = %d", status)
				}
				node := c.answeredBy(t, id)
				if first == nil {
					first = node
				} else if node != first {
					t.Fatalf("account %d met both nodes", i)
				}
			}
			seen[first]++
		}
		if len(seen) != 2 {
			t.Errorf("16 accounts all met one node: %v", seen)
		}
	})

	t.Run("pages stay on the node that served them", func(t *testing.T) {
		seen := map[*server]int{}
		for range 8 {
			jar, err := cookiejar.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			browser := &http.Client{Jar: jar}
			var first *server
			for range 4 {
				// No ticket: the page answers its error, through the same route.
				_, id, _ := do(t, browser, "GET", c.edge.base+"/h5/code", "", nil)
				node := c.answeredBy(t, id)
				if first == nil {
					first = node
				} else if node != first {
					t.Fatal("a browser holding the proxy's cookie met both nodes")
				}
			}
			seen[first]++
		}
		if len(seen) != 2 {
			t.Errorf("8 browsers all met one node: %v", seen)
		}
	})

	t.Run("logout on A refuses the token on B within 2 s", func(t *testing.T) {
		var login struct{ Token string }
		jsonCall(t, "POST", c.a.base+"/api/v1/auth/sandbox", "", map[string]string{"user": "leaver"}, &login, 200)
		jsonCall(t, "GET", c.b.base+"/api/v1/me", "Bearer "+login.Token, nil, nil, 200)
		jsonCall(t, "POST", c.a.base+"/api/v1/auth/logout", "Bearer "+login.Token, nil, nil, 200)
		took := within(t, 2*time.Second, "the token still works on B", func() bool {
			status, _, _ := do(t, plain, "GET", c.b.base+"/api/v1/me", "Bearer "+login.Token, nil)
			return status == 401
		})
		t.Logf("refused on B %v after the logout on A", took.Round(time.Millisecond))
	})

	t.Run("verifier granted through A verifies on B", func(t *testing.T) {
		// seedPeople granted the verifier through A.
		within(t, 5*time.Second, "B does not know the verifier", func() bool {
			status, _, _ := do(t, plain, "POST", c.b.base+"/api/v1/verify", "Bearer "+verifier, map[string]string{"qr": qr})
			return status == 200
		})
	})

	t.Run("status import through A reaches B's codes", func(t *testing.T) {
		status, raw := upload(t, plain, c.a.base+"/api/v1/admin/status-imports", "doc_type,doc_number,colour,reason\nresident_id,11010519491231002X,red,cluster test\n", "source", "cdc")
		if status != 202 {
			t.Fatalf("import = %d %s", status, raw)
		}
		took := within(t, 10*time.Second, "B's code never turned red", func() bool {
			var code struct{ Colour string }
			jsonCall(t, "GET", c.b.base+"/api/v1/me/code", "Bearer "+holder, nil, &code, 200)
			return code.Colour == "red"
		})
		t.Logf("red on B %v after the upload to A", took.Round(time.Millisecond))
	})

	t.Run("keys rotate is picked up by both", func(t *testing.T) {
		kids := func(s *server) map[string]bool {
			var jwks struct{ Keys []struct{ Kid string } }
			call(t, "GET", s.base+"/.well-known/healthcode-keys", 200, &jwks)
			out := map[string]bool{}
			for _, k := range jwks.Keys {
				out[k.Kid] = true
			}
			return out
		}
		before := kids(c.a)
		rotate := exec.Command(buildBinary(t), "keys", "rotate")
		rotate.Env = append(os.Environ(), nodeEnv(c.dsn, c.dataDir)...)
		if out, err := rotate.CombinedOutput(); err != nil {
			t.Fatalf("keys rotate: %v\n%s", err, out)
		}
		for name, s := range map[string]*server{"A": c.a, "B": c.b} {
			within(t, 6*time.Second, "node "+name+" never published the new key", func() bool {
				return len(kids(s)) > len(before)
			})
		}
		// A code signed on A with the new key verifies on B.
		var code struct{ QR string }
		jsonCall(t, "GET", c.a.base+"/api/v1/me/code", "Bearer "+holder, nil, &code, 200)
		var got struct{ Result string }
		jsonCall(t, "POST", c.b.base+"/api/v1/verify", "Bearer "+verifier, map[string]string{"qr": code.QR}, &got, 200)
		if got.Result != "valid" {
			t.Errorf("a code from A after the rotation verifies on B as %q", got.Result)
		}
	})

	t.Run("a revoked relative link revokes codes on both", func(t *testing.T) {
		var rel struct{ ID, Status string }
		jsonCall(t, "POST", c.a.base+"/api/v1/relatives", "Bearer "+holder,
			map[string]string{"name": "赵六", "doc_type": "passport", "doc_number": "E99887766", "relation": "other"}, &rel, 201)
		jsonCall(t, "POST", c.a.base+"/api/v1/admin/relative-reviews/"+rel.ID, "Operator "+loadOperatorKey,
			map[string]string{"decision": "approve", "note": "cluster test"}, nil, 200)
		var code struct{ QR string }
		jsonCall(t, "GET", c.b.base+"/api/v1/relatives/"+rel.ID+"/code", "Bearer "+holder, nil, &code, 200)
		verifyOn := func(s *server) string {
			var got struct{ Result string }
			jsonCall(t, "POST", s.base+"/api/v1/verify", "Bearer "+verifier, map[string]string{"qr": code.QR}, &got, 200)
			return got.Result
		}
		for _, s := range []*server{c.a, c.b} {
			if r := verifyOn(s); r != "valid" {
				t.Fatalf("the relative's code before the deletion: %q", r)
			}
		}
		jsonCall(t, "DELETE", c.a.base+"/api/v1/relatives/"+rel.ID, "Bearer "+holder, nil, nil, 200)
		for name, s := range map[string]*server{"A": c.a, "B": c.b} {
			within(t, 3*time.Second, "the relative's code still valid on "+name, func() bool { return verifyOn(s) == "revoked" })
		}
	})

	t.Run("a paper reported lost on A fails on B within 5 s", func(t *testing.T) {
		// The holder is 77: an offline code, issued through A.
		var paper struct{ QR string }
		jsonCall(t, "POST", c.a.base+"/api/v1/me/offline-code", "Bearer "+holder, nil, &paper, 201)
		verifyOn := func(s *server) (result, reason string) {
			var got struct{ Result, Reason string }
			jsonCall(t, "POST", s.base+"/api/v1/verify", "Bearer "+verifier, map[string]string{"qr": paper.QR}, &got, 200)
			return got.Result, got.Reason
		}
		within(t, 5*time.Second, "B does not know the new paper", func() bool { r, _ := verifyOn(c.b); return r == "valid" })
		jsonCall(t, "POST", c.a.base+"/api/v1/me/offline-code/loss", "Bearer "+holder, nil, nil, 200)
		took := within(t, 5*time.Second, "the lost paper still passes on B", func() bool {
			r, reason := verifyOn(c.b)
			return r == "revoked" && reason == "reported_lost"
		})
		t.Logf("revoked (reported_lost) on B %v after the report on A", took.Round(time.Millisecond))
	})
}

// verificationRows counts the cluster's verification rows.
func (c *cluster) verificationRows(t *testing.T) int64 {
	t.Helper()
	return verificationRows(t, store.DBOptions{Driver: "mysql", DSN: c.dsn, MaxOpenConns: 1})
}

// knowVerifier waits until both nodes know the verifier granted on A
// (within a refresh); it verifies once on each, writing two rows.
func (c *cluster) knowVerifier(t *testing.T, verifier, qr string) {
	t.Helper()
	for _, s := range []*server{c.a, c.b} {
		within(t, 5*time.Second, "a node does not know the verifier", func() bool {
			status, _, _ := do(t, http.DefaultClient, "POST", s.base+"/api/v1/verify", "Bearer "+verifier, map[string]string{"qr": qr})
			return status == 200
		})
	}
}

// loadedNode starts verify load through the proxy and returns the node
// that serves it (one verifier token: routing by account sends it all to
// one node) and the other.
func (c *cluster) loadedNode(t *testing.T, verifier, qr string) (loaded, other *server) {
	t.Helper()
	c.knowVerifier(t, verifier, qr)
	status, id, body := do(t, http.DefaultClient, "POST", c.edge.base+"/api/v1/verify", "Bearer "+verifier, map[string]string{"qr": qr})
	if status != 200 {
		t.Fatalf("verify through the proxy = %d %s", status, body)
	}
	if loaded = c.answeredBy(t, id); loaded == c.a {
		return c.a, c.b
	}
	return c.b, c.a
}

// TestClusterNodeKilledUnderLoad kills the node serving a verify load with
// SIGKILL: the proxy takes it out within its health checks, the load goes
// on on the other node, and every verification answered 200 has its row.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	c := startCluster(t)
	verifier, qr := seedVerifier(t, c.a.base)
	victim, survivor := c.loadedNode(t, verifier, qr)

	stop := make(chan struct{})
	load := hammer(c.edge.base, verifier, qr, 16, stop)
	time.Sleep(time.Second)
	before := load.count(200)
	victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	killed := time.Now()
	// Health checks every 300 ms, down after 2: out within about a second.
	time.Sleep(1500 * time.Millisecond)
	settled := load.count(200)
	failedBy := load.failed()
	time.Sleep(time.Second)
	close(stop)
	load.wait()
	after := load.count(200) - settled
	if after == 0 {
		t.Fatalf("no verification answered after the kill: %v", load.byStatus)
	}
	if failed := load.failed(); failed != failedBy {
		t.Errorf("%d requests failed more than 1.5 s after the kill (%v)", failed-failedBy, load.byStatus)
	}
	for status, n := range load.byStatus {
		if status != 200 && status != 502 {
			t.Errorf("%d answers of status %d", n, status)
		}
	}
	// The requests the node held when it died: 502 from the proxy, or the
	// client's connection closed (the proxy does so when a reused node
	// connection dies, so that the client may retry); their outcome is
	// unknown, so rows may exceed the answers by them. Each of the 16
	// clients had one in flight at the kill, and may send one more before
	// the proxy takes the node out that meets an idle connection to it the
	// proxy kept (retry-on conn-failure retries a new connection only, not
	// a request already sent): at most two each, all within the health
	// checks' window (above).
	if failedBy > 2*16 {
		t.Errorf("%d requests failed (%v, transport %d), more than two for each of the 16 clients", failedBy, load.byStatus, load.transport)
	}
	rows := c.verificationRows(t)
	if answered := int64(load.count(200)) + 3; rows < answered {
		t.Errorf("%d verifications answered 200, only %d rows", answered, rows)
	}
	if !strings.Contains(survivor.logs.String(), "route=/api/v1/verify") {
		t.Error("the surviving node served no verification")
	}
	t.Logf("before the kill %d, after it settled %d (%v after the kill); answers %v, transport %d; rows %d",
		before, after, time.Since(killed).Round(time.Millisecond), load.byStatus, load.transport, rows)
}

// TestClusterNodeDrainsOnSIGTERM stops the node serving a verify load with
// SIGTERM: its readiness fails first (the proxy moves the load to the other
// node), then it drains and stops; no request fails and the rows are
// exactly the verifications answered 200.
func TestClusterNodeDrainsOnSIGTERM(t *testing.T) {
	c := startCluster(t)
	verifier, qr := seedVerifier(t, c.a.base)
	leaving, staying := c.loadedNode(t, verifier, qr)

	stop := make(chan struct{})
	load := hammer(c.edge.base, verifier, qr, 16, stop)
	time.Sleep(time.Second)
	leaving.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	var e errorEnvelope
	call(t, "GET", leaving.base+"/readyz", 503, &e)
	if e.Error.Code != "draining" {
		t.Errorf("readyz while draining = %+v", e)
	}
	select {
	case err := <-leaving.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, leaving.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not stop")
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	load.wait()
	if load.total() != load.count(200) || load.transport > 0 {
		t.Errorf("answers %v, transport errors %d: want only 200", load.byStatus, load.transport)
	}
	if rows, answered := c.verificationRows(t), int64(load.count(200))+3; rows != answered {
		t.Errorf("%d verifications answered 200, %d rows", answered, rows)
	}
	logs := leaving.logs.String()
	if d, s := strings.Index(logs, "msg=draining"), strings.Index(logs, `msg="shutting down"`); d < 0 || s < d {
		t.Errorf("the node did not drain before shutting down:\n%s", logs)
	}
	if !strings.Contains(staying.logs.String(), "route=/api/v1/verify") {
		t.Error("the staying node served no verification")
	}
	t.Logf("answers %v", load.byStatus)
}

// TestProxyAnswersBusyWhenItsQueueIsFull: with two requests at once per
// node and a queue of four, the excess of 64 clients is refused by the proxy
// itself with the nodes' busy answer (503, Retry-After, the busy code, and
// no node request id), and the nodes shed nothing.
func TestProxyAnswersBusyWhenItsQueueIsFull(t *testing.T) {
	c := startCluster(t, "HC_NODE_MAXCONN=2", "HC_MAX_QUEUE=4", "HC_QUEUE_TIMEOUT=20ms")
	verifier, qr := seedVerifier(t, c.a.base)
	c.knowVerifier(t, verifier, qr)
	stop := make(chan struct{})
	load := hammer(c.edge.base, verifier, qr, 64, stop)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	load.wait()
	if load.count(200) == 0 || load.count(503) == 0 {
		t.Fatalf("answers %v: want both 200 and 503", load.byStatus)
	}
	if load.badShed > 0 {
		t.Errorf("%d 503 answers lacked Retry-After or the busy code", load.badShed)
	}
	if load.total() != load.count(200)+load.count(503) || load.transport > 0 {
		t.Errorf("answers %v, transport errors %d: want only 200 and 503", load.byStatus, load.transport)
	}
	// The refusals are the proxy's: a node's answer carries its request id.
	for _, s := range []*server{c.a, c.b} {
		if strings.Contains(s.logs.String(), "shedding load") {
			t.Errorf("a node shed load itself:\n%s", s.logs)
		}
	}
	if rows, answered := c.verificationRows(t), int64(load.count(200))+2; rows != answered {
		t.Errorf("%d verifications answered 200, %d rows", answered, rows)
	}
	t.Logf("answers %v, proxy refusals without a node's request id: %d", load.byStatus, load.proxyRefusals)
	if load.proxyRefusals != load.count(503) {
		t.Errorf("%d of %d refusals came from a node", load.count(503)-load.proxyRefusals, load.count(503))
	}
}
