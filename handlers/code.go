package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
)

// codeResponse is a dynamic code and what the page shows beside it.
type codeResponse struct {
	QR         string        `json:"qr"`
	Kind       string        `json:"kind"`
	Colour     models.Colour `json:"colour"`
	ColourText string        `json:"colour_text"`
	MaskedName string        `json:"masked_name"`
	MaskedDoc  string        `json:"masked_doc"`
	IssuedAt   string        `json:"issued_at"`
	ExpiresAt  string        `json:"expires_at"`
	ValidUntil string        `json:"valid_until"`
	ServerTime string        `json:"server_time"`
	// Relation, RelationText and HolderMaskedName are set on a relative's
	// code: how the relative is related to the holder (child, 子女) and
	// whose account holds the code.
	Relation         string      `json:"relation,omitempty"`
	RelationText     string      `json:"relation_text,omitempty"`
	HolderMaskedName string      `json:"holder_masked_name,omitempty"`
	Nucleic          nucleicView `json:"nucleic"`
}

type verifyRequest struct {
	QR string `json:"qr"`
}

// verifyResponse is a scan's outcome. Holder data is present only when the
// code is valid.
type verifyResponse struct {
	Result     string        `json:"result"`
	Reason     string        `json:"reason,omitempty"`
	Colour     models.Colour `json:"colour,omitempty"`
	ColourText string        `json:"colour_text,omitempty"`
	MaskedName string        `json:"masked_name,omitempty"`
	MaskedDoc  string        `json:"masked_doc,omitempty"`
	Kind       string        `json:"kind,omitempty"`
	CheckedAt  string        `json:"checked_at"`
	// ReasonText says Reason in words staff can act on.
	ReasonText string `json:"reason_text,omitempty"`
	// Place is where the verifier verifies; ScansToday how many scans they
	// made today on this node, this one included (absent when the node's
	// counter is full). Both are absent from `app verify`, which has no
	// verifier.
	Place      string       `json:"place,omitempty"`
	ScansToday *int         `json:"scans_today,omitempty"`
	Nucleic    *nucleicView `json:"nucleic,omitempty"`
	// CheckIDDocument asks staff to compare the holder's ID card: set on
	// a valid offline (paper) code, which anyone may carry.
	CheckIDDocument bool `json:"check_id_document,omitempty"`
}

// Errors of the show-code path.
var (
	errFaceRequired = fault.Errorf(fault.KindForbidden, fault.CodeFaceRequired, "请先完成今日人脸核验")
)

// myCode shows the caller's dynamic code. It reads nothing from the
// database: the session carries the handle and masked data, the status book
// and the signing key are in memory.
func (api *API) myCode(c *gin.Context) {
	s, _ := sessionOf(c)
	resp, err := api.personalCode(s)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// faceToday says whether the session may show codes and act for relatives:
// an identity bound and face verification passed today.
func (api *API) faceToday(s models.Session) error {
	switch {
	case s.PersonID == "" && s.Claimed:
		return errFaceRequired // the claim binds once a face check passes
	case s.PersonID == "":
		return models.ErrIdentityRequired
	case !api.sessions.FaceVerifiedToday(s):
		return errFaceRequired
	}
	return nil
}

// personalCode signs a fresh code for the session's own person.
func (api *API) personalCode(s models.Session) (codeResponse, error) {
	if err := api.faceToday(s); err != nil {
		return codeResponse{}, err
	}
	return api.signCode(codetoken.Claims{
		Subject: s.PersonID, PersonNo: s.PersonNo, Kind: codetoken.KindPersonal, MaskedName: s.MaskedName, MaskedDoc: s.MaskedDoc,
	})
}

// signCode completes claims (issuer, times, current colour) and signs them,
// or hands out the same code signed moments ago when nothing changed.
func (api *API) signCode(claims codetoken.Claims) (codeResponse, error) {
	now := api.clock.Now()
	status := api.status.Of(claims.PersonNo)
	key := api.keys.Active()
	cacheKey := codeKey(claims)
	code, ok := api.codes.get(cacheKey, string(status.Colour), key.ID, now, min(codeReuse, api.cfg.CodeTTL.D()/4))
	if !ok {
		claims.Issuer = api.cfg.Region
		claims.IssuedAt = now
		claims.ExpiresAt = now.Add(api.cfg.CodeTTL.D())
		claims.Colour = string(status.Colour)
		qr, err := codetoken.Sign(key, claims)
		if err != nil {
			return codeResponse{}, err
		}
		code = api.cachedCode(qr, key.ID, claims)
		api.codes.put(cacheKey, code, now)
	}
	return codeResponse{
		QR: code.qr, Kind: claims.Kind, Colour: status.Colour, ColourText: status.Colour.Text(),
		MaskedName: claims.MaskedName, MaskedDoc: claims.MaskedDoc,
		IssuedAt: code.issuedText, ExpiresAt: code.expiresText,
		ValidUntil: api.days.Of(now).EndText, ServerTime: api.timestampMilli(now),
		Nucleic: nucleicViewOf(status.Nucleic, now, api.loc),
	}, nil
}

// cachedCode is a freshly signed code as the code caches keep it.
func (api *API) cachedCode(qr, kid string, claims codetoken.Claims) cachedCode {
	return cachedCode{qr: qr, colour: claims.Colour, kid: kid, issuedAt: claims.IssuedAt, expires: claims.ExpiresAt,
		issuedText: api.timestamp(claims.IssuedAt), expiresText: api.timestamp(claims.ExpiresAt)}
}

// jwks publishes the code-signing public keys; verifiers and peer regions
// check codes with them and no call to us.
func (api *API) jwks(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, gin.H{"keys": api.keys.JWKS()})
}

