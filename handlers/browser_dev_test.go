package handlers

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"healthcode/config"
)

// TestDevPageWalksEveryFlow drives the development page in a real browser
// at phone size through every flow: an API error shown in the page, sandbox
// login, a demo identity, the sandbox face page, the own code page, a status
// list that turns the open code page red, the verifier role and the view of
// another sandbox user's code, a relative approved by a demo household and
// the relative's code page. No uncaught exception on the way; the long
// token wraps.
func TestDevPageWalksEveryFlow(t *testing.T) {
	e := newBrowserEnv(t, 0, func(s *testSetup) { s.cfg.CodeTTL = config.Duration(4 * time.Second) })
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	e.verifiedUser(t, "bob", "王小明", bobNumber) // another sandbox user with a code
	ctx := newBrowser(t)
	// Every uncaught error and rejected promise of the page, from its start.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.__errors = [];
		addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
		addEventListener("unhandledrejection", function (e) { window.__errors.push(String(e.reason)); });`}); err != nil {
		t.Fatal(err)
	}
	click := func(id string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(id))); err != nil {
			t.Fatalf("click #%s: %v", id, err)
		}
	}
	outHas := func(s string) string {
		return `document.querySelector("#out").textContent.includes(` + jsString(s) + `)`
	}
	// In the phone preview (the same origin, so its document is readable).
	inPreview := func(js string) string {
		return `(function () { var d = document.querySelector("#preview").contentDocument; return !!d && !!d.body && (` + js + `); })()`
	}
	open(t, ctx, phone(375, 812), srv.URL+"/dev", "the dev page", `document.querySelector("#login") !== null`)

	// An API error shows its message in the page.
	click("bind")
	waitFor(t, ctx, "the error message", `document.querySelector("#error").textContent === "401 unauthorized：请先登录"`)

	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("user"), "dev-alice")); err != nil {
		t.Fatal(err)
	}
	click("login")
	waitFor(t, ctx, "login", outHas(`"platform": "sandbox"`))

	click("demo_identity")
	number := evalJS[string](t, ctx, `document.querySelector("#doc_number").value`)
	if len(number) != 18 {
		t.Fatalf("demo identity %q", number)
	}
	click("bind")
	waitFor(t, ctx, "the claim", outHas(`"status": "pending_face_verification"`))
	if evalJS[string](t, ctx, `document.querySelector("#doc_number").value`) != "" || strings.Contains(evalJS[string](t, ctx, `document.documentElement.outerHTML`), number) {
		t.Error("the full document number stayed in the page")
	}

	// The sandbox face page opens in the preview; 通过 there, then back.
	click("start")
	waitFor(t, ctx, "the sandbox face page", inPreview(`d.querySelector("#pass") !== null`))
	evalJS[bool](t, ctx, inPreview(`(d.querySelector("#pass").click(), true)`))
	waitFor(t, ctx, "the pass", inPreview(`d.querySelector("#out").textContent === "已记录：通过"`))
	click("callback")
	waitFor(t, ctx, "the callback", outHas(`"status": "passed"`))
	if !strings.Contains(evalJS[string](t, ctx, `document.querySelector("#out").textContent`), `"token": "v1.`) {
		t.Error("the callback's answer does not show its token")
	}
	if px := evalJS[float64](t, ctx, `Math.max(document.querySelector("#out").scrollWidth - document.querySelector("#out").clientWidth,
		document.documentElement.scrollWidth - document.documentElement.clientWidth)`); px > 0 {
		t.Errorf("the token does not wrap: %.0f px of horizontal overflow", px)
	}

	// The own code page in the preview, then a status list turns it red at
	// its next renewal.
	click("code")
	waitFor(t, ctx, "the own code", inPreview(`d.querySelector("#qr svg") !== null && d.querySelector("#colour-text").textContent === "未见异常"`))
	holder := evalJS[string](t, ctx, inPreview(`d.querySelector("#name").textContent`))
	if got := evalJS[string](t, ctx, `document.querySelector(".status-row .user").value`); got != "dev-alice" {
		t.Errorf("the status row names %q, want the logged-in user", got)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(".status-row .colour"), "red"),
		chromedp.SetValue(chromedp.CSS(".status-row .reason"), "密接")); err != nil {
		t.Fatal(err)
	}
	click("import_status")
	waitFor(t, ctx, "the import", outHas(`"state": "done"`)+" && "+outHas(`"rows_applied": 1`))
	waitFor(t, ctx, "red on the open code page", inPreview(`d.querySelector("#colour-text").textContent === "集中观察" && d.querySelector("#block").className === "red"`))

	// Verifier: the role, another user's current code, the verification view.
	click("make_verifier")
	waitFor(t, ctx, "the verifier role", outHas(`"place": "开发沙箱核验点"`))
	token := evalJS[string](t, ctx, `sessionStorage.getItem("hc_token")`)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("other_user"), "bob")); err != nil {
		t.Fatal(err)
	}
	click("fetch_code")
	waitFor(t, ctx, "bob's code", `document.querySelector("#verify_qr").value.startsWith("HC1JKM:")`)
	if evalJS[string](t, ctx, `sessionStorage.getItem("hc_token")`) != token {
		t.Error("reading another user's code logged the page out of its own account")
	}
	click("open_verify")
	waitFor(t, ctx, "the verification view", inPreview(`d.querySelector("#verdict") !== null && d.querySelector("#verdict").textContent === "未见异常" &&
		d.querySelector("#who").textContent.includes("开发沙箱核验点") && d.querySelector("#name").textContent === "王**"`))

	// A relative, approved at once by a demo household, and its code page.
	click("rel_demo")
	click("add_relative")
	waitFor(t, ctx, "the approved relative", `document.querySelector("#relatives .open-relative") !== null && document.querySelector("#relatives").textContent.includes("household")`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#relatives .open-relative"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the relative's code page", inPreview(`d.querySelector("#relative") !== null && !d.querySelector("#relative").hidden && d.querySelector("#qr svg") !== null`))
	if got := evalJS[string](t, ctx, inPreview(`d.querySelector("#relative").innerText.replace(/\s+/g, " ")`)); got != "亲属码（子女） 由 "+holder+" 代领" {
		t.Errorf("the relative's code page reads %q", got)
	}

	if errs := evalJS[[]string](t, ctx, `window.__errors`); len(errs) > 0 {
		t.Errorf("uncaught errors in the dev page: %q", errs)
	}
	if px := evalJS[float64](t, ctx, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); px > 0 {
		t.Errorf("the dev page overflows 375 px by %.0f px", px)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`)
	return "`" + r.Replace(s) + "`"
}
