package handlers

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"healthcode/models"
)

// setOffline takes the page's network away (every request fails as with no
// connection) or gives it back, by DevTools network emulation.
func setOffline(t *testing.T, ctx context.Context, offline bool) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	cond := []*network.Conditions{{Offline: offline, Latency: 0, DownloadThroughput: -1, UploadThroughput: -1}}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: cond}); err != nil {
		t.Fatal(err)
	}
}

// TestSamplerPageQueuesOffline: with the network gone, 20 samples across
// two tubes wait in IndexedDB (待上传 20 条); when it is back they are sent
// in order and exactly those 20 registrations exist.
func TestSamplerPageQueuesOffline(t *testing.T) {
	e := newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "徐汇区康健街道采样点")
	var codes []string
	for i := range 20 {
		n := idNumber(fmt.Sprintf("31011519850101%03d", 11+2*i))
		token, _ := e.verifiedUser(t, fmt.Sprintf("citizen%02d", i), "吴"+string(rune('一'+i)), n)
		codes = append(codes, decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", token, nil), 200).QR)
	}
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", staff, map[string]string{"purpose": "sampler"}), 201)
	ctx := newBrowser(t)
	open(t, ctx, phone(375, 812), srv.URL+ticket.URL, "the sampler page", `document.body.dataset.ready === "1" && document.querySelector("#site").textContent.includes("康健街道")`)

	// Two tubes opened online, then the network goes.
	openTube := func(tube string) {
		t.Helper()
		evalJS[bool](t, ctx, `(document.querySelector("#message").textContent = "", true)`)
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("tube"), tube), chromedp.SetValue(chromedp.ID("mode"), "10"), chromedp.Click(chromedp.ID("open"))); err != nil {
			t.Fatal(err)
		}
		// The server's answer, not the page's own state: the tube is open.
		waitFor(t, ctx, "tube "+tube+" open", `document.querySelector("#message").textContent === "已开管" && document.body.dataset.pending === "0"`)
	}
	scan := func(qr string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("qr"), qr), chromedp.Click(chromedp.ID("add"))); err != nil {
			t.Fatal(err)
		}
	}
	openTube("PAGE-0001")
	openTube("PAGE-0002")
	setOffline(t, ctx, true)
	for i, tube := range []string{"PAGE-0001", "PAGE-0002"} {
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("tube"), tube), chromedp.Click(chromedp.ID("open"))); err != nil {
			t.Fatal(err)
		}
		for j, qr := range codes[i*10 : i*10+10] {
			scan(qr)
			// Each scan is in the queue before the next is typed over it.
			n := strconv.Itoa(i*10 + j + 1)
			waitFor(t, ctx, n+" samples queued", `document.querySelector("#pending").textContent === "待上传 `+n+` 条"`)
		}
	}
	var rows int64
	e.db.Model(&models.Sample{}).Count(&rows)
	if rows != 0 {
		t.Fatalf("%d samples reached the server while offline", rows)
	}

	// The network comes back: the queue drains, in order, exactly once.
	setOffline(t, ctx, false)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.dataset.pending === "0"`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the queue did not drain: %v", err)
	}
	e.db.Model(&models.Sample{}).Count(&rows)
	if rows != 20 {
		t.Errorf("%d samples recorded, want exactly the 20 taken offline", rows)
	}
	for _, tube := range []string{"PAGE-0001", "PAGE-0002"} {
		if got := decode[tubeView](t, e.json("GET", "/api/v1/sampling/tubes/"+tube, staff, nil), 200); got.Count != 10 {
			t.Errorf("tube %s holds %d", tube, got.Count)
		}
	}
	if got := evalJS[string](t, ctx, `document.querySelector("#count").textContent + "|" + document.querySelectorAll("#people li").length`); got != "10 / 10|10" {
		t.Errorf("page shows %q", got)
	}
	// A refusal is said in words: an 11th person is 已满.
	scan(codes[0])
	waitFor(t, ctx, "the refusal", `document.querySelector("#message").textContent === "已满"`)
}
