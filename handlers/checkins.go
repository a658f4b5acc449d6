package handlers

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/fault"
)

type checkInRequest struct {
	VenueQR     string   `json:"venue_qr"`
	RelativeIDs []string `json:"relative_ids"`
}

// checkInView is one person checked in, masked, with the colour they had.
type checkInView struct {
	ID          string        `json:"id"`
	MaskedName  string        `json:"masked_name"`
	MaskedDoc   string        `json:"masked_doc"`
	Colour      models.Colour `json:"colour"`
	ColourText  string        `json:"colour_text"`
	Nucleic     *nucleicView  `json:"nucleic,omitempty"`
	CheckedInAt string        `json:"checked_in_at,omitempty"`
}

type venuePlace struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

type checkInResponse struct {
	CheckIns    []checkInView `json:"checkins"`
	Venue       venuePlace    `json:"venue"`
	CheckedInAt string        `json:"checked_in_at"`
	ServerTime  string        `json:"server_time"`
	// TicketURL opens the result page (扫码登记成功) in the web-view.
	TicketURL string `json:"ticket_url"`
}

// checkInTicketTTL is how long a check-in's result-page ticket lasts: the
// web-view opens it at once.
const checkInTicketTTL = 5 * time.Minute

var (
	errVenueCode      = fault.Errorf(fault.KindInvalid, codeInvalidVenueCode, "无法识别该场所码，请扫描场所张贴的场所码")
	errTooManyPeople  = fault.Errorf(fault.KindInvalid, fault.CodeCheckInPersonLimit, "一次最多为10名亲属登记")
	errBadRelativeIDs = fault.Errorf(fault.KindInvalid, codeInvalidRelativeIDs, "亲属编号无效")
)

// checkIn registers the caller (and relatives through approved links) at
// the venue whose code they scanned. The records are committed before the
// answer; nobody's colour changes.
func (api *API) checkIn(c *gin.Context) {
	var req checkInRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	ctx := c.Request.Context()
	s, _ := sessionOf(c)
	v, err := api.checker.CheckVenue(ctx, req.VenueQR)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	switch v.Result {
	case models.ResultValid:
	case models.ResultRevoked, models.ResultExpired:
		respondError(c, api.log, models.ErrVenueInactive)
		return
	default:
		respondError(c, api.log, errVenueCode)
		return
	}
	venue, ok := api.venues.Venue(v.Claims.Subject)
	if !ok {
		respondError(c, api.log, models.ErrVenueInactive)
		return
	}
	// A registrar who is not green suspends the venue until he is again.
	if api.status.Of(venue.RegistrarPersonNo).Colour != models.Green {
		respondError(c, api.log, models.ErrVenueSuspended)
		return
	}
	people := []models.CheckIn{{PersonID: s.PersonID, PersonNo: s.PersonNo, MaskedName: s.MaskedName, MaskedDoc: s.MaskedDoc}}
	// Bounded before it is sorted: the list is the client's.
	if len(req.RelativeIDs) > models.MaxRelatives {
		respondError(c, api.log, errTooManyPeople)
		return
	}
	ids := slices.Compact(slices.Sorted(slices.Values(req.RelativeIDs)))
	var links []*models.RelativeView
	for _, id := range ids {
		if id == "" || len(id) > 32 {
			respondError(c, api.log, errBadRelativeIDs)
			return
		}
		rel, err := api.store.RelativeOf(ctx, s.AccountID, id)
		if err != nil {
			respondError(c, api.log, err)
			return
		}
		people = append(people, models.CheckIn{PersonID: rel.PersonID, PersonNo: rel.PersonNo, MaskedName: rel.MaskedName, MaskedDoc: rel.MaskedDoc})
		links = append(links, rel)
	}
	now := api.clock.Now()
	statuses := make([]models.Status, len(people))
	for i := range people {
		statuses[i] = api.status.Of(people[i].PersonNo)
		people[i].Colour = statuses[i].Colour
	}
	visit := models.NewVisit(s.AccountID, v.Claims.Subject, people, now)
	// Each relative's live colour and result is answered: a lookup through
	// the link, audited as GET /relatives/:id/status is.
	for _, link := range links {
		visit.Audit = append(visit.Audit, models.AuditEntry{At: now.UTC(), Actor: "account:" + s.AccountID, Action: "relative.lookup",
			Subject: link.ID, Detail: "person=" + link.PersonID + " checkin=" + visit.ID, RequestID: c.GetString(ctxRequestID),
			// Written by the group-commit writer, whose context is not this request's.
			ClientRequestID: models.ClientRequestID(ctx)})
	}
	if err := api.visits.Submit(ctx, visit); err != nil {
		respondError(c, api.log, err)
		return
	}
	resp := checkInResponse{Venue: venuePlace{Name: v.Claims.VenueName, Address: v.Claims.VenueAddress},
		CheckedInAt: api.timestampMilli(now), ServerTime: api.timestampMilli(now), TicketURL: "/h5/checkin?ticket=" + api.store.IssueH5Ticket(s.AccountID, models.TicketCheckIn, visit.ID, checkInTicketTTL)}
	for i, p := range visit.CheckIns {
		n := nucleicViewOf(statuses[i].Nucleic, now, api.loc)
		resp.CheckIns = append(resp.CheckIns, checkInView{ID: p.ID, MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc,
			Colour: p.Colour, ColourText: p.Colour.Text(), Nucleic: &n})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, resp)
}

