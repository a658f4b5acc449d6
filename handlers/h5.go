package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"healthcode/models"
	"healthcode/models/fault"
)

// Page tickets and sessions.
const (
	ticketTTL      = 60 * time.Second
	pageSessionTTL = 12 * time.Hour
	pageCookie     = "hc_page"
)

type ticketRequest struct {
	// Purpose is "code" (the default), "verify", "sampler", "nucleic",
	// "venue" or "offline_print".
	Purpose string `json:"purpose"`
	// RelativeID asks for a relative's code page.
	RelativeID string `json:"relative_id"`
	// VenueID names the venue of a live register (purpose "venue").
	VenueID string `json:"venue_id"`
}

type ticketResponse struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

// pageCodeResponse is the code page's data: the code and its QR as inline SVG.
type pageCodeResponse struct {
	codeResponse
	QRSVG    string `json:"qr_svg"`
	TimeZone string `json:"time_zone"`
}

type pageVerifyResponse struct {
	verifyResponse
	VerifierMaskedName string `json:"verifier_masked_name"`
	TimeZone           string `json:"time_zone"`
}

// pageVerifierResponse is what the verification view shows before a scan:
// who verifies, where, and how many scans they made today.
type pageVerifierResponse struct {
	VerifierMaskedName string `json:"verifier_masked_name"`
	Place              string `json:"place"`
	ScansToday         *int   `json:"scans_today,omitempty"`
	ServerTime         string `json:"server_time"`
	TimeZone           string `json:"time_zone"`
}

// createTicket makes a one-time ticket for the mini-program's web-view.
func (api *API) createTicket(c *gin.Context) {
	var req ticketRequest
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			respondError(c, api.log, err)
			return
		}
	}
	path := "/h5/code"
	switch req.Purpose {
	case "", models.TicketCode:
		req.Purpose = models.TicketCode
	case models.TicketVerify:
		path = "/h5/verify"
		req.RelativeID = ""
	case models.TicketSampler:
		path = "/h5/sampler"
		req.RelativeID = ""
	case models.TicketNucleic:
		path = "/h5/nucleic"
	case models.TicketOfflinePrint:
		path = offlinePrintPath
	case models.TicketVenue:
		path = "/h5/venue"
		req.RelativeID = ""
	default:
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeInvalidPurpose, "purpose 只能是 code、verify、sampler、nucleic、venue 或 offline_print"))
		return
	}
	s, _ := sessionOf(c)
	if req.Purpose == models.TicketVenue {
		// The register's page holds the venue: only its registrar's and
		// deputies' tickets open it.
		if _, err := api.store.VenueFor(c.Request.Context(), s.AccountID, req.VenueID); err != nil {
			respondError(c, api.log, err)
			return
		}
		req.RelativeID = req.VenueID
	} else if req.RelativeID != "" {
		if _, err := api.store.RelativeOf(c.Request.Context(), s.AccountID, req.RelativeID); err != nil {
			respondError(c, api.log, err)
			return
		}
	}
	ticket := api.store.IssueH5Ticket(s.AccountID, req.Purpose, req.RelativeID, ticketTTL)
	c.JSON(http.StatusCreated, ticketResponse{URL: path + "?ticket=" + ticket, ExpiresAt: api.timestamp(api.clock.Now().Add(ticketTTL))})
}

// codePage serves the code page. Opened with ?ticket=…, it trades the
// ticket for an HttpOnly cookie and redirects to itself without the ticket.
func (api *API) codePage(c *gin.Context) { api.page(c, models.TicketCode, "code.html") }

// verifyPage serves the verification view the same way.
func (api *API) verifyPage(c *gin.Context) { api.page(c, models.TicketVerify, "verify.html") }

func (api *API) page(c *gin.Context, purpose, file string) {
	if ticket := c.Query("ticket"); ticket != "" {
		api.openWithTicket(c, ticket, purpose, c.Request.URL.Path)
		return
	}
	servePage(c, file)
}

