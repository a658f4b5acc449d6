package handlers

import (
	"embed"
	"net/http"

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
