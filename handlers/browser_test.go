package handlers

import (
	"context"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

// waitFor polls a JavaScript predicate until it is true.
func waitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		out, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, out)
	}
}

// TestDevPageWalksTheSandboxFlow drives the development page in a real
// browser: sandbox login, identity binding, the sandbox face page, callback.
func TestDevPageWalksTheSandboxFlow(t *testing.T) {
	e := newTestEnv(t)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	ctx := newBrowser(t)
	outHas := func(s string) string {
		return `document.querySelector("#out").textContent.includes(` + "`" + s + "`" + `)`
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/dev"),
		chromedp.SetValue(chromedp.ID("user"), "browser-user"),
		chromedp.Click(chromedp.ID("login")),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "login", outHas(`"platform": "sandbox"`))

	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("name"), aliceName),
		chromedp.SetValue(chromedp.ID("doc_number"), aliceNumber),
		chromedp.Click(chromedp.ID("bind")),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "binding", outHas(`"status": "bound"`))

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("start"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "face start", `document.querySelector("#face_link a") !== null`)
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#face_link a").href`))
	if err != nil || !strings.Contains(href, "/sandbox/face/") {
		t.Fatalf("face link %q, %v", href, err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(href), chromedp.Click(chromedp.ID("pass"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the pass to be recorded", `document.querySelector("#out").textContent.includes("通过")`)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/dev"), chromedp.Click(chromedp.ID("callback"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the callback", outHas(`"status": "passed"`))
	waitFor(t, ctx, "face_verified_today", outHas(`"face_verified_today": true`))

	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, aliceNumber) {
		t.Error("the full document number stayed in the page")
	}
}