// openWithTicket trades a page ticket of purpose for the page's HttpOnly
// cookie session and redirects to then; a used, expired or foreign ticket
// gets the expired page (401).
func (api *API) openWithTicket(c *gin.Context, ticket, purpose, then string) {
	ctx := c.Request.Context()
	t, err := api.store.RedeemH5Ticket(ctx, ticket)
	if err == nil && t.Purpose != purpose {
		err = fault.Errorf(fault.KindUnauthorized, fault.CodeTicketInvalid, "页面链接已失效，请在小程序中重新打开")
	}
	var a *models.Account
	if err == nil {
		a, err = api.store.AccountByID(ctx, t.AccountID)
	}
	var p *models.Person
	if err == nil && a.PersonID != nil {
		p, err = api.store.PersonByID(ctx, *a.PersonID)
	}
	if err != nil {
		if kind := fault.KindOf(err); kind != fault.KindUnauthorized && kind != fault.KindNotFound {
			api.log.ErrorContext(c.Request.Context(), "open page", "request_id", c.GetString(ctxRequestID), "err", err)
		}
		servePageStatus(c, http.StatusUnauthorized, "expired.html")
		return
	}
	// Max-Age, not Expires: the browser counts the lifetime on its own
	// clock, so a phone whose clock is hours off keeps its session.
	token, _ := api.sessions.IssuePage(a, p, t.Purpose, t.RelativeID, pageSessionTTL)
	http.SetCookie(c.Writer, &http.Cookie{
		Name: pageCookie, Value: token, Path: "/h5", MaxAge: int(pageSessionTTL / time.Second), HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: api.cfg.Production() || c.Request.TLS != nil,
	})
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, then)
}

// requirePage admits requests of an H5 page with a valid cookie session for
// purpose.
func (api *API) requirePage(purpose string) gin.HandlerFunc {
	return func(c *gin.Context) {
		cookie, _ := c.Cookie(pageCookie)
		s, err := api.sessions.VerifyPage(cookie)
		if err == nil && s.Purpose != purpose {
			err = fault.Errorf(fault.KindUnauthorized, fault.CodeUnauthorized, "页面已失效，请在小程序中重新打开")
		}
		if err != nil {
			respondError(c, api.log, err)
			return
		}
		c.Set(ctxSession, s)
		c.Next()
	}
}

// pageCode answers the code page's data, QR included as SVG: the caller's
// own code, or a relative's when the page was opened for one.
func (api *API) pageCode(c *gin.Context) {
	s, _ := sessionOf(c)
	var resp codeResponse
	var err error
	if s.RelativeID != "" {
		resp, err = api.relativeCode(c.Request.Context(), s, s.RelativeID, c.GetString(ctxRequestID))
	} else {
		resp, err = api.personalCode(s)
	}
	api.respondPageCode(c, resp.QR, err, func(svg string) any {
		return pageCodeResponse{codeResponse: resp, QRSVG: svg, TimeZone: api.loc.String()}
	})
}

// respondPageCode answers a page's code data, never stored: err, or what
// wrap makes of the code qr drawn as SVG.
func (api *API) respondPageCode(c *gin.Context, qr string, err error, wrap func(svg string) any) {
	var svg string
	if err == nil {
		svg, err = qrSVG(qr, qrcode.Medium)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, wrap(svg))
}

// pageVerify checks a scanned code for the verification view.
func (api *API) pageVerify(c *gin.Context) {
	resp, s, ok := api.scan(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, pageVerifyResponse{verifyResponse: resp, VerifierMaskedName: verifierName(s), TimeZone: api.loc.String()})
}

// pageVerifier answers the verification view's header: the verifier, their
// place and today's scans, from memory. A revoked verifier gets 403
// not_verifier at once, before any scan.
func (api *API) pageVerifier(c *gin.Context) {
	s, _ := sessionOf(c)
	place, err := api.verifiers.Place(s.AccountID)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	now := api.clock.Now()
	resp := pageVerifierResponse{VerifierMaskedName: verifierName(s), Place: place,
		ServerTime: api.timestampMilli(now), TimeZone: api.loc.String()}
	if n, ok := api.scans.get(s.AccountID, now); ok {
		resp.ScansToday = &n
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// verifierName is how the watermark names a verifier: their masked name, or
// a short account reference when they have no bound identity.
func verifierName(s models.Session) string {
	if s.MaskedName != "" {
		return s.MaskedName
	}
	return "核验员" + s.AccountID[:6]
}

// qrSVG draws a QR code of text at error-correction level as one SVG path
// of its dark modules, with a quiet zone of four modules.
func qrSVG(text string, level qrcode.RecoveryLevel) (string, error) {
	d, n, err := qrPath(text, level)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="健康码二维码"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, n, n, d), nil
}

// qrPath draws a QR code of text at error-correction level as the SVG path
// of its dark modules, one unit each, offset by a quiet zone of four; n is
// the side with the zone.
func qrPath(text string, level qrcode.RecoveryLevel) (d string, n int, err error) {
	q, err := qrcode.New(text, level)
	if err != nil {
		return "", 0, fmt.Errorf("draw QR: %w", err)
	}
	q.DisableBorder = true
	bits := q.Bitmap()
	var b strings.Builder
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+4, y+4)
			}
		}
	}
	return b.String(), len(bits) + 8, nil
}
