package handlers

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
)

type venueRequest struct {
	Name       string `json:"name"`
	CreditCode string `json:"credit_code"`
	Address    string `json:"address"`
	District   string `json:"district"`
	Kind       string `json:"kind"`
}

// venueView is a venue as its registrar and deputies see it.
type venueView struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Address          string `json:"address"`
	District         string `json:"district"`
	Kind             string `json:"kind"`
	CreditCodeMasked string `json:"credit_code_masked"`
	State            string `json:"state"`
	QR               string `json:"qr"`
	CreatedAt        string `json:"created_at"`
	ReviewNote       string `json:"review_note,omitempty"`
}

// venueCode signs the venue's posted code: its id, name and address and
// the generation of its code, issued when the generation began and living
// as long as the venue (the registry revokes it). The same venue and
// generation sign to the same code with the same key.
func (api *API) venueCode(v *models.Venue) (string, error) {
	cti := sha256.Sum256(fmt.Appendf(nil, "venue:%s:%d", v.ID, v.Generation))
	return codetoken.Sign(api.keys.Active(), codetoken.Claims{
		Issuer: api.cfg.Region, Subject: v.ID, Kind: codetoken.KindVenue, Serial: v.Generation, ID: cti[:12],
		IssuedAt: v.CodeIssuedAt, ExpiresAt: v.CodeIssuedAt.Add(codetoken.VenueLifetime),
		VenueName: v.Name, VenueAddress: v.Address,
	})
}

func (api *API) venueViewOf(v *models.Venue) (venueView, error) {
	out := venueView{ID: v.ID, Name: v.Name, Address: v.Address, District: v.District, Kind: v.Kind,
		CreditCodeMasked: v.CreditCodeMasked(), State: v.State, CreatedAt: api.timestamp(v.CreatedAt), ReviewNote: v.ReviewNote}
	if v.State == models.VenueActive || v.State == models.VenuePendingReview {
		qr, err := api.venueCode(v)
		if err != nil {
			return venueView{}, err
		}
		out.QR = qr
	}
	return out, nil
}

// respondVenue answers a venue after a change, once this node's registry
// holds the change.
func (api *API) respondVenue(c *gin.Context, status int, v *models.Venue, err error) {
	if err == nil {
		err = api.store.RefreshVenues(c.Request.Context(), api.venues)
	}
	var view venueView
	if err == nil {
		view, err = api.venueViewOf(v)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, view)
}

// registerVenue registers a venue for a green, face-verified caller, who
// becomes its registrar: active at once for a valid credit code, pending an
// operator's review for one whose check digit fails.
func (api *API) registerVenue(c *gin.Context) {
	var req venueRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	if api.status.Of(s.PersonNo).Colour != models.Green {
		respondError(c, api.log, models.ErrRegistrarNotGreen)
		return
	}
	v, err := api.store.RegisterVenue(c.Request.Context(), s.AccountID, s.PersonNo, models.VenueApplication{
		Name: req.Name, CreditCode: req.CreditCode, Address: req.Address, District: strings.TrimSpace(req.District), Kind: req.Kind,
	}, c.GetString(ctxRequestID))
	api.respondVenue(c, http.StatusCreated, v, err)
}

// listVenues answers the venues the caller registered or deputises for.
func (api *API) listVenues(c *gin.Context) {
	s, _ := sessionOf(c)
	venues, err := api.store.VenuesOf(c.Request.Context(), s.AccountID)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	out := make([]venueView, 0, len(venues))
	for i := range venues {
		v, err := api.venueViewOf(&venues[i])
		if err != nil {
			respondError(c, api.log, err)
			return
		}
		out = append(out, v)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"venues": out})
}

// endVenue ends a venue: its code verifies as revoked from then on.
func (api *API) endVenue(c *gin.Context) {
	s, _ := sessionOf(c)
	v, err := api.store.EndVenue(c.Request.Context(), s.AccountID, c.Param("id"), c.GetString(ctxRequestID))
	api.respondVenue(c, http.StatusOK, v, err)
}

// rotateVenue makes a new code for a venue; the old posters answer revoked.
func (api *API) rotateVenue(c *gin.Context) {
	s, _ := sessionOf(c)
	v, err := api.store.RotateVenueCode(c.Request.Context(), s.AccountID, c.Param("id"), c.GetString(ctxRequestID))
	api.respondVenue(c, http.StatusOK, v, err)
}

type deputyRequest struct {
	AccountID string `json:"account_id"`
}

// addVenueDeputy lets another account view a venue's records.
func (api *API) addVenueDeputy(c *gin.Context) {
	var req deputyRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	deputy := strings.TrimSpace(req.AccountID)
	if err := api.store.AddVenueDeputy(c.Request.Context(), s.AccountID, c.Param("id"), deputy, c.GetString(ctxRequestID)); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"venue_id": c.Param("id"), "account_id": deputy})
}

// venueReviewView is a venue awaiting review as an operator sees it: the
// organisation's credit code in full (it is the organisation's public
// identifier, not a person's).
type venueReviewView struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Address            string `json:"address"`
	District           string `json:"district"`
	Kind               string `json:"kind"`
	CreditCode         string `json:"credit_code"`
	State              string `json:"state"`
	RegistrarAccountID string `json:"registrar_account_id"`
	CreatedAt          string `json:"created_at"`
	Note               string `json:"note,omitempty"`
}

// listVenueReviews answers venues awaiting review (or of another state),
// oldest first; audited.
func (api *API) listVenueReviews(c *gin.Context) {
	state := c.DefaultQuery("status", models.VenuePendingReview)
	switch state {
	case models.VenuePendingReview, models.VenueActive, models.VenueRejected:
	default:
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeInvalidStatus, "status 只能是 pending_review、active 或 rejected"))
		return
	}
	ctx := c.Request.Context()
	venues, err := api.store.VenueReviews(ctx, state)
	if err == nil {
		err = api.store.Audit(ctx, models.AuditEntry{Actor: c.GetString(ctxOperator), Action: "venue.review_list",
			Subject: state, RequestID: c.GetString(ctxRequestID)})
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	out := make([]venueReviewView, 0, len(venues))
	for _, v := range venues {
		out = append(out, venueReviewView{ID: v.ID, Name: v.Name, Address: v.Address, District: v.District, Kind: v.Kind,
			CreditCode: v.CreditCode, State: v.State, RegistrarAccountID: v.RegistrarAccountID, CreatedAt: api.timestamp(v.CreatedAt), Note: v.ReviewNote})
	}
	c.JSON(http.StatusOK, gin.H{"reviews": out})
}

// decideVenueReview approves or rejects a venue pending review.
func (api *API) decideVenueReview(c *gin.Context) {
	var req reviewDecision
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	v, err := api.store.DecideVenueReview(c.Request.Context(), c.Param("id"), req.Decision, strings.TrimSpace(req.Note),
		c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshVenues(c.Request.Context(), api.venues)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": v.ID, "state": v.State, "note": v.ReviewNote})
}
