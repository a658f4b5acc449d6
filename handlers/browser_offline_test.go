package handlers

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"

	"healthcode/models/storetest"
)

// printDPI is the resolution the printed PDFs are rasterised at.
const printDPI = 300

// needPdftoppm returns the path of poppler's pdftoppm, or skips (fails
// under HEALTHCODE_TEST_REQUIRE_ALL=1) when it is not installed.
func needPdftoppm(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("pdftoppm")
	if err != nil {
		storetest.Unavailable(t, "print tests need pdftoppm (apt-get install poppler-utils)")
	}
	return path
}

// printToImage prints the page open in ctx to PDF as Chromium prints it
// (the page's @page size), and rasterises it at printDPI: one image a page.
func printToImage(t *testing.T, ctx context.Context, pdftoppm string) []image.Image {
	t.Helper()
	yes := true
	res, err := chromedp.Call(ctx, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &yes, PrintBackground: &yes})
	if err != nil {
		t.Fatalf("print to PDF: %v", err)
	}
	dir := t.TempDir()
	pdf := filepath.Join(dir, "paper.pdf")
	if err := os.WriteFile(pdf, res.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pdftoppm, "-r", strconv.Itoa(printDPI), "-png", pdf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "page-*.png"))
	var pages []image.Image
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, img)
	}
	return pages
}

// mm converts printed pixels at printDPI to millimetres.
func mm(px int) float64 { return float64(px) / printDPI * 25.4 }

// darkBounds is the box of the dark pixels in r of img: on the print page's
// QR area (the code and its quiet zone), the printed code itself.
func darkBounds(img image.Image, r image.Rectangle) image.Rectangle {
	box := image.Rectangle{Min: r.Max, Max: r.Min}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if (cr+cg+cb)/3 < 0x8000 {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

// colourful reports whether any pixel of img is coloured, not grey.
func colourful(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			hi, lo := max(r, g, bl), min(r, g, bl)
			if hi-lo > 0x2000 {
				return true
			}
		}
	}
	return false
}

func TestOfflinePaperPrintsAndDecodes(t *testing.T) {
	onEveryDriver(t, testOfflinePaperPrintsAndDecodes)
}

// testOfflinePaperPrintsAndDecodes prints the print page to PDF in
// Chromium, as the A6 card and as the A4 sheet, opened by the print_url's
// ticket and by the kiosk with its key; rasterises each PDF; reads the QR
// off the printed image; and verifies it: valid, kind offline, ID card to
// be checked. The printed code is at least 35 mm wide, the page is one
// sheet of its size, and nothing on it is in colour.
func testOfflinePaperPrintsAndDecodes(t *testing.T, driver func(*testSetup)) {
	needChineseFont(t)
	pdftoppm := needPdftoppm(t)
	e := newBrowserEnv(t, 0, driver)
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber) // 76
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	_, key := e.testKiosk(t, "康健街道 1 号机")
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}

	type paperCase struct {
		name, layout  string
		width, height float64 // the page, mm
		open          func() (url string)
		kiosk         bool
	}
	cases := []paperCase{
		{name: "A6 card by ticket", layout: "a6", width: 105, height: 148, open: func() string {
			return decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201).PrintURL + "&layout=a6"
		}},
		{name: "A4 sheet by ticket", layout: "a4", width: 210, height: 297, open: func() string {
			return decode[offlineCodeResponse](t, e.json("GET", "/api/v1/me/offline-code", alice, nil), 200).PrintURL + "&layout=a4"
		}},
		{name: "A4 sheet at the kiosk", layout: "a4", width: 210, height: 297, kiosk: true, open: func() string {
			live := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200).QR
			return decode[offlineCodeResponse](t, e.kioskPost("/api/v1/kiosk/offline-codes", key, map[string]string{"qr": live}), 201).PrintURL + "&layout=a4"
		}},
		{name: "A6 card at the kiosk", layout: "a6", width: 105, height: 148, kiosk: true, open: func() string {
			return decode[offlineCodeResponse](t, e.kioskPost("/api/v1/kiosk/offline-codes", key, map[string]string{
				"doc_type": "resident_id", "doc_number": idNumber("31010419610315002"), "name": "陈秀英"}), 201).PrintURL + "&layout=a6"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			headers := network.Headers{}
			if c.kiosk {
				headers["Authorization"] = "Kiosk " + key
			}
			if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers}); err != nil {
				t.Fatal(err)
			}
			open(t, ctx, chromedp.EmulateViewport(900, 1200), srv.URL+c.open(), "the print page", `document.querySelector("#qr svg") !== null`)
			if got := evalJS[string](t, ctx, `location.pathname + location.search`); got != "/h5/offline/print?layout="+c.layout && !c.kiosk {
				t.Errorf("after the ticket the page is at %s", got)
			}
			// Where the page lays the QR (with its quiet zone), in CSS px.
			box := evalJS[[]float64](t, ctx, `(function (r) { return [r.left, r.top, r.right, r.bottom]; })(document.getElementById("qr").getBoundingClientRect())`)

			pages := printToImage(t, ctx, pdftoppm)
			if len(pages) != 1 {
				t.Fatalf("printed %d pages, want 1", len(pages))
			}
			img := pages[0]
			if w, h := mm(img.Bounds().Dx()), mm(img.Bounds().Dy()); w < c.width-0.5 || w > c.width+0.5 || h < c.height-0.5 || h > c.height+0.5 {
				t.Errorf("the page is %.1f × %.1f mm, want %g × %g", w, h, c.width, c.height)
			}
			if colourful(img) {
				t.Error("the printed paper has colour on it")
			}
			// CSS px are 1/96 in; the raster is printDPI.
			scale := float64(printDPI) / 96
			area := image.Rect(int(box[0]*scale), int(box[1]*scale), int(box[2]*scale+0.5), int(box[3]*scale+0.5)).Intersect(img.Bounds())
			code := darkBounds(img, area)
			t.Logf("the printed QR is %.1f × %.1f mm on a %v px page", mm(code.Dx()), mm(code.Dy()), img.Bounds().Size())
			if w, h := mm(code.Dx()), mm(code.Dy()); w < 35 || h < 35 {
				t.Errorf("the printed QR is %.1f × %.1f mm, want at least 35 mm", w, h)
			}
			res, err := decodeQRResult(img, false)
			if err != nil {
				// ZXing's finder misses a few clean codes: read the QR's
				// area alone, then as a pure barcode.
				if res, err = decodeQRResult(img.(subImager).SubImage(area), false); err != nil {
					res, err = decodeQRResult(img.(subImager).SubImage(area), true)
				}
			}
			if err != nil {
				t.Fatalf("no QR read from the printed %s (%v px): %v", c.layout, img.Bounds().Size(), err)
			}
			if level := res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; level != "Q" {
				t.Errorf("the printed QR has error correction %v, want Q", level)
			}
			text := res.GetText()
			v := decode[offlineVerifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": text}), 200)
			if v.Result != "valid" || v.Kind != "offline" || !v.CheckIDDocument || v.Colour != "green" {
				t.Errorf("the printed code verifies as %+v", v)
			}
		})
	}
	if strings.Contains(e.allOutput(), aliceNumber) {
		t.Error("a document number leaked")
	}
}
