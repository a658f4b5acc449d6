package handlers

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"healthcode/models/codetoken"
)

// decodeQR reads the QR code in an image with ZXing's decoder (the Go
// port); pure says the image is the code and its quiet zone alone. The
// port's finder misses about 2 % of clean codes of this size (4 of 200
// go-qrcode PNGs of 450 characters, every one read with pure set), so a
// caller that knows where the code is retries on that part alone.
func decodeQR(t *testing.T, img image.Image, pure bool) (string, error) {
	t.Helper()
	res, err := decodeQRResult(img, pure)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// decodeQRResult is decodeQR's whole reading: the text and what ZXing
// learnt of the symbol (its error-correction level among it).
//
// The Go port of ZXing misreads a few clean symbols (about 2 %: a finder
// pattern missed, or a module size estimated so that the side comes out as
// no QR size, "dimension = 78"); a miss is read again from the same pixels
// at other sizes (half, a quarter, three quarters, twice), which moves
// every estimate off the edge it fell on (a failing 1600-pixel sticker
// screenshot read at half size).
func decodeQRResult(img image.Image, pure bool) (*gozxing.Result, error) {
	res, err := decodeQROnce(img, pure)
	if err == nil {
		return res, nil
	}
	for _, f := range []float64{0.5, 0.25, 0.75, 2} {
		if again, err2 := decodeQROnce(resample(img, f), pure); err2 == nil {
			return again, nil
		}
	}
	return nil, err
}

func decodeQROnce(img image.Image, pure bool) (*gozxing.Result, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return nil, err
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	if pure {
		hints[gozxing.DecodeHintType_PURE_BARCODE] = true
	}
	return zxqr.NewQRCodeReader().Decode(bmp, hints)
}

// resample draws img in grey at f times its size, each pixel the nearest
// one of img.
func resample(img image.Image, f float64) image.Image {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, int(float64(b.Dx())*f), int(float64(b.Dy())*f)))
	for y := range out.Rect.Dy() {
		for x := range out.Rect.Dx() {
			out.SetGray(x, y, color.GrayModel.Convert(img.At(b.Min.X+int(float64(x)/f), b.Min.Y+int(float64(y)/f))).(color.Gray))
		}
	}
	return out
}

// subImager is an image part of which can be cut out (image.NRGBA, RGBA).
type subImager interface {
	SubImage(r image.Rectangle) image.Image
}

// wantVenueCode checks that text is the venue's current code.
func (e *testEnv) wantVenueCode(t *testing.T, what, text, venueID string) {
	t.Helper()
	c, err := codetoken.Parse(text, e.keys.ForIssuer("310000"))
	if err != nil || c.Kind != codetoken.KindVenue || c.Subject != venueID || c.Serial != 1 {
		t.Errorf("%s decodes to %+v (%v), not venue %s's code", what, c, err, venueID)
	}
}

// TestPostersDecodeInBrowser renders every poster size's SVG in Chromium,
// screenshots it, and decodes the QR from the screenshot: it is this
// venue's code. Each PNG decodes too, at 300 dpi for its size.
func TestPostersDecodeInBrowser(t *testing.T) {
	needChineseFont(t)
	e := newBrowserEnv(t, 0)
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	shop := decode[venueView](t, e.venue(alice, "欧阳便利店（漕溪北路店）——二十四小时营业，欢迎光临本店选购各类日用商品与食品饮料", creditHuawei), 201)
	posters := map[string][]byte{}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(posters[r.URL.Query().Get("size")])
	}))
	t.Cleanup(files.Close)
	ctx := newBrowser(t)
	for size, want := range map[string]struct{ mm, scale float64 }{"a4": {150, 2}, "a5": {105, 2}, "a6": {75, 3}, "sticker": {52, 4}} {
		rec := e.json("GET", "/api/v1/venues/"+shop.ID+"/poster?size="+size+"&format=svg", alice, nil)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/svg+xml; charset=utf-8" {
			t.Fatalf("%s poster = %d %s", size, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, text := range []string{"请使用健康码扫码登记", "上海市徐汇区漕溪北路88号", "欧阳便利店"} {
			if !bytes.Contains(rec.Body.Bytes(), []byte(text)) {
				t.Errorf("%s poster lacks %q", size, text)
			}
		}
		posters[size] = rec.Body.Bytes()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(400, 400, chromedp.EmulateScale(want.scale)),
			chromedp.Navigate(files.URL+"/?size="+size)); err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		text, err := decodeQR(t, img, false)
		if err != nil {
			// Where the page drew the code, in screenshot pixels: that part
			// of the screenshot alone.
			box := evalJS[[]float64](t, ctx, `(function (r) { return [r.left, r.top, r.right, r.bottom]; })(document.getElementById("qr").getBoundingClientRect())`)
			part := image.Rect(int(box[0]*want.scale), int(box[1]*want.scale), int(box[2]*want.scale+0.5), int(box[3]*want.scale+0.5))
			if text, err = decodeQR(t, img.(subImager).SubImage(part), false); err != nil {
				text, err = decodeQR(t, img.(subImager).SubImage(part), true)
			}
		}
		if err != nil {
			t.Errorf("%s poster: no QR read from a %v screenshot: %v", size, img.Bounds().Size(), err)
			continue
		}
		e.wantVenueCode(t, size+" poster", text, shop.ID)

		rec = e.json("GET", "/api/v1/venues/"+shop.ID+"/poster?size="+size+"&format=png", alice, nil)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" {
			t.Fatalf("%s PNG = %d", size, rec.Code)
		}
		pic, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		// 300 dpi: the QR's side in millimetres, in pixels (go-qrcode rounds
		// to whole modules, never up), and a pHYs chunk saying so.
		px := float64(pic.Bounds().Dx())
		if wantPx := want.mm / 25.4 * 300; px > wantPx+1 || px < wantPx*0.9 {
			t.Errorf("%s PNG is %v px wide, want about %.0f", size, px, wantPx)
		}
		if i := bytes.Index(rec.Body.Bytes(), []byte("pHYs")); i < 0 || binary.BigEndian.Uint32(rec.Body.Bytes()[i+4:]) != 11811 {
			t.Errorf("%s PNG has no 300 dpi pHYs chunk", size)
		}
		text, err = decodeQR(t, pic, true)
		if err != nil {
			t.Errorf("%s PNG: %v", size, err)
			continue
		}
		e.wantVenueCode(t, size+" PNG", text, shop.ID)
	}
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/poster?size=a3", alice, nil), 400, "invalid_size")
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/poster?format=pdf", alice, nil), 400, "invalid_format")
}

