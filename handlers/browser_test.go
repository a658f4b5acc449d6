package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"healthcode/config"
	"healthcode/models/clocktest"
	"healthcode/models/codetoken"
	"healthcode/models/storetest"
)

// newBrowser starts headless Chromium for one test, or skips (fails under
// HEALTHCODE_TEST_REQUIRE_ALL=1) when it is not installed.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		storetest.Unavailable(t, "page tests need Chromium (apt-get install chromium)")
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-proxy-server", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// needChineseFont skips (fails under HEALTHCODE_TEST_REQUIRE_ALL=1) a test
// that measures the layout of Chinese text when no Chinese font is
// installed: Chromium would draw boxes of the Latin font's size, and the
// layout would be a test of those. Noto Sans CJK is the font Android phones
// draw Chinese with.
func needChineseFont(t testing.TB) {
	t.Helper()
	out, err := exec.Command("fc-list", ":lang=zh", "family").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		storetest.Unavailable(t, "page layout tests need a Chinese font (apt-get install fonts-noto-cjk)")
	}
}

// newBrowserEnv is a test server for pages shown in Chromium: its clock
// starts from the real now moved by skew and runs in real time, because the
// browser keeps real time (cookies, timers) and a fixed date would make the
// test pass only on that date.
func newBrowserEnv(t *testing.T, skew time.Duration, changes ...func(*testSetup)) *testEnv {
	t.Helper()
	start := time.Now().Add(skew)
	// The page keeps real time, so the service does too, in a zone where
	// its clock (skew included) starts at noon, far from the day's end
	// (today's face check).
	e := newTestEnv(t, append([]func(*testSetup){func(s *testSetup) {
		s.start, s.cfg.TimeZone = start, clocktest.NoonZone(start)
	}}, changes...)...)
	e.clock.Run()
	return e
}

// phone is a phone's viewport: width × height CSS pixels at device scale 2.
func phone(width, height int64) chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(width, height, chromedp.EmulateScale(2))
}

// evalJS evaluates a JavaScript expression in the page and returns its value.
func evalJS[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// open navigates to url with the given viewport and waits until predicate
// holds.
func open(t testing.TB, ctx context.Context, viewport chromedp.Action[chromedp.Void], url, what, predicate string) {
	t.Helper()
	if err := chromedp.Do(ctx, viewport, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, what, predicate)
}

// codeShown is true once the code page shows a code.
const codeShown = `document.querySelector("#qr svg") !== null && !document.querySelector("#card").hidden`

// waitFor polls a JavaScript predicate until it is true.
func waitFor(t testing.TB, ctx context.Context, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		// A page that navigates (a ticket's redirect, a reload) destroys the
		// context a poll ran in: poll again in the new one.
		if msg := err.Error(); (strings.Contains(msg, "Cannot find context") || strings.Contains(msg, "context was destroyed")) &&
			time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		out, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, out)
	}
}

// TestCodePageInBrowser opens the code page as the web-view would: masked
// data only, a live clock and seconds counter, and a QR that renews itself
// before it expires without reloading the page.
func TestCodePageInBrowser(t *testing.T) {
	e := newBrowserEnv(t, 0, func(s *testSetup) { s.cfg.CodeTTL = config.Duration(4 * time.Second) })
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	ctx := newBrowser(t)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+ticket.URL)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the code", `document.querySelector("#name").textContent === "欧阳**" && document.querySelector("#qr svg") !== null`)
	text := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if u := text(`location.href`); strings.Contains(u, "ticket") {
		t.Errorf("the ticket stayed in the address: %s", u)
	}
	if got := text(`document.querySelector("#doc").textContent`); got != "11**************2X" {
		t.Errorf("masked document %q", got)
	}
	if got := text(`document.querySelector("#colour-text").textContent + "|" + document.querySelector("#block").className`); got != "未见异常|green" {
		t.Errorf("colour %q", got)
	}
	if got := text(`document.querySelector("#valid").textContent`); !strings.HasPrefix(got, "今日24:00") {
		t.Errorf("validity %q", got)
	}

	text(`String(window.__samePage = true)`)
	firstQR := text(`document.querySelector("#qr").dataset.qr`)
	firstSeconds := text(`document.querySelector("#seconds").textContent`)
	firstClock := text(`document.querySelector("#clock").textContent`)
	time.Sleep(1500 * time.Millisecond)
	if s := text(`document.querySelector("#seconds").textContent`); s == firstSeconds {
		t.Errorf("the seconds counter stood still at %s", s)
	}
	if c := text(`document.querySelector("#clock").textContent`); c == firstClock || len(c) != 8 {
		t.Errorf("the clock %q did not tick (was %q)", c, firstClock)
	}
	waitFor(t, ctx, "a fresh QR before expiry", `document.querySelector("#qr").dataset.qr !== `+"`"+firstQR+"`")
	if same := text(`String(window.__samePage === true)`); same != "true" {
		t.Error("the page reloaded to renew the QR")
	}
	if _, err := codetoken.Parse(text(`document.querySelector("#qr").dataset.qr`), e.keys.ForIssuer("310000")); err != nil {
		t.Errorf("the renewed QR does not verify: %v", err)
	}

	html := text(`document.documentElement.outerHTML`)
	for _, secret := range []string{aliceNumber, aliceName, "娜娜"} {
		if strings.Contains(html, secret) {
			t.Errorf("the page holds %q", secret)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("elder"))); err != nil {
		t.Fatal(err)
	}
	if got := text(`document.body.className`); got != "elder" {
		t.Errorf("elder mode: body class %q", got)
	}
}