type registerResponse struct {
	CheckIns   []checkInView           `json:"checkins"`
	Counts     map[models.Colour]int64 `json:"counts"`
	NextCursor string                  `json:"next_cursor,omitempty"`
	From       string                  `json:"from"`
	To         string                  `json:"to"`
	ServerTime string                  `json:"server_time"`
}

var errBadPeriod = fault.Errorf(fault.KindInvalid, codeInvalidPeriod, "from、to 应为 RFC 3339 时间或 YYYY-MM-DD 日期，且 from 早于 to")

// period reads ?from=&to= (RFC 3339 times or dates in the service's time
// zone, to a date meaning the end of that day): by default everything kept.
func (api *API) period(c *gin.Context) (from, to time.Time, err error) {
	now := api.clock.Now()
	from, to = now.Add(-api.cfg.Retention.CheckIns.D()-24*time.Hour), now.Add(time.Second)
	parse := func(q string, end bool) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, q); err == nil {
			return t, nil
		}
		d, err := time.ParseInLocation(time.DateOnly, q, api.loc)
		if err != nil {
			return time.Time{}, errBadPeriod
		}
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	if q := c.Query("from"); q != "" {
		if from, err = parse(q, false); err != nil {
			return
		}
	}
	if q := c.Query("to"); q != "" {
		if to, err = parse(q, true); err != nil {
			return
		}
	}
	if !from.Before(to) {
		err = errBadPeriod
	}
	return
}

