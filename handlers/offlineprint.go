package handlers

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"healthcode/models"
	"healthcode/models/fault"
)

// offlinePrintPath is the print page of an offline code.
const offlinePrintPath = "/h5/offline/print"

// printLayouts are the print page's layouts: an A6 card, or the same card
// on an A4 sheet with cut marks.
var printLayouts = map[string]bool{"a6": true, "a4": true}

var errPrintLayout = fault.Errorf(fault.KindInvalid, codeInvalidLayout, "layout 只能是 a6 或 a4")

// offlinePrintTemplate is the print page, laid out in millimetres for
// @page; it shows masked data only and no colour.
var offlinePrintTemplate = template.Must(template.ParseFS(pageFS, "pages/offline_print.html"))

// offlinePrintView is what the print page shows.
type offlinePrintView struct {
	Layout     string
	QR         template.HTML
	MaskedName string
	MaskedDoc  string
	IssuedOn   string
	ValidUntil string
	Serial     int64
}

// offlinePrintPage serves the print page of an offline code (GET
// /h5/offline/print?layout=a6|a4), to three callers:
//   - a kiosk, with Authorization: Kiosk <key> and ?code=<id>: the code it
//     issued, within models.KioskReprintWindow, audited as the kiosk's;
//   - the mini-program's web-view with ?ticket=… of purpose offline_print
//     (a relative's code when the ticket names the link): the ticket is
//     traded for the page cookie and the page reloads without it;
//   - that web-view again, with the cookie: the holder's or relative's
//     current code, audited as the account's.
func (api *API) offlinePrintPage(c *gin.Context) {
	layout := c.DefaultQuery("layout", "a6")
	if !printLayouts[layout] {
		respondError(c, api.log, errPrintLayout)
		return
	}
	ctx, requestID := c.Request.Context(), c.GetString(ctxRequestID)
	if strings.HasPrefix(c.GetHeader("Authorization"), "Kiosk ") {
		if api.requireKiosk(c); c.IsAborted() {
			return
		}
		k := c.MustGet(ctxKiosk).(*models.Kiosk)
		code, p, err := api.store.KioskPrintOfflineCode(ctx, c.Query("code"), "kiosk:"+k.ID, requestID)
		api.renderOfflinePrint(c, layout, code, p, err)
		return
	}
	if ticket := c.Query("ticket"); ticket != "" {
		api.openWithTicket(c, ticket, models.TicketOfflinePrint, offlinePrintPath+"?layout="+layout)
		return
	}
	cookie, _ := c.Cookie(pageCookie)
	s, err := api.sessions.VerifyPage(cookie)
	if err != nil || s.Purpose != models.TicketOfflinePrint {
		servePageStatus(c, http.StatusUnauthorized, "expired.html")
		return
	}
	personID, err := api.offlineSubjectOf(ctx, s, s.RelativeID)
	if err != nil {
		api.renderOfflinePrint(c, layout, nil, nil, err)
		return
	}
	code, p, err := api.store.PrintOfflineCode(ctx, personID, "account:"+s.AccountID, requestID)
	api.renderOfflinePrint(c, layout, code, p, err)
}

// renderOfflinePrint writes the print page of code, held by p, or err.
func (api *API) renderOfflinePrint(c *gin.Context, layout string, code *models.OfflineCode, p *models.Person, err error) {
	var qr string
	if err == nil {
		qr, err = api.signOffline(code, p)
	}
	var svg string
	if err == nil {
		// Error correction Q (go-qrcode's High, 25 %): a creased or
		// smudged card still reads.
		svg, err = qrSVG(qr, qrcode.High)
	}
	var page bytes.Buffer
	if err == nil {
		err = offlinePrintTemplate.Execute(&page, offlinePrintView{Layout: layout, QR: template.HTML(svg),
			MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc, Serial: code.Serial,
			IssuedOn: code.IssuedAt.In(api.loc).Format("2006年1月2日"), ValidUntil: code.ExpiresAt.In(api.loc).Format("2006年1月2日")})
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	writePage(c, http.StatusOK, page.Bytes())
}
