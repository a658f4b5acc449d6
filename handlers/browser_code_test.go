package handlers

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"healthcode/config"
	"healthcode/models"
)

// codePageEnv is a browser test server with alice face-verified and her code
// page's one-time address; ttl is the code lifetime (the default when 0).
func codePageEnv(t *testing.T, ttl time.Duration) (*testEnv, *httptest.Server, string) {
	t.Helper()
	e := newBrowserEnv(t, 0, func(s *testSetup) {
		if ttl > 0 {
			s.cfg.CodeTTL = config.Duration(ttl)
		}
	})
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	return e, srv, srv.URL + decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201).URL
}

// TestCodePageElderLabelSurvivesReload: the switch always names the mode a
// tap turns on, also after a reload with elder mode on.
func TestCodePageElderLabelSurvivesReload(t *testing.T) {
	_, _, url := codePageEnv(t, 0)
	ctx := newBrowser(t)
	open(t, ctx, phone(375, 812), url, "the code", codeShown)
	state := func() string {
		return evalJS[string](t, ctx, `document.body.className + "|" + document.querySelector("#elder").textContent`)
	}
	if got := state(); got != "|长辈模式（大字）" {
		t.Fatalf("standard mode reads %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("elder"))); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "elder|标准模式" {
		t.Errorf("after one tap: %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the code after the reload", codeShown)
	if got := state(); got != "elder|标准模式" {
		t.Errorf("after a reload in elder mode: %q, want the switch to name 标准模式", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("elder"))); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "|长辈模式（大字）" {
		t.Errorf("one tap after the reload: %q, want standard mode", got)
	}
}

// TestCodePageCountdownNamesTheRenewal: "二维码 N 秒后自动刷新" counts to the
// renewal the page makes (three quarters of the code's life), not to the
// code's expiry.
func TestCodePageCountdownNamesTheRenewal(t *testing.T) {
	_, _, url := codePageEnv(t, 12*time.Second)
	ctx := newBrowser(t)
	open(t, ctx, phone(375, 812), url, "the code", codeShown)
	// Note the moment the QR changes, in the page's own time.
	evalJS[bool](t, ctx, `new MutationObserver(function () { window.__renewedAt = window.__renewedAt || Date.now(); })
		.observe(document.querySelector("#qr"), { attributes: true, attributeFilter: ["data-serial"] }) || true`)
	read := evalJS[string](t, ctx, `document.querySelector("#refresh").textContent + "|" + Date.now()`)
	text, at, _ := strings.Cut(read, "|")
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(text, "二维码 "), " 秒后自动刷新"))
	if err != nil {
		t.Fatalf("countdown %q: %v", text, err)
	}
	waitFor(t, ctx, "the renewal", `window.__renewedAt !== undefined`)
	renewed := evalJS[float64](t, ctx, `window.__renewedAt`)
	start, _ := strconv.ParseFloat(at, 64)
	took := time.Duration(renewed-start) * time.Millisecond
	// The text is whole seconds rounded up and up to a tick (250 ms) old.
	if d := time.Duration(n)*time.Second - took; d < -500*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("the countdown read %d s, the QR renewed after %v", n, took.Round(100*time.Millisecond))
	}
	if took > 9500*time.Millisecond {
		t.Errorf("the QR renewed %v after the page showed it: later than three quarters of its 12 s", took)
	}
}

