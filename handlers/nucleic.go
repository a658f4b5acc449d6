package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/codetoken"
)

// maxNucleicCodes bounds how many 核酸码 the node remembers; beyond it a
// person asking again may get a new code (which is as valid as the old).
const maxNucleicCodes = 1 << 18

// nucleicCodeResponse is a 核酸码: it identifies a person at a sampling point
// and carries no colour, so a screenshot or a printout serves.
type nucleicCodeResponse struct {
	QR         string `json:"qr"`
	Kind       string `json:"kind"`
	MaskedName string `json:"masked_name"`
	MaskedDoc  string `json:"masked_doc"`
	IssuedAt   string `json:"issued_at"`
	ExpiresAt  string `json:"expires_at"`
}

// myNucleicCode shows the caller's 核酸码 (identity bound, face verified
// today), from memory like the dynamic code.
func (api *API) myNucleicCode(c *gin.Context) {
	s, _ := sessionOf(c)
	if err := api.faceToday(s); err != nil {
		respondError(c, api.log, err)
		return
	}
	resp, err := api.signNucleicCode(ownNucleicClaims(s))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// relativeNucleicCode shows an approved relative's 核酸码 to the holder,
// audited.
func (api *API) relativeNucleicCode(c *gin.Context) {
	s, _ := sessionOf(c)
	resp, err := api.relativeNucleic(c.Request.Context(), s, c.Param("id"), c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// relativeNucleic signs the 核酸码 of the relative of an approved link and
// audits it. Errors: the session's (face today), the link's (not found).
func (api *API) relativeNucleic(ctx context.Context, s models.Session, linkID, requestID string) (nucleicCodeResponse, error) {
	if err := api.faceToday(s); err != nil {
		return nucleicCodeResponse{}, err
	}
	link, err := api.store.RelativeOf(ctx, s.AccountID, linkID)
	if err != nil {
		return nucleicCodeResponse{}, err
	}
	// The code names the link, so it stops identifying the relative (at
	// a sampling point) when the link ends.
	claims := codetoken.Claims{Subject: link.PersonID, PersonNo: link.PersonNo, Kind: codetoken.KindNucleic,
		MaskedName: link.MaskedName, MaskedDoc: link.MaskedDoc, Holder: s.AccountID, Link: link.ID}
	resp, err := api.signNucleicCode(claims)
	if err != nil {
		return nucleicCodeResponse{}, err
	}
	err = api.store.Audit(ctx, models.AuditEntry{Actor: "account:" + s.AccountID, Action: "relative.nucleic_code",
		Subject: link.ID, Detail: "person=" + link.PersonID, RequestID: requestID})
	return resp, err
}

// ownNucleicClaims are the claims of the session's own 核酸码.
func ownNucleicClaims(s models.Session) codetoken.Claims {
	return codetoken.Claims{Subject: s.PersonID, PersonNo: s.PersonNo, Kind: codetoken.KindNucleic, MaskedName: s.MaskedName, MaskedDoc: s.MaskedDoc}
}

// signNucleicCode hands out the 核酸码 of claims (subject, names, and a
// relative's holder and link): the one signed less than half its life ago
// (by the key still active), or a new one.
func (api *API) signNucleicCode(claims codetoken.Claims) (nucleicCodeResponse, error) {
	now := api.clock.Now()
	key := api.keys.Active()
	cacheKey := codeKey(claims)
	code, ok := api.nucleicCodes.get(cacheKey, "", key.ID, now, codetoken.NucleicLifetime/2)
	if !ok {
		claims.Issuer = api.cfg.Region
		claims.IssuedAt = now
		claims.ExpiresAt = now.Add(codetoken.NucleicLifetime)
		qr, err := codetoken.Sign(key, claims)
		if err != nil {
			return nucleicCodeResponse{}, err
		}
		code = api.cachedCode(qr, key.ID, claims)
		api.nucleicCodes.put(cacheKey, code, now)
	}
	return nucleicCodeResponse{
		QR: code.qr, Kind: codetoken.KindNucleic, MaskedName: claims.MaskedName, MaskedDoc: claims.MaskedDoc,
		IssuedAt: code.issuedText, ExpiresAt: code.expiresText,
	}, nil
}

// nucleicView is a person's latest nucleic-acid result as code and verify
// answers carry it, from memory. Result is negative, positive (a positive
// mixed tube too: the colour says it awaits a single-tube retest) or none;
// the times are absent when there is none.
type nucleicView struct {
	Result             string `json:"result"`
	SampledAt          string `json:"sampled_at,omitempty"`
	TestedAt           string `json:"tested_at,omitempty"`
	HoursSinceSampling *int   `json:"hours_since_sampling,omitempty"`
}

// nucleicViewOf shows n as of now, its times in loc.
func nucleicViewOf(n models.NucleicStatus, now time.Time, loc *time.Location) nucleicView {
	v := nucleicView{Result: "none"}
	switch n.Result {
	case models.NucleicNegative:
		v.Result = "negative"
	case models.NucleicPositive, models.NucleicMixedPositive:
		v.Result = "positive"
	default:
		return v
	}
	v.SampledAt = n.SampledAt.In(loc).Format(time.RFC3339)
	if !n.TestedAt.IsZero() {
		v.TestedAt = n.TestedAt.In(loc).Format(time.RFC3339)
	}
	hours := max(int(now.Sub(n.SampledAt)/time.Hour), 0)
	v.HoursSinceSampling = &hours
	return v
}

// pageNucleicCodeResponse is the 核酸码 page's data: the code and its QR as
// inline SVG.
type pageNucleicCodeResponse struct {
	nucleicCodeResponse
	QRSVG    string `json:"qr_svg"`
	TimeZone string `json:"time_zone"`
}

// nucleicPage serves the 核酸码 page (/h5/nucleic), opened with a ticket of
// purpose "nucleic" like the other pages.
func (api *API) nucleicPage(c *gin.Context) { api.page(c, models.TicketNucleic, "nucleic.html") }

// pageNucleicCode answers the 核酸码 page's data: the caller's own code, or
// a relative's (audited) when the page was opened for one.
func (api *API) pageNucleicCode(c *gin.Context) {
	s, _ := sessionOf(c)
	var resp nucleicCodeResponse
	var err error
	if s.RelativeID != "" {
		resp, err = api.relativeNucleic(c.Request.Context(), s, s.RelativeID, c.GetString(ctxRequestID))
	} else if err = api.faceToday(s); err == nil {
		resp, err = api.signNucleicCode(ownNucleicClaims(s))
	}
	api.respondPageCode(c, resp.QR, err, func(svg string) any {
		return pageNucleicCodeResponse{nucleicCodeResponse: resp, QRSVG: svg, TimeZone: api.loc.String()}
	})
}
