package handlers

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"healthcode/models"
	"healthcode/models/codetoken"
)

// verifyViewEnv is a browser test server with alice face-verified, her
// current code, and a verifier at 人民广场地铁站 whose view is open in ctx.
func verifyViewEnv(t *testing.T, viewport chromedp.Action[chromedp.Void]) (e *testEnv, ctx context.Context, alice, qr string) {
	t.Helper()
	e = newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	alice, _ = e.verifiedUser(t, "alice", aliceName, aliceNumber)
	qr = decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200).QR
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", staff, map[string]string{"purpose": "verify"}), 201)
	ctx = newBrowser(t)
	open(t, ctx, viewport, srv.URL+ticket.URL, "the verifier's place", `document.querySelector("#who").textContent.includes("人民广场地铁站")`)
	return e, ctx, alice, qr
}

// scanIn checks qr through the view's manual field and waits for the verdict.
func scanIn(t *testing.T, ctx context.Context, qr string) {
	t.Helper()
	evalJS[bool](t, ctx, `(document.querySelector("#block").removeAttribute("data-result"), true)`)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("qr-input"), qr), chromedp.Click(chromedp.ID("check"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the verdict", `document.querySelector("#block").hasAttribute("data-result")`)
}

// TestVerificationViewShowsColourFirst: the largest text is the colour word
// on its colour, 码有效 smaller beneath; a red holder reads 集中观察 on red,
// never a large "有效". The header names the place and counts today's scans.
func TestVerificationViewShowsColourFirst(t *testing.T) {
	e, ctx, _, qr := verifyViewEnv(t, phone(375, 812))
	if got := evalJS[string](t, ctx, `document.querySelector("#who").innerText.replace(/\s+/g, " ")`); got != "核验员 王** · 人民广场地铁站 今日已核验 0 次" {
		t.Errorf("before a scan the header reads %q", got)
	}
	// The largest text in the result card, and its text.
	const largest = `(function () {
		var best = null, size = 0;
		document.querySelectorAll("#result *").forEach(function (el) {
			var own = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
			var s = parseFloat(getComputedStyle(el).fontSize);
			if (own && el.getClientRects().length > 0 && s > size) { size = s; best = el; }
		});
		var validity = document.querySelector("#validity");
		return [best.id, best.textContent, document.querySelector("#block").className, validity.textContent,
			parseFloat(getComputedStyle(validity).fontSize) < size].join("|");
	})()`
	for i, c := range []struct{ list, want string }{
		{"", "verdict|未见异常|green|码有效|true"},
		{"resident_id," + aliceNumber + ",yellow,居家观察\n", "verdict|居家观察|yellow|码有效|true"},
		{"resident_id," + aliceNumber + ",red,密接\n", "verdict|集中观察|red|码有效|true"},
	} {
		if c.list != "" {
			if job := e.importListDone(t, "cdc", c.list); job.State != models.ImportDone {
				t.Fatalf("import %+v", job)
			}
		}
		scanIn(t, ctx, qr)
		if got := evalJS[string](t, ctx, largest); got != c.want {
			t.Errorf("scan %d: largest text, colour, validity = %q, want %q", i+1, got, c.want)
		}
		if got := evalJS[string](t, ctx, `document.querySelector("#count").textContent`); got != fmt.Sprint(i+1) {
			t.Errorf("after scan %d the count reads %s", i+1, got)
		}
	}
	if got := evalJS[string](t, ctx, `document.querySelector("#name").textContent + "|" + document.querySelector("#doc").textContent + "|" + document.querySelector("#kind").textContent`); got != "欧阳**|11**************2X|本人码" {
		t.Errorf("holder data %q", got)
	}
}

// TestVerificationViewSaysWhyForEveryReason: a code that does not pass says
// why in words staff can act on, for every reason the verify API gives.
func TestVerificationViewSaysWhyForEveryReason(t *testing.T) {
	e, ctx, alice, qr := verifyViewEnv(t, phone(375, 812))
	now := e.clock.Now()
	sess, _ := e.sessions.Verify(alice)
	personal := func(from time.Time, life time.Duration) codetoken.Claims {
		return codetoken.Claims{Issuer: "310000", Subject: sess.PersonID, PersonNo: sess.PersonNo, Kind: codetoken.KindPersonal, IssuedAt: from, ExpiresAt: from.Add(life),
			Colour: "green", MaskedName: "欧阳**", MaskedDoc: "11**************2X"}
	}
	sign := func(key *codetoken.Key, c codetoken.Claims) string {
		t.Helper()
		qr, err := codetoken.Sign(key, c)
		if err != nil {
			t.Fatal(err)
		}
		return qr
	}
	codes := map[string]string{}
	want := map[string]bool{}
	for _, r := range models.VerifyReasons {
		want[r] = true
	}
	codes[models.ReasonExpired] = sign(e.keys.Active(), personal(now.Add(-2*time.Minute), time.Minute))
	codes[models.ReasonMalformed] = "https://fake-health-code.example/green.png"
	codes[models.ReasonUnknownKey] = sign(codetoken.GenerateKey(now), personal(now, time.Minute))
	raw, _ := codetoken.DecodeBase45(strings.TrimPrefix(qr, codetoken.Prefix))
	raw[len(raw)-5] ^= 0x40
	codes[models.ReasonBadSignature] = codetoken.Prefix + codetoken.EncodeBase45(raw)
	wrongIssuer := personal(now, time.Minute)
	wrongIssuer.Issuer = "440100"
	codes[models.ReasonWrongIssuer] = sign(e.keys.Active(), wrongIssuer)
	codes[models.ReasonNotYetValid] = sign(e.keys.Active(), personal(now.Add(time.Hour), time.Minute))
	codes[models.ReasonLifetime] = sign(e.keys.Active(), personal(now, 365*24*time.Hour))
	// Every kind this node issues has a policy now; unsupported_kind is
	// what a node without the offline book (an older node) answers, checked
	// in TestCheckerWithoutOfflineBook.
	delete(want, models.ReasonUnsupportedKind)
	// Paper codes superseded (补领) and reported lost (挂失).
	codes[models.ReasonReissued] = decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201).QR
	codes[models.ReasonReportedLost] = decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201).QR
	if rec := e.json("POST", "/api/v1/me/offline-code/loss", alice, nil); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	codes[models.ReasonNotHealthCode] = decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200).QR

	// Venue codes: one posted (not a health code), one rotated, one ended,
	// one pending review, one rejected, one of no venue we know.
	venueQR := func(name, credit string) venueView { return decode[venueView](t, e.venue(alice, name, credit), 201) }
	codes[models.ReasonVenueCode] = venueQR("欧阳便利店", creditHuawei).QR
	rotated := venueQR("欧阳面馆", creditTencent)
	decode[venueView](t, e.json("POST", "/api/v1/venues/"+rotated.ID+"/rotate", alice, nil), 200)
	codes[models.ReasonVenueRotated] = rotated.QR
	ended := venueQR("欧阳书店", creditExample)
	decode[venueView](t, e.json("DELETE", "/api/v1/venues/"+ended.ID, alice, nil), 200)
	codes[models.ReasonVenueEnded] = ended.QR
	codes[models.ReasonVenuePending] = venueQR("试点食堂", creditPilot).QR
	refused := venueQR("试点茶室", creditPilot)
	if rec := e.operator("POST", "/api/v1/admin/venue-reviews/"+refused.ID, map[string]string{"decision": "reject"}); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	codes[models.ReasonVenueRefused] = refused.QR
	codes[models.ReasonVenueUnknown] = sign(e.keys.Active(), codetoken.Claims{Issuer: "310000", Subject: "nosuchvenue0000000000000000", Kind: codetoken.KindVenue,
		Serial: 1, IssuedAt: now, ExpiresAt: now.Add(codetoken.VenueLifetime), VenueName: "假场所", VenueAddress: "无"})

	// Relative codes whose links are pending, rejected, deleted or unknown.
	relative := func(link string) string {
		c := personal(now, time.Minute)
		c.Kind, c.Holder, c.Link = codetoken.KindRelative, sess.AccountID, link
		return sign(e.keys.Active(), c)
	}
	pending := decode[relativeView](t, e.addRelative(alice, "李梅", "passport", "E12345678", "parent"), 201)
	rejected := decode[relativeView](t, e.addRelative(alice, "张伟", "passport", "E87654321", "other"), 201)
	if rec := e.operator("POST", "/api/v1/admin/relative-reviews/"+rejected.ID, map[string]string{"decision": "reject"}); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	if rec := e.upload("/api/v1/admin/households", "H-001,resident_id,"+aliceNumber+"\nH-001,resident_id,"+sonNumber+"\n"); rec.Code != 201 {
		t.Fatal(rec.Body)
	}
	son := decode[relativeView](t, e.addRelative(alice, "欧阳小明", "resident_id", sonNumber, "child"), 201)
	codes[models.ReasonLinkDeleted] = decode[codeResponse](t, e.json("GET", "/api/v1/relatives/"+son.ID+"/code", alice, nil), 200).QR
	if rec := e.json("DELETE", "/api/v1/relatives/"+son.ID, alice, nil); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	codes[models.ReasonLinkPending] = relative(pending.ID)
	codes[models.ReasonLinkRejected] = relative(rejected.ID)
	codes[models.ReasonLinkUnknown] = relative("nosuchlink0000000000000000000000")

	// A published key retired a minute ago; the active key stays.
	retired := codetoken.GenerateKey(now)
	retired.RetiredAt = now.Add(-time.Minute)
	if err := e.keys.Replace([]*codetoken.Key{e.keys.Active(), retired}); err != nil {
		t.Fatal(err)
	}
	codes[models.ReasonRetiredKey] = sign(retired, personal(now, time.Minute))

	for _, reason := range models.VerifyReasons {
		if !want[reason] {
			continue
		}
		qr, ok := codes[reason]
		if !ok {
			t.Errorf("no code in this test gives reason %q", reason)
			continue
		}
		scanIn(t, ctx, qr)
		got := evalJS[string](t, ctx, `[document.querySelector("#block").dataset.reason, document.querySelector("#block").className,
			document.querySelector("#verdict").textContent, document.querySelector("#validity").textContent, document.querySelector("#name").textContent].join("|")`)
		if want := reason + "|bad|核验未通过|" + models.ReasonText(reason) + "|—"; got != want {
			t.Errorf("reason %s: the view reads %q, want %q", reason, got, want)
		}
	}
}