// TestVerificationViewInBrowser shows a scan's result with a tiled
// watermark naming the verifier.
func TestVerificationViewInBrowser(t *testing.T) {
	e := newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	ctx := newBrowser(t)
	holder, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", holder, nil), 200)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", staff, map[string]string{"purpose": "verify"}), 201)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+ticket.URL+"#qr="+url.PathEscape(code.QR))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the verdict", `document.querySelector("#verdict").textContent === "未见异常"`)
	get := func(js string) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := get(`document.querySelector("#name").textContent + "|" + document.querySelector("#doc").textContent + "|" + document.querySelector("#validity").textContent`); got != "欧阳**|11**************2X|码有效" {
		t.Errorf("holder data %q", got)
	}
	waitFor(t, ctx, "the watermark", `document.querySelectorAll("#watermark .tile").length > 10`)
	mark := get(`document.querySelector("#watermark .tile").textContent`)
	if !strings.HasPrefix(mark, "核验人 王** ") || len(mark) < len("核验人 王** 2026-11-23 12:00:00") {
		t.Errorf("watermark %q, want the verifier's masked name and the time", mark)
	}
	if get(`getComputedStyle(document.querySelector("#watermark")).position`) != "fixed" {
		t.Error("the watermark does not cover the view")
	}
	if strings.Contains(get(`document.documentElement.outerHTML`), "王小明") {
		t.Error("the verifier's full name is in the page")
	}
}

// TestCodePageRidesOutBusy shows the friendly busy state on a 503 and
// retries with backoff until the code comes.
func TestCodePageRidesOutBusy(t *testing.T) {
	e := newBrowserEnv(t, 0)
	var busy atomic.Int32
	busy.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/h5/api/code" && busy.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"busy","message":"系统繁忙，请稍后再试"}}`))
			return
		}
		e.handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx := newBrowser(t)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+ticket.URL)); err != nil {
		t.Fatal(err)
	}
	// No code yet: the busy state stands in its place, nothing like a code.
	waitFor(t, ctx, "the busy state", `document.querySelector("#state").textContent.includes("系统繁忙，请稍后") && document.querySelector("#card").hidden`)
	waitFor(t, ctx, "the code after the retries", codeShown+` && document.querySelector("#notice").className === "" && document.querySelector("#state").hidden`)
	if busy.Load() >= 0 {
		t.Errorf("the page did not retry through both 503s")
	}
}

// TestCodePageWithSkewedServerClock opens the code page with the server's
// clock 13 hours ahead of the browser's and 13 hours behind: the page
// session must survive (a cookie lifetime counted on the browser's clock)
// and the page's clock must show the server's time, not the device's.
func TestCodePageWithSkewedServerClock(t *testing.T) {
	for _, skew := range []time.Duration{13 * time.Hour, -13 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			e := newBrowserEnv(t, skew)
			srv := httptest.NewServer(e.handler)
			defer srv.Close()
			ctx := newBrowser(t)
			token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
			ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201)
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+ticket.URL)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "the code", `document.querySelector("#name").textContent === "欧阳**" && document.querySelector("#qr svg") !== null`)
			// Reload: the page must still hold its session from the cookie.
			if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "the code after a reload", `document.querySelector("#qr svg") !== null && document.querySelector("#colour-text").textContent === "未见异常"`)
			shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#clock").textContent`))
			if err != nil {
				t.Fatal(err)
			}
			now := e.clock.Now().In(e.api.loc)
			ok := false
			for d := -3 * time.Second; d <= time.Second; d += time.Second {
				ok = ok || shown == now.Add(d).Format(time.TimeOnly)
			}
			if !ok {
				t.Errorf("the page clock shows %s, the server's time is %s", shown, now.Format(time.TimeOnly))
			}
		})
	}
}
