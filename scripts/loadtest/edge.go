package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The edge run (-edge): the overload target measured through the shipped
// HAProxy configuration beside the same run straight to the node. Pin the
// node to one core (-server-cpus 0) and run the harness under taskset on the
// other: HAProxy, started by the harness, inherits the generator's core.
// For each path it measures the closed-loop capacity, then offers 1× and
// 3× (-overload) of it open-loop and reports the node's served rate and CPU
// per served request, the admitted p99, the refusals (who made them and
// their p99) and the proxy's CPU.

// edgeProxy is a HAProxy running scripts/deploy/haproxy.cfg.
type edgeProxy struct {
	cmd  *exec.Cmd
	base string
}

// startEdge runs HAProxy in front of the node at nodeBase, at most maxConn
// requests to it at once. The shipped file's second server is an address
// nothing listens on; the run starts once its checks have taken it out.
func startEdge(config, nodeBase string, maxConn int) (*edgeProxy, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, fmt.Errorf("-edge needs HAProxy (apt-get install haproxy): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	absent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	none := absent.Addr().String()
	absent.Close()
	node := strings.TrimPrefix(nodeBase, "http://")
	cmd := exec.Command(bin, "-db", "-f", config)
	cmd.Env = append(os.Environ(), "HC_BIND="+addr, "HC_NODE1="+node, "HC_NODE2="+none, "HC_SOURCE=127.0.0.1",
		fmt.Sprintf("HC_NODE_MAXCONN=%d", maxConn))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &edgeProxy{cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				time.Sleep(2 * time.Second) // two checks of the absent server
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("HAProxy did not answer on %s", addr)
		}
	}
}

func (p *edgeProxy) stop() { p.cmd.Process.Kill(); p.cmd.Wait() }

// readMetric reads one unlabelled counter from the node's /metrics (-1
// when absent).
func readMetric(ctx context.Context, c *http.Client, base, name string) float64 {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := c.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if n, value, _ := strings.Cut(sc.Text(), " "); n == name {
			var v float64
			fmt.Sscan(value, &v)
			return v
		}
	}
	return -1
}

// edgeRow is one open-loop run of the edge table.
type edgeRow struct {
	path, load                string
	offered, answered, served float64 // req/s
	nodeCPU, proxyCPU         float64 // µs per served / per answered request
	p99, shedP99              time.Duration
	shed, nodeShed, other5xx  int
	dropped                   int64
	retryAfter                bool
	coreBusy                  float64 // the generator's and the proxy's CPU per second of the run
}