// register answers a page of a venue's register for its registrar or a
// deputy: masked, newest first, with the counts by colour; audited.
func (api *API) register(c *gin.Context, venueID string, from, to time.Time, limit int) {
	s, _ := sessionOf(c)
	page, err := api.store.CheckInsOf(c.Request.Context(), s.AccountID, venueID,
		models.CheckInQuery{From: from, To: to, Cursor: c.Query("cursor"), Limit: limit}, c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	resp := registerResponse{CheckIns: make([]checkInView, 0, len(page.CheckIns)), Counts: page.Counts, NextCursor: page.NextCursor,
		From: api.timestamp(from), To: api.timestamp(to), ServerTime: api.timestampMilli(api.clock.Now())}
	for _, r := range page.CheckIns {
		resp.CheckIns = append(resp.CheckIns, checkInView{ID: r.ID, MaskedName: r.MaskedName, MaskedDoc: r.MaskedDoc,
			Colour: r.Colour, ColourText: r.Colour.Text(), CheckedInAt: api.timestampMilli(r.CheckedInAt)})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// venueCheckIns answers a page of the register (at most 200, ?limit=).
func (api *API) venueCheckIns(c *gin.Context) {
	from, to, err := api.period(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	limit := 50
	if q := c.Query("limit"); q != "" {
		if limit, err = strconv.Atoi(q); err != nil || limit < 1 || limit > models.MaxCheckInPage {
			respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeInvalidLimit, "limit 应为1至200"))
			return
		}
	}
	api.register(c, c.Param("id"), from, to, limit)
}

// csvHeader is the export's header row.
var csvHeader = []string{"登记时间", "姓名", "证件号码", "健康码颜色"}

// venueCheckInsCSV streams the register of a period as CSV (UTF-8 with a
// byte-order mark, so a spreadsheet opens it), masked; audited.
func (api *API) venueCheckInsCSV(c *gin.Context) {
	from, to, err := api.period(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	var w *csv.Writer
	start := func() {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="checkins.csv"`)
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		c.Writer.WriteString("\uFEFF")
		w = csv.NewWriter(c.Writer)
		w.Write(csvHeader)
	}
	err = api.store.ExportCheckIns(c.Request.Context(), s.AccountID, c.Param("id"), from, to, c.GetString(ctxRequestID), func(r models.CheckIn) error {
		if w == nil {
			start()
		}
		return w.Write([]string{api.timestamp(r.CheckedInAt), cellText(r.MaskedName), cellText(r.MaskedDoc), r.Colour.Text()})
	})
	switch {
	case err != nil && w == nil:
		respondError(c, api.log, err)
		return
	case err != nil:
		// The answer has begun: the file ends short, and the log says why.
		api.log.ErrorContext(c.Request.Context(), "export check-ins", "request_id", c.GetString(ctxRequestID), "err", err)
	case w == nil:
		start()
	}
	w.Flush()
}

// cellText keeps a spreadsheet from reading a cell as a formula.
func cellText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// deleteVenueCheckIns deletes the register of a period (everything by
// default), for the registrar only; audited.
func (api *API) deleteVenueCheckIns(c *gin.Context) {
	from, to, err := api.period(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	n, err := api.store.DeleteCheckIns(c.Request.Context(), s.AccountID, c.Param("id"), from, to, c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": n})
}

// checkInPage serves a visit's result page (扫码登记成功), opened by the
// ticket of the check-in's answer.
func (api *API) checkInPage(c *gin.Context) { api.page(c, models.TicketCheckIn, "checkin.html") }

// venuePage serves a venue's live register, opened by a ticket of purpose
// venue.
func (api *API) venuePage(c *gin.Context) { api.page(c, models.TicketVenue, "venue.html") }

type pageVisitResponse struct {
	CheckIns    []checkInView `json:"checkins"`
	Venue       venuePlace    `json:"venue"`
	CheckedInAt string        `json:"checked_in_at"`
	ServerTime  string        `json:"server_time"`
	TimeZone    string        `json:"time_zone"`
}

// pageVisit answers the result page's data: the visit's people with the
// colour they had, the venue, and the times for the live clock.
func (api *API) pageVisit(c *gin.Context) {
	s, _ := sessionOf(c)
	visit, err := api.store.VisitOf(c.Request.Context(), s.AccountID, s.RelativeID)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	now := api.clock.Now()
	resp := pageVisitResponse{Venue: venuePlace{Name: visit.VenueName, Address: visit.VenueAddress},
		CheckedInAt: api.timestampMilli(visit.CheckIns[0].CheckedInAt), ServerTime: api.timestampMilli(now), TimeZone: api.loc.String()}
	for _, r := range visit.CheckIns {
		resp.CheckIns = append(resp.CheckIns, checkInView{ID: r.ID, MaskedName: r.MaskedName, MaskedDoc: r.MaskedDoc,
			Colour: r.Colour, ColourText: r.Colour.Text()})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// pageRegister answers the live register page: today's newest check-ins.
func (api *API) pageRegister(c *gin.Context) {
	s, _ := sessionOf(c)
	now := api.clock.Now().In(api.loc)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, api.loc)
	api.register(c, s.RelativeID, from, now.Add(time.Second), 50)
}
