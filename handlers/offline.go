package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/codetoken"
)

// offlineCodeResponse is an offline (paper) code: no colour, verifiers
// read the live one.
type offlineCodeResponse struct {
	ID         string `json:"id"`
	Serial     int64  `json:"serial"`
	QR         string `json:"qr"`
	MaskedName string `json:"masked_name"`
	MaskedDoc  string `json:"masked_doc"`
	IssuedAt   string `json:"issued_at"`
	ExpiresAt  string `json:"expires_at"`
	PrintURL   string `json:"print_url"`
}

// offlineAnswer signs the paper code of code, held by p.
func (api *API) offlineAnswer(code *models.OfflineCode, p *models.Person) (offlineCodeResponse, error) {
	qr, err := codetoken.Sign(api.keys.Active(), codetoken.Claims{
		Issuer: api.cfg.Region, Subject: p.ID, PersonNo: p.No, Kind: codetoken.KindOffline, ID: code.CodeID(),
		IssuedAt: code.IssuedAt, ExpiresAt: code.ExpiresAt, MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc, Serial: code.Serial,
	})
	if err != nil {
		return offlineCodeResponse{}, err
	}
	return offlineCodeResponse{ID: code.ID, Serial: code.Serial, QR: qr, MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc,
		IssuedAt: api.timestamp(code.IssuedAt), ExpiresAt: api.timestamp(code.ExpiresAt),
		PrintURL: "/h5/offline/print?code=" + code.ID}, nil
}

// offlineSubject returns whose offline code the request is about: the
// session's own person, or the approved relative of link :id. Either needs
// today's face verification.
func (api *API) offlineSubject(c *gin.Context) (personID string, err error) {
	s, _ := sessionOf(c)
	if err := api.faceToday(s); err != nil {
		return "", err
	}
	linkID := c.Param("id")
	if linkID == "" {
		return s.PersonID, nil
	}
	link, err := api.store.RelativeOf(c.Request.Context(), s.AccountID, linkID)
	if err != nil {
		return "", err
	}
	return link.PersonID, nil
}

// issueOfflineCode issues (or reissues) an offline code to the caller or
// their relative: POST /me/offline-code, /relatives/:id/offline-code.
func (api *API) issueOfflineCode(c *gin.Context) {
	api.offlineAction(c, func(ctx context.Context, personID, actor, requestID string) (*models.OfflineCode, *models.Person, error) {
		code, p, err := api.store.IssueOfflineCode(ctx, personID, actor, requestID)
		if err == nil {
			api.refreshOffline(ctx)
		}
		return code, p, err
	}, http.StatusCreated)
}

// currentOfflineCode answers the live offline code again for download or
// printing: GET on the same paths.
func (api *API) currentOfflineCode(c *gin.Context) {
	api.offlineAction(c, func(ctx context.Context, personID, _, _ string) (*models.OfflineCode, *models.Person, error) {
		return api.store.CurrentOfflineCode(ctx, personID)
	}, http.StatusOK)
}

func (api *API) offlineAction(c *gin.Context, act func(ctx context.Context, personID, actor, requestID string) (*models.OfflineCode, *models.Person, error), status int) {
	personID, err := api.offlineSubject(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	code, p, err := act(c.Request.Context(), personID, "account:"+s.AccountID, c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	resp, err := api.offlineAnswer(code, p)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, resp)
}

// reportOfflineLoss revokes the current offline code without issuing one
// (挂失): POST /me/offline-code/loss, /relatives/:id/offline-code/loss.
func (api *API) reportOfflineLoss(c *gin.Context) {
	personID, err := api.offlineSubject(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	if err := api.store.ReportOfflineLoss(c.Request.Context(), personID, "account:"+s.AccountID, c.GetString(ctxRequestID)); err != nil {
		respondError(c, api.log, err)
		return
	}
	api.refreshOffline(c.Request.Context())
	c.JSON(http.StatusOK, gin.H{"result": "revoked", "reason": models.ReasonReportedLost})
}

// refreshOffline brings this node's offline book up to a change it made at
// once (the other nodes' at their next poll); a failure waits for the poll.
func (api *API) refreshOffline(ctx context.Context) {
	if api.offline == nil {
		return
	}
	if err := api.store.RefreshOffline(ctx, api.offline); err != nil {
		api.log.Warn("refresh offline codes after a change", "err", err)
	}
}

var errBadSince = models.Errorf(models.KindInvalid, "bad_since", "since 须为非负整数")

// offlineRevoked serves the revocation feed to verifiers: GET
// /offline-codes/revoked?since=<seq>.
func (api *API) offlineRevoked(c *gin.Context) {
	s, _ := sessionOf(c)
	if _, err := api.verifiers.Place(s.AccountID); err != nil {
		respondError(c, api.log, err)
		return
	}
	since, err := strconv.ParseInt(c.DefaultQuery("since", "0"), 10, 64)
	if err != nil || since < 0 {
		respondError(c, api.log, errBadSince)
		return
	}
	feed, err := api.store.OfflineRevocations(c.Request.Context(), since)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, feed)
}