// TestWatermarkCoversTheResultCard measures, at three widths, how much of
// the result card lies under a watermark tile naming the verifier and the
// time: all of it.
func TestWatermarkCoversTheResultCard(t *testing.T) {
	needChineseFont(t)
	_, ctx, _, qr := verifyViewEnv(t, phone(375, 812))
	scanIn(t, ctx, qr)
	// Points 4 px apart over the part of the card in the viewport; a point
	// is covered when a tile whose text names the verifier contains it.
	const coverage = `(function () {
		var tiles = Array.prototype.filter.call(document.querySelectorAll("#watermark .tile"), function (el) {
			return el.textContent.indexOf("核验人 王** ") === 0 && parseFloat(getComputedStyle(el.firstElementChild).opacity) > 0;
		}).map(function (el) { return el.getBoundingClientRect(); });
		var c = document.querySelector("#result").getBoundingClientRect();
		var top = Math.max(c.top, 0), bottom = Math.min(c.bottom, window.innerHeight);
		var all = 0, covered = 0;
		for (var y = top + 1; y < bottom; y += 4) {
			for (var x = c.left + 1; x < c.right; x += 4) {
				all++;
				if (tiles.some(function (r) { return x >= r.left && x < r.right && y >= r.top && y < r.bottom; })) covered++;
			}
		}
		return all === 0 ? -1 : covered / all;
	})()`
	for _, size := range [][2]int64{{320, 568}, {375, 812}, {1280, 800}} {
		if err := chromedp.Do(ctx, phone(size[0], size[1])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the resize handler lays the tiles
		for _, scroll := range []string{"0", "document.documentElement.scrollHeight"} {
			evalJS[bool](t, ctx, `(window.scrollTo(0, `+scroll+`), true)`)
			if got := evalJS[float64](t, ctx, coverage); got != 1 {
				t.Errorf("%d×%d, scrolled to %s: %.1f %% of the card under a watermark tile, want 100 %%", size[0], size[1], scroll, got*100)
			}
		}
	}
	if mark := evalJS[string](t, ctx, `document.querySelector("#watermark .tile").textContent`); !strings.HasPrefix(mark, "核验人 王** ") || len(mark) < len("核验人 王** 2026-11-23 12:00:00") {
		t.Errorf("watermark %q, want the verifier's masked name and the time", mark)
	}
}

// TestVerificationViewWithoutSession: without a verifier's page session the
// view says so instead of offering to scan.
func TestVerificationViewWithoutSession(t *testing.T) {
	e := newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	ctx := newBrowser(t)
	open(t, ctx, phone(375, 812), srv.URL+"/h5/verify#qr="+url.PathEscape("HC1JKM:x"), "the no-session state",
		`document.querySelector("#state").textContent.includes("页面已失效，请返回小程序重新打开")`)
	if evalJS[bool](t, ctx, `document.querySelector("#view").getClientRects().length > 0 || document.querySelectorAll("#watermark .tile").length > 0`) {
		t.Error("without a session the view still shows the scan form or a watermark")
	}
}
