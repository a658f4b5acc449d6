package handlers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"html"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"healthcode/models"
	"healthcode/models/fault"
)

// posterSize is one printed size of a venue's poster, in millimetres: the
// page, the QR's side on it, and the size of its type.
type posterSize struct {
	width, height, qr, title, text float64
	// lines is how many lines the name and the address may take.
	lines int
}

// posterSizes are the sizes a registrar downloads: A4 and A5 posters, an A6
// table tent and an 80 mm sticker.
var posterSizes = map[string]posterSize{
	"a4":      {width: 210, height: 297, qr: 150, title: 14, text: 8, lines: 2},
	"a5":      {width: 148, height: 210, qr: 105, title: 10, text: 5.6, lines: 2},
	"a6":      {width: 105, height: 148, qr: 75, title: 7, text: 4, lines: 2},
	"sticker": {width: 80, height: 80, qr: 52, title: 4.2, text: 2.8, lines: 1},
}

// posterDPI is the resolution of the PNG renders.
const posterDPI = 300

// posterSlogan is what every poster asks of visitors.
const posterSlogan = "请使用健康码扫码登记"

var (
	errPosterSize   = fault.Errorf(fault.KindInvalid, codeInvalidSize, "size 只能是 a4、a5、a6 或 sticker")
	errPosterFormat = fault.Errorf(fault.KindInvalid, codeInvalidFormat, "format 只能是 svg 或 png")
)

// venuePoster answers a venue's poster, for its registrar or a deputy: an
// SVG page of the size asked for, or a PNG of the QR at 300 dpi for that
// size.
func (api *API) venuePoster(c *gin.Context) {
	size, ok := posterSizes[c.DefaultQuery("size", "a4")]
	if !ok {
		respondError(c, api.log, errPosterSize)
		return
	}
	format := c.DefaultQuery("format", "svg")
	if format != "svg" && format != "png" {
		respondError(c, api.log, errPosterFormat)
		return
	}
	s, _ := sessionOf(c)
	v, err := api.store.VenueFor(c.Request.Context(), s.AccountID, c.Param("id"))
	if err == nil && v.State != models.VenueActive && v.State != models.VenuePendingReview {
		err = models.ErrVenueInactive
	}
	var qr string
	if err == nil {
		qr, err = api.venueCode(v)
	}
	var body []byte
	if err == nil {
		if format == "svg" {
			body, err = posterSVG(size, v.Name, v.Address, qr)
		} else {
			body, err = posterPNG(size, qr)
		}
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Disposition", fmt.Sprintf(`inline; filename="venue-%s-%s.%s"`, c.DefaultQuery("size", "a4"), v.ID, format))
	if format == "svg" {
		c.Data(http.StatusOK, "image/svg+xml; charset=utf-8", body)
		return
	}
	c.Data(http.StatusOK, "image/png", body)
}

// wrapText cuts s into at most lines lines of perLine characters, the last
// one ending in "…" when s does not fit.
func wrapText(s string, perLine, lines int) []string {
	r := []rune(s)
	var out []string
	for len(r) > 0 && len(out) < lines {
		n := min(perLine, len(r))
		if len(out) == lines-1 && len(r) > n {
			out = append(out, string(r[:n-1])+"…")
			break
		}
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return out
}

// posterSVG draws the poster: the name on top, the QR, the address and the
// slogan, in millimetres on a page of the size.
func posterSVG(size posterSize, name, address, qr string) ([]byte, error) {
	d, n, err := qrPath(qr, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%gmm" height="%gmm" viewBox="0 0 %g %g" role="img" aria-label="场所码">`,
		size.width, size.height, size.width, size.height)
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="#fff"/>`, size.width, size.height)
	font := `font-family="'Noto Sans CJK SC','Noto Sans SC','WenQuanYi Micro Hei','Microsoft YaHei',sans-serif" text-anchor="middle" fill="#111"`
	margin := size.width * 0.08
	y := margin + size.title
	for _, line := range wrapText(name, int((size.width-2*margin)/size.title), size.lines) {
		fmt.Fprintf(&b, `<text x="%g" y="%.2f" font-size="%g" font-weight="bold" %s>%s</text>`, size.width/2, y, size.title, font, html.EscapeString(line))
		y += size.title * 1.25
	}
	top := y - size.title*0.25 + size.text*0.5
	left := (size.width - size.qr) / 2
	fmt.Fprintf(&b, `<g id="qr" transform="translate(%.3f %.3f) scale(%.5f)" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></g>`,
		left, top, size.qr/float64(n), n, n, d)
	y = top + size.qr + size.text*1.5
	for _, line := range wrapText(address, int((size.width-2*margin)/size.text), size.lines) {
		fmt.Fprintf(&b, `<text x="%g" y="%.2f" font-size="%g" %s>%s</text>`, size.width/2, y, size.text, font, html.EscapeString(line))
		y += size.text * 1.3
	}
	fmt.Fprintf(&b, `<text x="%g" y="%.2f" font-size="%g" font-weight="bold" %s>%s</text></svg>`,
		size.width/2, math.Min(y+size.text*0.4, size.height-size.text*0.6), size.text*1.2, font, posterSlogan)
	return b.Bytes(), nil
}

// posterPNG renders the QR for the size at 300 dpi, and says so in the
// file (a pHYs chunk), so it prints at the poster's size. Each module is a
// whole number of pixels (the side rounds down to one), so every edge
// prints sharp.
func posterPNG(size posterSize, qr string) ([]byte, error) {
	q, err := qrcode.New(qr, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("draw QR: %w", err)
	}
	modules := len(q.Bitmap()) // the quiet zone included
	px := max(int(size.qr/25.4*posterDPI)/modules, 1) * modules
	img, err := q.PNG(px)
	if err != nil {
		return nil, fmt.Errorf("render QR: %w", err)
	}
	return withDPI(img, posterDPI)
}

// withDPI inserts a pHYs chunk (pixels per metre) after a PNG's header chunk.
func withDPI(png []byte, dpi int) ([]byte, error) {
	// Signature (8) and IHDR (4 length + 4 type + 13 data + 4 CRC).
	const afterIHDR = 8 + 25
	if len(png) < afterIHDR || !bytes.Equal(png[12:16], []byte("IHDR")) {
		return nil, fmt.Errorf("render QR: not a PNG")
	}
	ppm := uint32(math.Round(float64(dpi) / 0.0254))
	chunk := make([]byte, 0, 21)
	chunk = binary.BigEndian.AppendUint32(chunk, 9)
	chunk = append(chunk, "pHYs"...)
	chunk = binary.BigEndian.AppendUint32(chunk, ppm)
	chunk = binary.BigEndian.AppendUint32(chunk, ppm)
	chunk = append(chunk, 1) // the unit is the metre
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	out := make([]byte, 0, len(png)+len(chunk))
	out = append(out, png[:afterIHDR]...)
	out = append(out, chunk...)
	return append(out, png[afterIHDR:]...), nil
}