// TestStatusChangeReachesOpenCodePage: a status import reaches an open code
// page at its next renewal and at once when the page comes back to the
// foreground, and the page asks for nothing in between.
func TestStatusChangeReachesOpenCodePage(t *testing.T) {
	e := newBrowserEnv(t, 0, func(s *testSetup) { s.cfg.CodeTTL = config.Duration(8 * time.Second) })
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/h5/api/code" {
			asked.Add(1)
		}
		e.handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	url := srv.URL + decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201).URL
	ctx := newBrowser(t)
	open(t, ctx, phone(375, 812), url, "the green code", codeShown+` && document.querySelector("#colour-text").textContent === "未见异常"`)
	opened := time.Now()
	colour := func() string {
		return evalJS[string](t, ctx, `document.querySelector("#colour-text").textContent + "|" + document.querySelector("#block").className`)
	}

	// The list turns alice red; the page learns it at its renewal (6 s
	// after the code's issue), not before: there is no polling.
	if job := e.importListDone(t, "cdc", "resident_id,"+aliceNumber+",red,密接\n"); job.State != models.ImportDone {
		t.Fatalf("import %+v", job)
	}
	for time.Since(opened) < 4*time.Second {
		if got := colour(); got != "未见异常|green" {
			t.Fatalf("the page turned %q %v after opening, before its renewal", got, time.Since(opened))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("%d code requests before the renewal, want 1", n)
	}
	waitFor(t, ctx, "red at the renewal", `document.querySelector("#colour-text").textContent === "集中观察" && document.querySelector("#block").className === "red"`)
	if took := time.Since(opened); took > 7500*time.Millisecond {
		t.Errorf("red reached the page %v after opening, later than its renewal", took)
	}
	if n := asked.Load(); n != 2 {
		t.Errorf("%d code requests after one renewal, want 2", n)
	}

	// Cleared again; the page goes to the background and comes back: it asks
	// at once, without waiting for its renewal. (Headless Chromium keeps
	// every tab visible, so the test reports the state a browser reports on
	// return to the foreground and fires the event it fires.)
	if job := e.importListDone(t, "cdc", "resident_id,"+aliceNumber+",green,\n"); job.State != models.ImportDone {
		t.Fatalf("import %+v", job)
	}
	evalJS[bool](t, ctx, `(function () {
		var state = "hidden";
		Object.defineProperty(document, "visibilityState", { configurable: true, get: function () { return state; } });
		Object.defineProperty(document, "hidden", { configurable: true, get: function () { return state === "hidden"; } });
		document.dispatchEvent(new Event("visibilitychange"));
		state = "visible";
		document.dispatchEvent(new Event("visibilitychange"));
		return true;
	})()`)
	back := time.Now()
	waitFor(t, ctx, "green on return to the foreground", `document.querySelector("#colour-text").textContent === "未见异常" && document.querySelector("#block").className === "green"`)
	if took := time.Since(back); took > 2*time.Second {
		t.Errorf("the foreground took %v to show the new colour", took)
	}
	if n := asked.Load(); n != 3 {
		t.Errorf("%d code requests after the return to the foreground, want 3", n)
	}
}

// TestRelativeCodePageSaysWhoseItIs: a relative's code page says 亲属码, the
// relation and whose account holds it.
func TestRelativeCodePageSaysWhoseItIs(t *testing.T) {
	e := newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	if rec := e.upload("/api/v1/admin/households", "H-001,resident_id,"+aliceNumber+"\nH-001,resident_id,"+motherNumber+"\n"); rec.Code != 201 {
		t.Fatal(rec.Body)
	}
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, map[string]string{"relative_id": mother.ID}), 201)
	ctx := newBrowser(t)
	open(t, ctx, phone(375, 812), srv.URL+ticket.URL, "the relative's code", codeShown)
	got := evalJS[string](t, ctx, `[document.querySelector("#title").textContent, document.title,
		getComputedStyle(document.querySelector("#relative")).display === "none" ? "hidden" : document.querySelector("#relative").innerText.replace(/\s+/g, " "),
		document.querySelector("#name").textContent].join("|")`)
	if want := "亲属码|亲属码|亲属码（父母） 由 欧阳** 代领|李*"; got != want {
		t.Errorf("relative page reads %q, want %q", got, want)
	}
	// The label stands in the first screen, above the colour.
	if !evalJS[bool](t, ctx, `document.querySelector("#relative").getBoundingClientRect().bottom <= document.querySelector("#colour-text").getBoundingClientRect().top`) {
		t.Error("the relative label is not above the colour")
	}

	// One's own code page says none of it.
	own := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, nil), 201)
	open(t, ctx, phone(375, 812), srv.URL+own.URL, "the own code", codeShown+` && document.querySelector("#name").textContent === "欧阳**"`)
	if got := evalJS[string](t, ctx, `document.querySelector("#title").textContent + "|" + document.querySelector("#relative").hidden`); got != "健康码|true" {
		t.Errorf("own code page reads %q", got)
	}
}