// TestCheckInPageInBrowser opens the result page from a check-in's answer:
// the colour big, 扫码登记成功, the venue, a ticking counter, and the tone
// (a chime for green, an alarm for yellow); elder mode enlarges it. The
// registrar's live register shows a new yellow visitor within 5 s,
// highlighted, with an alert.
func TestCheckInPageInBrowser(t *testing.T) {
	e := newBrowserEnv(t, 0)
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	bob, _ := e.verifiedUser(t, "bob", "王波", bobNumber)
	shop := decode[venueView](t, e.venue(alice, "欧阳便利店", creditHuawei), 201)
	ctx := newBrowser(t)

	// The registrar's register, open before anyone checks in.
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, map[string]string{"purpose": "venue", "venue_id": shop.ID}), 201)
	wantError(t, e.json("POST", "/api/v1/h5/tickets", bob, map[string]string{"purpose": "venue", "venue_id": shop.ID}), 404, "venue_not_found")
	// The registrar's phone is another browser: page sessions are cookies.
	regCtx := newBrowser(t)
	open(t, regCtx, phone(375, 812), srv.URL+ticket.URL, "the register", `document.querySelector("#state").textContent.includes("自动刷新")`)

	visit := decode[checkInResponse](t, e.checkIn(alice, shop.QR), 201)
	open(t, ctx, phone(375, 812), srv.URL+visit.TicketURL, "the check-in page", `!document.querySelector("#card").hidden`)
	got := evalJS[string](t, ctx, `[document.querySelector("#block").className, document.querySelector("#done").textContent,
		document.querySelector("#colour-text").textContent, document.querySelector("#venue-name").textContent,
		document.querySelector("#venue-address").textContent, document.body.dataset.tone].join("|")`)
	if want := "green|扫码登记成功|未见异常|欧阳便利店|上海市徐汇区漕溪北路88号|chime"; got != want {
		t.Errorf("the page reads %q, want %q", got, want)
	}
	first := evalJS[string](t, ctx, `document.querySelector("#seconds").textContent + "|" + document.querySelector("#clock").textContent`)
	time.Sleep(2100 * time.Millisecond)
	later := evalJS[string](t, ctx, `document.querySelector("#seconds").textContent + "|" + document.querySelector("#clock").textContent`)
	n0, _ := strconv.Atoi(first[:len(first)-9])
	n1, _ := strconv.Atoi(later[:len(later)-9])
	if n1 < n0+2 || first[len(first)-8:] == later[len(later)-8:] {
		t.Errorf("the counter and clock read %q then %q two seconds on", first, later)
	}
	small := evalJS[float64](t, ctx, `parseFloat(getComputedStyle(document.querySelector("#colour-text")).fontSize)`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("elder"))); err != nil {
		t.Fatal(err)
	}
	if big := evalJS[float64](t, ctx, `parseFloat(getComputedStyle(document.querySelector("#colour-text")).fontSize)`); big < small*1.4 {
		t.Errorf("elder mode: colour text %v px, standard %v px", big, small)
	}
	// The ticket was spent: opening it again shows the expired page.
	if rec := e.do("GET", visit.TicketURL, nil); rec.Code != 401 {
		t.Errorf("a spent ticket = %d", rec.Code)
	}

	// A yellow visitor: the alarm, and the register highlights them.
	e.importListDone(t, "community", "resident_id,"+bobNumber+",yellow,居家观察\n")
	yellow := decode[checkInResponse](t, e.checkIn(bob, shop.QR), 201)
	other, cancelOther := chromedp.NewContext(ctx)
	t.Cleanup(cancelOther)
	open(t, other, phone(375, 812), srv.URL+yellow.TicketURL, "the yellow check-in page", `!document.querySelector("#card").hidden`)
	if got := evalJS[string](t, other, `document.querySelector("#block").className + "|" + document.body.dataset.tone`); got != "yellow|alarm" {
		t.Errorf("a yellow check-in reads %q", got)
	}
	start := time.Now()
	waitFor(t, regCtx, "the yellow visitor in the register", `document.querySelectorAll("#rows tr.yellow.alert").length === 1 && document.body.dataset.alerts === "1"`)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the register took %v to show the visitor", took)
	}
	if got := evalJS[string](t, regCtx, `document.querySelectorAll("#rows tr").length + "|" + document.querySelector("#n-green").textContent + "|" + document.querySelector("#n-yellow").textContent + "|" + document.querySelector("#rows tr.yellow td:nth-child(2)").textContent`); got != "2|1|1|王*" {
		t.Errorf("the register reads %q", got)
	}
}
