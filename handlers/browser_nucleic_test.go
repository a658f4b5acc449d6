package handlers

import (
	"bytes"
	"context"
	"image"
	_ "image/png"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"healthcode/models/fault"

	"github.com/chromedp/chromedp"
)

// nucleicShown is true once the 核酸码 page shows a code.
const nucleicShown = `document.querySelector("#qr svg") !== null && !document.querySelector("#card").hidden`

// screenQR photographs the element sel as the screen shows it and decodes
// the QR code in it, as a scanner at the sampling point would.
func screenQR(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("screenshot %s: %v", sel, err)
	}
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	// The element is the code and its quiet zone: when the finder misses it
	// (see decodeQR), it is read as a pure barcode.
	text, err := decodeQR(t, img, false)
	if err != nil {
		text, err = decodeQR(t, img, true)
	}
	if err != nil {
		t.Fatalf("decode the QR on screen: %v", err)
	}
	return text
}

// noColour is a script true when nothing on the page is drawn in a status
// colour (text, background or border) and no colour word is written.
const noColour = `(function () {
	var colours = ["rgb(26, 158, 75)", "rgb(230, 167, 0)", "rgb(192, 57, 43)"];
	var text = document.body.innerText;
	if (/未见异常|居家观察|集中观察/.test(text)) return false;
	return Array.prototype.every.call(document.querySelectorAll("body *"), function (el) {
		var s = getComputedStyle(el);
		return [s.color, s.backgroundColor, s.borderTopColor].every(function (c) { return colours.indexOf(c) < 0; });
	});
})()`

// TestNucleicCodePage: the 核酸码 page shows the code large, the masked name
// and document, 可截图保存，30天内有效, and no colour; the QR photographed
// from the screen is the holder's 核酸码. A relative's page shows the
// relative's.
func TestNucleicCodePage(t *testing.T) {
	e := newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	if rec := e.upload("/api/v1/admin/households", "H-001,resident_id,"+aliceNumber+"\nH-001,resident_id,"+motherNumber+"\n"); rec.Code != 201 {
		t.Fatal(rec.Body)
	}
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	own := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200)
	theirs := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/nucleic-code", alice, nil), 200)
	ctx := newBrowser(t)

	for _, c := range []struct {
		name, relative string
		want           nucleicCodeResponse
	}{{"own", "", own}, {"relative", mother.ID, theirs}} {
		t.Run(c.name, func(t *testing.T) {
			ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, map[string]string{"purpose": "nucleic", "relative_id": c.relative}), 201)
			if !strings.HasPrefix(ticket.URL, "/h5/nucleic?ticket=") {
				t.Fatalf("ticket URL %q", ticket.URL)
			}
			open(t, ctx, phone(375, 812), srv.URL+ticket.URL, "the 核酸码", nucleicShown)
			got := evalJS[string](t, ctx, `[document.title, document.querySelector("#hint").textContent, document.querySelector("#name").textContent,
				document.querySelector("#doc").textContent, document.querySelector("#qr").getAttribute("data-qr")].join("|")`)
			if want := "核酸码|可截图保存，30天内有效|" + c.want.MaskedName + "|" + c.want.MaskedDoc + "|" + c.want.QR; got != want {
				t.Errorf("page reads %q, want %q", got, want)
			}
			if !evalJS[bool](t, ctx, noColour) {
				t.Error("the 核酸码 page shows a colour")
			}
			// Large: the QR takes most of a 375 px phone's width.
			if w := evalJS[float64](t, ctx, `document.querySelector("#qr").getBoundingClientRect().width`); w < 280 {
				t.Errorf("the QR is %.0f px wide", w)
			}
			if got := screenQR(t, ctx, "#qr"); got != c.want.QR {
				t.Errorf("the QR on screen decodes to %.40q…, want the 核酸码 %.40q…", got, c.want.QR)
			}
		})
	}

	// A code page's ticket does not open the 核酸码's data, nor the reverse.
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, nil), 201)
	open(t, ctx, phone(375, 812), srv.URL+ticket.URL, "the code page", codeShown)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/h5/api/nucleic-code").then(function (r) { return r.status; })`, chromedp.EvalAwaitPromise))
	if err != nil || status != 401 {
		t.Errorf("the code page's session reads the 核酸码: %v %v", status, err)
	}
	// Another account's relative cannot be named in a ticket.
	bob, _ := e.verifiedUser(t, "bob", "王波", bobNumber)
	wantError(t, e.json("POST", "/api/v1/h5/tickets", bob, map[string]string{"purpose": "nucleic", "relative_id": mother.ID}), 404, fault.CodeRelativeNotFound)
}

