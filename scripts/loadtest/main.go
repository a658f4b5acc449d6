// Command loadtest measures the service against a bare net/http JSON handler
// on the same machine in the same run, and reports every figure as a ratio
// to it, since absolute figures on shared machines drift.
//
//	go run ./scripts/loadtest                       # starts the server (SQLite) itself
//	go run ./scripts/loadtest -db mysql             # … on MariaDB (database healthcode_load)
//	go run ./scripts/loadtest -addr 127.0.0.1:8080 -operator-key KEY   # a running server
//	go run ./scripts/loadtest -db mysql -targets bare,register -clients 256 -overload-target register -shutdown-target register
//	go run ./scripts/loadtest -db mysql -targets bare,checkin -clients 256 -overload-target checkin -shutdown-target checkin
//
// It seeds many people through the sandbox (login, identity, face check),
// takes their real session tokens and real codes, then drives each target
// with N keep-alive clients for T seconds (for each N of a list), prints
// requests/s, latency percentiles and counts by status, offers a multiple of the measured
// capacity open-loop to see how the server sheds, and (when it started the
// server) stops it with SIGTERM under verify (or register, or checkin) load
// and checks that every verification answered 200 (registration or
// check-in answered 201) has its row. The register target posts people's
// 核酸码 into 20-person tubes it opens first, each a new durable,
// group-committed registration; the checkin target has the people scan a
// venue's code person 0 registered, each a new durable, group-committed
// check-in. It sends traffic to 127.0.0.1 only and stops by itself.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		// The generator and the bare reference are paced as the server
		// paces itself (app's serveGCPercent): every process of a run
		// collects alike.
		debug.SetGCPercent(400)
	}
	if os.Getenv(bareChildEnv) == "1" {
		serveBare()
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type options struct {
	addr        string
	operatorKey string
	db          string
	dsn         string
	targets     string
	clients     []int
	duration    time.Duration
	people      int
	overload    float64
	overTarget  string
	conns       int
	serverCPUs  string
	shutdown    bool
	// shutdownTarget is the load the shutdown check runs: verify,
	// register or checkin.
	shutdownTarget string
	logFile        string
	edge           bool
	edgeConfig     string
	edgeMaxConn    int
}

func run() error {
	var o options
	flag.StringVar(&o.addr, "addr", "", "address of a running server on 127.0.0.1 (empty: start one)")
	flag.StringVar(&o.operatorKey, "operator-key", "", "operator key of the running server (with -addr)")
	flag.StringVar(&o.db, "db", "sqlite", "database of the started server: sqlite or mysql")
	flag.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/healthcode_load", "MySQL DSN of the started server (its database is recreated)")
	flag.StringVar(&o.targets, "targets", "bare,show-code,verify", "comma-separated targets: bare, show-code, verify, register (POST …/samples with a 核酸码: a durable, group-committed registration), checkin (POST /api/v1/checkins with a venue's code: a durable, group-committed check-in)")
	clientList := flag.String("clients", "64,256", "concurrent keep-alive clients: each target runs once per number (a durable write's capacity shows only when enough requests are in flight to cover its commit)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to drive each target (at most 2m)")
	flag.IntVar(&o.people, "people", 200, "people to seed")
	flag.Float64Var(&o.overload, "overload", 3, "offer this multiple of the overload target's measured capacity open-loop (0: skip)")
	flag.StringVar(&o.overTarget, "overload-target", "show-code", "the target to overload: show-code, verify, register or checkin")
	flag.IntVar(&o.conns, "overload-conns", 512, "connections the overload run may use (a load balancer's pool)")
	flag.StringVar(&o.serverCPUs, "server-cpus", "", "pin the started server and the bare reference to these CPUs with taskset (e.g. 1), so a generator pinned elsewhere can offer more than they serve")
	flag.BoolVar(&o.shutdown, "shutdown-check", true, "SIGTERM the started server under load and count rows")
	flag.StringVar(&o.shutdownTarget, "shutdown-target", "verify", "the load of the shutdown check: verify (rows = 200 answers), register or checkin (rows = 201 answers)")
	flag.BoolVar(&o.edge, "edge", false, "measure -overload-target through HAProxy (scripts/deploy/haproxy.cfg) beside the same run direct to the started server, then stop")
	flag.StringVar(&o.edgeConfig, "edge-config", "scripts/deploy/haproxy.cfg", "the HAProxy configuration of -edge")
	flag.IntVar(&o.edgeMaxConn, "edge-max-conn", 128, "requests the proxy sends the node at once in -edge (HC_NODE_MAXCONN; at most the node's HEALTHCODE_ADMISSION_MAX_IN_FLIGHT)")
	flag.StringVar(&o.logFile, "server-log", "", "file for the started server's log (default: a temporary file)")
	flag.Parse()
	for _, f := range strings.Split(*clientList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return fmt.Errorf("-clients: %q is not a number of clients from 1 to 4096", f)
		}
		o.clients = append(o.clients, n)
	}
	if o.duration > 2*time.Minute {
		o.duration = 2 * time.Minute
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	// The bare reference: a net/http JSON handler in this process.
	bare, err := startBare(o.serverCPUs)
	if err != nil {
		return err
	}
	defer bare.Close()

	var srv *server
	base := "http://" + o.addr
	if o.addr == "" {
		if srv, err = startServer(ctx, o); err != nil {
			return err
		}
		defer srv.stop()
		base, o.operatorKey = srv.Base, srv.OperatorKey
	} else if host, _, _ := net.SplitHostPort(o.addr); host != "127.0.0.1" && host != "localhost" {
		return errors.New("load is only ever sent to 127.0.0.1")
	}

	client := newClient(slices.Max(o.clients) * 2)
	fmt.Printf("seeding %d people through the sandbox…\n", o.people)
	seed, err := seedPeople(ctx, client, base, o.operatorKey, o.people)
	if err != nil {
		return err
	}
	if o.shutdownTarget != "verify" && o.shutdownTarget != "register" && o.shutdownTarget != "checkin" {
		return fmt.Errorf("-shutdown-target: %q is not verify, register or checkin", o.shutdownTarget)
	}
	uses := func(target string) bool {
		return slices.Contains(strings.Split(o.targets, ","), target) || o.overTarget == target || o.shutdownTarget == target
	}
	if uses("register") {
		if err := seed.sampler(ctx, client, base, o.operatorKey); err != nil {
			return err
		}
	}
	if uses("checkin") {
		if err := seed.venue(ctx, client, base); err != nil {
			return err
		}
	}

	machine := describeMachine()
	if o.edge {
		if srv == nil {
			return errors.New("-edge measures a server the harness starts (no -addr)")
		}
		fmt.Printf("\n%s, %s\n", time.Now().Format("2006-01-02 15:04 MST"), machine)
		return edgeRun(ctx, o, srv, seed, client)
	}
	fmt.Printf("\n%s, %s, %s per target, database %s; ratios are to the bare handler at the same number of clients;\n"+
		"cpu is the CPU time per answered request, in µs, of the server (or bare handler), this generator and the database\n\n",
		time.Now().Format("2006-01-02"), machine, o.duration, o.db)
	const row = "%7s  %-9s  %7s  %5s  %7s  %7s  %7s  %7s  %-11s  %s\n"
	fmt.Printf(row, "clients", "target", "req/s", "ratio", "p50", "p90", "p99", "max", "cpu", "statuses")
	meter := cpuMeter{dbPid: findProcess("mariadbd", "mysqld")}
	serverPid := 0
	if srv != nil {
		serverPid = srv.Cmd.Process.Pid
	}
	pidOf := func(target string) int {
		if target == "bare" {
			return bare.cmd.Process.Pid
		}
		return serverPid
	}
	// capacity is a target's best throughput over the numbers of clients,
	// and serverCost the server's CPU per request in that run (µs).
	capacity, serverCost := map[string]float64{}, map[string]float64{}
	var commits []string
	targets := strings.Split(o.targets, ",")
	for _, clients := range o.clients {
		// The bare handler runs before and after each target, and the
		// target's ratio is to the mean of those two: the machine's speed
		// drifts by several per cent within a minute.
		order := targets
		if slices.Contains(targets, "bare") {
			order = []string{"bare"}
			for _, t := range targets {
				if t != "bare" {
					order = append(order, t, "bare")
				}
			}
		}
		var lastBare float64
		var pending func(bareAfter float64)
		for _, target := range order {
			reqs, err := generator(ctx, client, target, bare.URL, base, seed, o.people)
			if err != nil {
				return err
			}
			// The group commit of the target's writer, if it has one.
			writer := map[string]string{"verify": "verifications", "register": "samples", "checkin": "checkins"}[target]
			var before groupCommit
			if writer != "" {
				before = readGroupCommit(ctx, client, base, writer)
			}
			cpuBefore := meter.snap(pidOf(target))
			res := rawClosedLoop(ctx, reqs, clients, o.duration)
			used := cpuBefore.until(meter.snap(pidOf(target)))
			answered := res.count(func(s int) bool { return s > 0 })
			if writer != "" {
				commits = append(commits, fmt.Sprintf("%s's group commit, %d clients: %s", target, clients, readGroupCommit(ctx, client, base, writer).since(before)))
			}
			rps := res.rps()
			if rps > capacity[target] {
				capacity[target], serverCost[target] = rps, micros(used.server, answered)
			}
			report := func(ratio string) {
				fmt.Printf(row, strconv.Itoa(clients), target, fmt.Sprintf("%.0f", rps), ratio,
					ms(res.percentile(0.50, nil)), ms(res.percentile(0.90, nil)), ms(res.percentile(0.99, nil)), ms(res.max()),
					used.perRequest(answered), res.statuses())
			}
			switch {
			case target == "bare":
				if pending != nil {
					pending(rps)
					pending = nil
				}
				lastBare = rps
				report("1.00")
			case lastBare > 0:
				bareBefore := lastBare
				pending = func(bareAfter float64) { report(fmt.Sprintf("%.2f", 2*rps/(bareBefore+bareAfter))) }
			default:
				report("-")
			}
		}
	}
	for _, c := range commits {
		fmt.Println(" ", c)
	}
	if len(o.clients) > 1 && capacity["bare"] > 0 {
		fmt.Print("capacity (best over the numbers of clients):")
		for _, target := range targets {
			fmt.Printf(" %s %.0f req/s (%.2f)", target, capacity[target], capacity[target]/capacity["bare"])
		}
		fmt.Println()
	}

	if codeRPS := capacity[o.overTarget]; o.overload > 0 && codeRPS > 0 {
		offered := codeRPS * o.overload
		reqs, err := generator(ctx, client, o.overTarget, bare.URL, base, seed, o.people)
		if err != nil {
			return err
		}
		fmt.Printf("\noverload: %s offered open-loop at %.1f× its capacity (%.0f req/s) over %d connections for %s\n", o.overTarget, o.overload, offered, o.conns, o.duration)
		cpuBefore := meter.snap(serverPid)
		res := rawOpenLoop(ctx, reqs, offered, o.duration, o.conns)
		used := cpuBefore.until(meter.snap(serverPid))
		ok := func(s int) bool { return s == 200 || s == 201 }
		busy := func(s int) bool { return s == 503 }
		acceptedRPS := float64(res.count(ok)) / res.elapsed.Seconds()
		fmt.Printf("  accepted %.0f req/s = %.0f%% of capacity (target ≥ 90%%), accepted p99 %s (target ≤ 100ms)\n",
			acceptedRPS, 100*acceptedRPS/codeRPS, ms(res.percentile(0.99, ok)))
		fmt.Printf("  shed 503 p99 %s (target ≤ 5ms), client-side drops %d, statuses %s\n",
			ms(res.percentile(0.99, busy)), res.dropped, res.statuses())
		// What a 503 cost the server: its CPU in this run less what the
		// served requests cost at their closed-loop price.
		serve, shed := serverCost[o.overTarget], -1.0
		if n := res.count(busy); n > 0 && used.server >= 0 && serve > 0 {
			shed = (float64(used.server.Microseconds()) - serve*float64(res.count(ok))) / float64(n)
		}
		if shed > 0 {
			fmt.Printf("  server CPU: %.0f µs per served request, about %.0f µs per 503; at these prices a server that must answer %.1f× its capacity itself can serve at most %.0f%% of capacity (the target needs a 503 at 1/%.0f of a served request)\n",
				serve, shed, o.overload, 100*keptBound(o.overload, serve, shed), (o.overload-0.9)/0.1)
		}
		if other := res.count(func(s int) bool { return s >= 500 && s != 503 }); other > 0 {
			fmt.Printf("  FAIL: %d 5xx answers other than 503\n", other)
		}
		if res.count(busy) > 0 && !res.retryAfterSeen {
			fmt.Println("  FAIL: 503 without Retry-After")
		}
	}

	if srv != nil && o.shutdown {
		fmt.Printf("\nshutdown under load: SIGTERM halfway through %s of %s load\n", o.duration, o.shutdownTarget)
		if err := shutdownCheck(ctx, client, srv, seed, o); err != nil {
			return err
		}
	}
	return nil
}

// generator returns n requests of a target, ready to send (register:
// registerRequests of them, into tubes it opens first; checkin: at the
// venue person 0 registered).
func generator(ctx context.Context, c *http.Client, target, bareURL, base string, seed *seeded, n int) (prepared, error) {
	switch target {
	case "bare":
		return prepare(bareRequest(bareURL), n)
	case "show-code":
		return prepare(seed.showCode(base), n)
	case "verify":
		return prepare(seed.verify(base), n)
	case "register":
		gen, err := seed.register(ctx, c, base, registerRequests)
		if err != nil {
			return prepared{}, err
		}
		return prepare(gen, registerRequests)
	case "checkin":
		return prepare(seed.checkIn(base), n)
	}
	return prepared{}, fmt.Errorf("unknown target %q (bare, show-code, verify, register or checkin)", target)
}

// groupCommit is the server's group-commit counters of one writer
// (verifications, samples, checkins), from /metrics.
type groupCommit struct {
	batches, rows, seconds float64
}

func readGroupCommit(ctx context.Context, c *http.Client, base, writer string) groupCommit {
	var g groupCommit
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return g
	}
	resp, err := c.Do(req)
	if err != nil {
		return g
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		name, ok := strings.CutSuffix(name, `{writer="`+writer+`"}`)
		if !ok {
			continue
		}
		into := map[string]*float64{
			"healthcode_group_commit_batches_total": &g.batches,
			"healthcode_group_commit_rows_total":    &g.rows,
			"healthcode_group_commit_seconds_total": &g.seconds,
		}[name]
		if into != nil {
			fmt.Sscan(value, into)
		}
	}
	return g
}