// verify checks a scanned code for a verifier and records the scan.
func (api *API) verify(c *gin.Context) {
	if resp, _, ok := api.scan(c); ok {
		c.JSON(http.StatusOK, resp)
	}
}

// scan reads a verify request and checks its code for the session's
// verifier; on failure it has answered the error and reports false.
func (api *API) scan(c *gin.Context) (verifyResponse, models.Session, bool) {
	var req verifyRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return verifyResponse{}, models.Session{}, false
	}
	s, _ := sessionOf(c)
	resp, err := api.checkCode(c.Request.Context(), s.AccountID, req.QR)
	if err != nil {
		respondError(c, api.log, err)
		return verifyResponse{}, s, false
	}
	c.Header("Cache-Control", "no-store")
	return resp, s, true
}

// checkCode verifies qr for the verifier account and records the scan. A
// code that does not pass is a 200 answer saying why, without holder data.
func (api *API) checkCode(ctx context.Context, verifierID, qr string) (verifyResponse, error) {
	place, err := api.verifiers.Place(verifierID)
	if err != nil {
		return verifyResponse{}, err
	}
	v, err := api.checker.Check(ctx, qr)
	if err != nil {
		return verifyResponse{}, err
	}
	// The answer waits until the record is committed with its batch: no
	// verification answered is ever lost.
	if err := api.verifications.Submit(ctx, v.Record(verifierID, place)); err != nil {
		return verifyResponse{}, err
	}
	resp := verifyAnswerOf(v, api.loc)
	resp.Place = place
	if n, ok := api.scans.add(verifierID, v.CheckedAt); ok {
		resp.ScansToday = &n
	}
	return resp, nil
}

// VerifyAnswer is the verify API's answer to a verdict, its time in loc:
// what scanners get and `app verify` prints. Holder data only when valid.
func VerifyAnswer(v models.Verdict, loc *time.Location) any { return verifyAnswerOf(v, loc) }

func verifyAnswerOf(v models.Verdict, loc *time.Location) verifyResponse {
	resp := verifyResponse{Result: v.Result, Reason: v.Reason, ReasonText: models.ReasonText(v.Reason),
		CheckedAt: timestampMilli(v.CheckedAt, loc)}
	if v.Result == models.ResultValid {
		resp.Colour, resp.ColourText = v.Status.Colour, v.Status.Colour.Text()
		resp.MaskedName, resp.MaskedDoc, resp.Kind = v.Claims.MaskedName, v.Claims.MaskedDoc, v.Claims.Kind
		n := nucleicViewOf(v.Status.Nucleic, v.CheckedAt, loc)
		resp.Nucleic = &n
		resp.CheckIDDocument = v.Claims.Kind == codetoken.KindOffline
	}
	return resp
}

// timestampMilli formats t as RFC 3339 with milliseconds, for clocks the
// pages synchronise to.
func (api *API) timestampMilli(t time.Time) string { return timestampMilli(t, api.loc) }

func timestampMilli(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04:05.000Z07:00")
}