// edgeRun measures both paths and prints the two tables.
func edgeRun(ctx context.Context, o options, srv *server, seed *seeded, client *http.Client) error {
	proxy, err := startEdge(o.edgeConfig, srv.Base, o.edgeMaxConn)
	if err != nil {
		return err
	}
	defer proxy.stop()
	nodePid, proxyPid := srv.Cmd.Process.Pid, proxy.cmd.Process.Pid
	clients := o.clients[len(o.clients)-1]
	fmt.Printf("\nedge: %s direct to the node and through HAProxy (%s, %d at once to the node), %d clients closed-loop, then 1× and %.1f× open-loop over %d connections, %s each\n",
		o.overTarget, o.edgeConfig, o.edgeMaxConn, clients, o.overload, o.conns, o.duration)
	const row = "| %s | %s | %.0f | %.0f | %.0f | %s | %.0f | %s | %s | %d | %s | %d | %s | %d | %s | %.0f %% |\n"
	fmt.Println("| path | load | offered req/s | answered req/s | node served req/s | served vs 1× | node CPU µs/served | vs 1× | admitted p99 | 503s | 503 p99 | by the node | proxy CPU µs/answer | other 5xx or errors | not sent (generator) | generator + proxy core busy |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, path := range []struct{ name, base string }{{"direct", srv.Base}, {"HAProxy", proxy.base}} {
		reqs, err := generator(ctx, client, o.overTarget, "", path.base, seed, o.people)
		if err != nil {
			return err
		}
		// Through the proxy, no more closed-loop clients than it sends the
		// node at once: more would be refused and come straight back, and
		// the refusals' churn on the generator's core would be measured as
		// the node's capacity.
		n := clients
		if path.name == "HAProxy" {
			n = min(clients, o.edgeMaxConn)
		}
		before := procCPU(nodePid)
		closed := rawClosedLoop(ctx, reqs, n, o.duration)
		capacity := closed.rps()
		fmt.Printf("| %s | closed loop, %d clients | - | %.0f | %.0f | - | %.0f | - | %s | %d | - | - | - | - | - | - |\n",
			path.name, n, capacity, capacity, micros(procCPU(nodePid)-before, closed.count(ok200)),
			ms(closed.percentile(0.99, ok200)), closed.count(is503))
		var base edgeRow
		for i, k := range edgeMultiples(o.overload) {
			r := edgeOpenLoop(ctx, reqs, capacity*k, o, client, srv.Base, nodePid, proxyPid)
			r.path, r.load = path.name, fmt.Sprintf("%g× (%.0f req/s)", k, capacity*k)
			if i == 0 {
				base = r
			}
			proxyCPU := "-"
			if path.name == "HAProxy" {
				proxyCPU = fmt.Sprintf("%.0f", r.proxyCPU)
			}
			retry := ""
			if r.shed > 0 && !r.retryAfter {
				retry = " (no Retry-After!)"
			}
			fmt.Printf(row, r.path, r.load, r.offered, r.answered, r.served, ratio(r.served, base.served), r.nodeCPU,
				ratio(r.nodeCPU, base.nodeCPU), ms(r.p99), r.shed, ms(r.shedP99)+retry, r.nodeShed, proxyCPU, r.other5xx,
				fmt.Sprint(r.dropped), 100*r.coreBusy)
		}
	}
	return nil
}

// edgeMultiples are the loads of the edge run: 1× and the steps to the
// overload multiple, so the table shows how far the generator's core could
// offer load before it was the bottleneck itself (its busy column near
// 100 %).
func edgeMultiples(overload float64) []float64 {
	ks := []float64{1}
	for _, k := range []float64{1.5, 2, 2.5} {
		if k < overload {
			ks = append(ks, k)
		}
	}
	if overload > 1 {
		ks = append(ks, overload)
	}
	return ks
}

func ok200(s int) bool { return s == 200 }
func is503(s int) bool { return s == 503 }

func ratio(x, base float64) string {
	if base <= 0 || x < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x/base)
}

// edgeOpenLoop offers rate open-loop to reqs' address and measures the
// node (its CPU, its own refusals from /metrics) and the proxy.
func edgeOpenLoop(ctx context.Context, reqs prepared, rate float64, o options, client *http.Client, nodeBase string, nodePid, proxyPid int) edgeRow {
	shedBefore := readMetric(ctx, client, nodeBase, "healthcode_admission_shed_total")
	node, proxy, self := procCPU(nodePid), procCPU(proxyPid), procCPU(os.Getpid())
	res := rawOpenLoop(ctx, reqs, rate, o.duration, o.conns)
	node, proxy, self = procCPU(nodePid)-node, procCPU(proxyPid)-proxy, procCPU(os.Getpid())-self
	secs := res.elapsed.Seconds()
	answered := res.count(func(s int) bool { return s > 0 })
	served := res.count(ok200)
	return edgeRow{
		offered:  (float64(len(res.samples)) + float64(res.dropped)) / secs,
		answered: float64(answered) / secs, served: float64(served) / secs,
		nodeCPU: micros(node, served), proxyCPU: micros(proxy, answered),
		p99: res.percentile(0.99, ok200), shedP99: res.percentile(0.99, is503),
		shed: res.count(is503), nodeShed: int(readMetric(ctx, client, nodeBase, "healthcode_admission_shed_total") - shedBefore),
		other5xx: res.count(func(s int) bool { return s >= 500 && s != 503 }) + res.count(func(s int) bool { return s == 0 }),
		dropped:  res.dropped, retryAfter: res.retryAfterSeen,
		// The generator and the proxy share one core (see above).
		coreBusy: (self + max(proxy, 0)).Seconds() / secs,
	}
}