// since describes the batches committed after before.
func (g groupCommit) since(before groupCommit) string {
	batches, rows := g.batches-before.batches, g.rows-before.rows
	if batches <= 0 {
		return "no batches seen in /metrics"
	}
	return fmt.Sprintf("%.0f rows in %.0f batches, %.1f rows per batch, %.1fms per commit",
		rows, batches, rows/batches, 1000*(g.seconds-before.seconds)/batches)
}

// bareChildEnv makes this program serve the bare reference handler.
const bareChildEnv = "HEALTHCODE_LOADTEST_BARE"

// startBare runs the reference handler in a child process of its own, as
// the service runs in its own process, so both pay the same process and
// scheduling costs beside the load generator.
func startBare(cpus string) (*bareServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := pinned(cpus, self)
	cmd.Env = append(os.Environ(), bareChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The child lives while this pipe is open: it ends with its parent.
	lifeline, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("bare reference did not start: %w", err)
	}
	return &bareServer{cmd: cmd, lifeline: lifeline, URL: "http://" + strings.TrimSpace(addr) + "/"}, nil
}

// serveBare is the child: a bare net/http JSON handler on a free port,
// printed on stdout; it ends when its parent does.
func serveBare() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]string{"status": "ok", "server_time": time.Now().Format(time.RFC3339Nano)})
	}))
}

type bareServer struct {
	cmd      *exec.Cmd
	lifeline io.Closer
	URL      string
}

func (b *bareServer) Close() { b.lifeline.Close(); b.cmd.Wait() }

// pinned returns a command for bin, run under taskset when cpus is set.
func pinned(cpus, bin string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(bin)
	}
	return exec.Command("taskset", "-c", cpus, bin)
}

func bareRequest(url string) requestGen {
	return func(int) (*http.Request, error) { return http.NewRequest("GET", url, nil) }
}

// newClient is a keep-alive client for many concurrent connections.
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     time.Minute,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// call sends a JSON request and decodes a JSON answer, failing on a status
// other than want. A 503 busy is retried, up to five times, after the
// seconds its Retry-After gives, as the mini-programs do.
func call(ctx context.Context, c *http.Client, method, url, auth string, body, into any, want int) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if resp, err = c.Do(req); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusServiceUnavailable || attempt == 5 {
			break
		}
		resp.Body.Close()
		wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || wait < 1 || wait > 10 {
			wait = 1
		}
		time.Sleep(time.Duration(wait) * time.Second)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	if into != nil {
		return json.Unmarshal(raw, into)
	}
	return nil
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}