// TestCodePageWithoutSessionShowsNoCode: without a valid page session the
// page shows a clear state and nothing that looks like a code: no colour, no
// validity, no ticking counter.
func TestCodePageWithoutSessionShowsNoCode(t *testing.T) {
	e, srv, _ := codePageEnv(t, 0)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	verifyTicket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", staff, map[string]string{"purpose": "verify"}), 201)
	ctx := newBrowser(t)
	for _, name := range []string{"no cookie", "another page's session"} {
		t.Run(name, func(t *testing.T) {
			if name == "another page's session" {
				// A verification view's session does not open the code page.
				open(t, ctx, phone(375, 812), srv.URL+verifyTicket.URL, "the verification view", `document.querySelector("#who").textContent.includes("人民广场地铁站")`)
			}
			open(t, ctx, phone(375, 812), srv.URL+"/h5/code", "the no-session state", `document.querySelector("#state").textContent.includes("页面已失效，请返回小程序重新打开")`)
			time.Sleep(1200 * time.Millisecond) // a counter would have ticked
			got := evalJS[string](t, ctx, `(function () {
				var shown = function (el) { return !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden"; };
				var out = [];
				["#card", "#block", "#qr", "#colour-text", "#valid", "#seconds", "#clock", "#refresh"].forEach(function (s) {
					if (shown(document.querySelector(s))) out.push(s);
				});
				if (document.querySelector("svg")) out.push("svg");
				var text = document.body.innerText;
				["未见异常", "居家观察", "集中观察", "24:00", "秒后自动刷新", "页面已打开"].forEach(function (w) { if (text.includes(w)) out.push(w); });
				return out.join(",");
			})()`)
			if got != "" {
				t.Errorf("without a session the page shows %s", got)
			}
		})
	}
}

// TestCodePageLayoutAtPhoneSizes: the masked document shares its label's
// baseline, the QR renews without moving anything, nothing overflows at
// 320 px, and elder mode at 375×812 keeps the colour, the QR, the clock, the
// seconds counter and the mode switch above the fold.
func TestCodePageLayoutAtPhoneSizes(t *testing.T) {
	needChineseFont(t)
	_, _, url := codePageEnv(t, 4*time.Second)
	ctx := newBrowser(t)
	open(t, ctx, phone(375, 812), url, "the code", codeShown)

	// The baseline of a line box: where an empty inline-block sits.
	const baselines = `(function () {
		var base = function (el) {
			var m = document.createElement("span");
			m.style.cssText = "display:inline-block;width:0;height:0";
			el.insertBefore(m, el.firstChild);
			var y = m.getBoundingClientRect().bottom;
			m.remove();
			return y;
		};
		var row = document.querySelector("#doc").parentElement;
		return Math.abs(base(row.firstElementChild) - base(document.querySelector("#doc")));
	})()`
	if d := evalJS[float64](t, ctx, baselines); d > 0.5 {
		t.Errorf("the masked document sits %.1f px off its label's baseline", d)
	}

	// Renewal moves nothing: no layout shift recorded, the same boxes.
	const boxes = `Array.prototype.map.call(document.querySelectorAll("#bar, #block, #qr, #refresh, .row"), function (el) {
		var r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round).join(",");
	}).join(";")`
	evalJS[bool](t, ctx, `(window.__shift = 0, new PerformanceObserver(function (l) {
		l.getEntries().forEach(function (e) { window.__shift += e.value; });
	}).observe({ type: "layout-shift" }), true)`)
	before := evalJS[string](t, ctx, boxes)
	serial := evalJS[string](t, ctx, `document.querySelector("#qr").dataset.serial`)
	waitFor(t, ctx, "a renewal", `document.querySelector("#qr").dataset.serial !== "`+serial+`"`)
	time.Sleep(300 * time.Millisecond)
	if after := evalJS[string](t, ctx, boxes); after != before {
		t.Errorf("the renewal moved the page:\nbefore %s\nafter  %s", before, after)
	}
	if shift := evalJS[float64](t, ctx, `window.__shift`); shift > 0 {
		t.Errorf("layout shift %.3f during the renewal", shift)
	}

	const overflow = `document.documentElement.scrollWidth - document.documentElement.clientWidth`
	for _, elder := range []bool{false, true} {
		if err := chromedp.Do(ctx, phone(320, 568)); err != nil {
			t.Fatal(err)
		}
		if evalJS[bool](t, ctx, `document.body.classList.contains("elder")`) != elder {
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("elder"))); err != nil {
				t.Fatal(err)
			}
		}
		if px := evalJS[float64](t, ctx, overflow); px > 0 {
			t.Errorf("elder %v: %.0f px of horizontal overflow at 320 px", elder, px)
		}
	}

	if err := chromedp.Do(ctx, phone(375, 812)); err != nil {
		t.Fatal(err)
	}
	evalJS[bool](t, ctx, `(window.scrollTo(0, 0), true)`)
	below := evalJS[string](t, ctx, `["#colour-text", "#qr", "#clock", "#seconds", "#elder"].filter(function (s) {
		var r = document.querySelector(s).getBoundingClientRect();
		return r.height === 0 || r.top < 0 || r.bottom > window.innerHeight;
	}).join(",")`)
	if below != "" {
		t.Errorf("elder mode at 375×812: %s not wholly above the fold", below)
	}
}

