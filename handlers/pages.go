package handlers

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed pages
var pageFS embed.FS

// pageCSP lets the pages run their own inline script and call this origin,
// and load nothing else but the mini-program containers' bridge scripts
// (WeChat's jweixin, Alipay's web-view.min.js), which the pages ask for
// only inside a container: no CDN, no third-party frames.
const pageCSP = "default-src 'self'; script-src 'self' 'unsafe-inline' https://res.wx.qq.com https://appx; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'"

// servePage writes an embedded page with headers that keep it private.
func servePage(c *gin.Context, name string) { servePageStatus(c, http.StatusOK, name) }

// servePageStatus writes an embedded page with the given status.
func servePageStatus(c *gin.Context, status int, name string) {
	body, err := pageFS.ReadFile("pages/" + name)
	if err != nil {
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	writePage(c, status, body)
}

// writePage writes a page with headers that keep it private.
func writePage(c *gin.Context, status int, body []byte) {
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Data(status, "text/html; charset=utf-8", body)
}

// devPage serves the development landing page (sandbox only).
func (api *API) devPage(c *gin.Context) { servePage(c, "dev.html") }

// sandboxFacePage serves the sandbox's "pass / fail" face page.
func (api *API) sandboxFacePage(c *gin.Context) { servePage(c, "sandbox_face.html") }

// pageAsset is a script the pages share, with its ETag.
type pageAsset struct {
	body []byte
	etag string
}

// pageAssets are the shared scripts under /h5/assets/, read once from the
// embedded pages: bridge.js (the mini-program bridge every page loads),
// nucleic.js (how the code page and the verification view word a nucleic
// result) and pagekit.js (elder mode, the clock, and the code pages' fetch
// with its retries).
var pageAssets = func() map[string]pageAsset {
	assets := map[string]pageAsset{}
	entries, _ := pageFS.ReadDir("pages/assets")
	for _, e := range entries {
		body, err := pageFS.ReadFile("pages/assets/" + e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(body)
		assets[e.Name()] = pageAsset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return assets
}()

// assetScript serves a shared script. The browser keeps it but asks again
// (a 304 when unchanged) before using it, so a page never runs with the
// script of an older release.
func assetScript(c *gin.Context) {
	a, ok := pageAssets[c.Param("name")]
	if !ok {
		respondError(c, nil, errNotFound)
		return
	}
	c.Header("Content-Type", "text/javascript; charset=utf-8")
	c.Header("Content-Security-Policy", pageCSP)
	c.Header("Cache-Control", "no-cache")
	c.Header("ETag", a.etag)
	c.Header("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Writer, c.Request, c.Param("name"), time.Time{}, bytes.NewReader(a.body))
}