// sampleAlone registers qr alone in a new single tube, seals it and imports
// result for it, tested now.
func (e *testEnv) sampleAlone(t *testing.T, staff, tube, qr, result string) {
	t.Helper()
	decode[openTubeResponse](t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": tube, "mode": 1}), 201)
	decode[sampleResponse](t, e.sample(staff, tube, map[string]string{"sample_id": "s-" + tube, "qr": qr}), 201)
	decode[sealResponse](t, e.json("POST", "/api/v1/sampling/tubes/"+tube+"/seal", staff, nil), 200)
	if job := e.importResults(t, tube+","+result+","+e.clock.Now().Format(time.RFC3339)+"\n"); job.RowsApplied != 1 {
		t.Fatalf("results for %s: %+v", tube, job)
	}
}

// sampledText is how the pages write an answer's sampled_at.
func sampledText(t *testing.T, n nucleicView) string {
	t.Helper()
	at, err := time.Parse(time.RFC3339, n.SampledAt)
	if err != nil {
		t.Fatalf("sampled_at %q: %v", n.SampledAt, err)
	}
	return at.Format("2006-01-02 15:04")
}

// TestCodePageShowsNucleicResult: the code page shows 暂无核酸结果 before a
// result, then 核酸阴性 · 24小时内 with the sampling time, and a positive
// result as 核酸阳性; the wording counts 24, 48, 72 hours, then days.
func TestCodePageShowsNucleicResult(t *testing.T) {
	e := newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "采样点")
	qr := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200).QR
	ctx := newBrowser(t)
	reading := `document.querySelector("#nucleic").textContent + "|" + (document.querySelector("#sampled").parentElement.hidden ? "" : document.querySelector("#sampled").textContent)`
	page := func(what, want string) {
		t.Helper()
		ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, nil), 201)
		open(t, ctx, phone(375, 812), srv.URL+ticket.URL, what, codeShown)
		if got := evalJS[string](t, ctx, reading); got != want {
			t.Errorf("%s: the page reads %q, want %q", what, got, want)
		}
	}
	page("no result", "暂无核酸结果|")

	e.sampleAlone(t, staff, "ALONE-0001", qr, "negative")
	n := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200).Nucleic
	page("negative", "核酸阴性 · 24小时内|"+sampledText(t, n))

	e.sampleAlone(t, staff, "ALONE-0002", qr, "positive")
	n = decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200).Nucleic
	page("positive", "核酸阳性 · 24小时内|"+sampledText(t, n))
	if got := evalJS[string](t, ctx, `document.querySelector("#block").className`); got != "red" {
		t.Errorf("positive single tube: the page is %q", got)
	}

	// The wording at every step of the hours since sampling.
	for _, c := range []struct {
		result string
		hours  int
		want   string
	}{
		{"negative", 0, "核酸阴性 · 24小时内"}, {"negative", 23, "核酸阴性 · 24小时内"},
		{"negative", 24, "核酸阴性 · 48小时内"}, {"negative", 47, "核酸阴性 · 48小时内"},
		{"negative", 48, "核酸阴性 · 72小时内"}, {"negative", 71, "核酸阴性 · 72小时内"},
		{"negative", 72, "核酸阴性 · 3天前"}, {"negative", 100, "核酸阴性 · 4天前"},
		{"positive", 30, "核酸阳性 · 48小时内"}, {"none", 0, "暂无核酸结果"},
	} {
		got := evalJS[string](t, ctx, `hcNucleic.text({result: "`+c.result+`", hours_since_sampling: `+strconv.Itoa(c.hours)+`})`)
		if got != c.want {
			t.Errorf("%s %d h reads %q, want %q", c.result, c.hours, got, c.want)
		}
	}
}

// TestVerificationViewShowsNucleicResult: the verification view shows the
// holder's latest nucleic result and its sampling time with the colour, and
// 暂无核酸结果 when there is none.
func TestVerificationViewShowsNucleicResult(t *testing.T) {
	e, ctx, alice, qr := verifyViewEnv(t, phone(375, 812))
	reading := `document.querySelector("#nucleic").textContent + "|" + (document.querySelector("#sampled").parentElement.hidden ? "" : document.querySelector("#sampled").textContent)`
	scanIn(t, ctx, qr)
	if got := evalJS[string](t, ctx, reading); got != "暂无核酸结果|" {
		t.Errorf("no result: the view reads %q", got)
	}
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "采样点")
	nucleic := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200).QR
	e.sampleAlone(t, staff, "ALONE-0001", nucleic, "negative")
	code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200)
	scanIn(t, ctx, code.QR)
	if got, want := evalJS[string](t, ctx, reading), "核酸阴性 · 24小时内|"+sampledText(t, code.Nucleic); got != want {
		t.Errorf("negative: the view reads %q, want %q", got, want)
	}
	// A 核酸码 proves identity, not health: no result is shown for it.
	scanIn(t, ctx, nucleic)
	if got := evalJS[string](t, ctx, reading); got != "—|" {
		t.Errorf("a 核酸码 scanned: the view reads %q", got)
	}
}