// TestPagesOfferBackInsideMiniProgram: inside a mini-program container with
// its bridge the pages offer 返回 and call the bridge's navigateBack;
// outside one (or without the bridge) they offer none.
func TestPagesOfferBackInsideMiniProgram(t *testing.T) {
	e, srv, _ := codePageEnv(t, 0)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	const wechat = `window.__wxjs_environment = "miniprogram";
		window.wx = { miniProgram: { navigateBack: function () { window.__back = "wechat"; } } };`
	const alipay = `window.my = { navigateBack: function () { window.__back = "alipay"; } };`
	cases := []struct {
		name, script, userAgent, want string
	}{
		{"browser", "", "", ""},
		{"wechat", wechat, "", "wechat"},
		{"wechat without jweixin", `window.__wxjs_environment = "miniprogram";`, "", ""},
		{"alipay", alipay, "Mozilla/5.0 (Linux; Android 13) AlipayClient/10.5.0 MiniProgram", "alipay"},
		{"alipay bridge outside alipay", alipay, "", ""},
	}
	pages := []struct {
		name, purpose, ready string
	}{
		{"code", "code", codeShown},
		{"verify", "verify", `document.querySelector("#who").textContent.includes("人民广场地铁站")`},
		{"nucleic", "nucleic", nucleicShown},
		{"expired", "", `document.querySelector("h1").textContent === "页面已失效"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := newBrowser(t)
			if c.script != "" {
				if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: c.script}); err != nil {
					t.Fatal(err)
				}
			}
			if c.userAgent != "" {
				if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: c.userAgent}); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range pages {
				url := srv.URL + "/h5/code?ticket=spent"
				switch p.purpose {
				case "code":
					url = srv.URL + decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201).URL
				case "verify":
					url = srv.URL + decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", staff, map[string]string{"purpose": "verify"}), 201).URL
				case "nucleic":
					url = srv.URL + decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, map[string]string{"purpose": "nucleic"}), 201).URL
				}
				open(t, ctx, phone(375, 812), url, p.name, p.ready)
				shown := evalJS[bool](t, ctx, `!document.querySelector("#back").hidden && document.querySelector("#back").getClientRects().length > 0`)
				if shown != (c.want != "") {
					t.Errorf("%s page: 返回 shown %v, want %v", p.name, shown, c.want != "")
				}
				if !shown {
					continue
				}
				if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("back"))); err != nil {
					t.Fatal(err)
				}
				if got := evalJS[string](t, ctx, `String(window.__back)`); got != c.want {
					t.Errorf("%s page: 返回 went back through %q, want %q", p.name, got, c.want)
				}
			}
		})
	}
}
