package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/miniprogram"
	"healthcode/models"
	"healthcode/models/fault"
)

// Optional platform abilities, found by type assertion.
type (
	phoneReader       interface{ miniprogram.PhoneReader }
	legacyFaceQuerier interface {
		QueryLegacyFace(ctx context.Context, verifyResult string, q miniprogram.FaceQuery) (miniprogram.FaceResult, error)
	}
	notificationVerifier interface{ VerifyNotification(form url.Values) error }
	sandboxDecider       interface {
		Decide(verifyID string, passed bool) error
	}
)

type faceStartResponse struct {
	Provider  string `json:"provider"`
	VerifyID  string `json:"verify_id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

type faceCallbackRequest struct {
	VerifyID string `json:"verify_id"`
	// CertifyID is Alipay's name for the ticket.
	CertifyID string `json:"certify_id"`
	// VerifyResult is the ticket of WeChat's older
	// wx.startFacialRecognitionVerify flow.
	VerifyResult string `json:"verify_result"`
}

type faceCallbackResponse struct {
	VerifyID string `json:"verify_id"`
	// Status is passed, failed, expired (the result came after the
	// verification's expires_at and counts for nothing), or pending (not
	// finished; nothing recorded).
	Status string `json:"status"`
	*sessionResponse
}

type sandboxFaceRequest struct {
	Outcome string `json:"outcome"`
}

// startFace starts a face verification of the caller against the identity
// it holds, or else the one it claims: the platform checks the name and the
// document together against the face.
func (api *API) startFace(c *gin.Context) {
	a, err := api.currentAccount(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	id, err := api.store.AccountIdentity(c.Request.Context(), a)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	platform, err := api.platformOf(a)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	name, number, err := api.store.UnsealIdentity(id)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	orderNo := models.NewFaceOrderNo()
	ticket, err := platform.StartFace(c.Request.Context(), miniprogram.FaceRequest{
		OrderNo: orderNo, UserID: a.PlatformUserID, Name: name, DocType: id.DocType, DocNumber: number,
	})
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	fv := &models.FaceVerification{
		ID: orderNo, VerifyID: ticket.VerifyID, Provider: platform.Name(),
		AccountID: a.ID, PersonID: id.PersonID, ClaimID: id.ClaimID, ExpiresAt: ticket.ExpiresAt.UTC(),
	}
	if err := api.store.CreateFaceVerification(c.Request.Context(), fv, c.GetString(ctxRequestID)); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, faceStartResponse{
		Provider: platform.Name(), VerifyID: ticket.VerifyID, URL: ticket.URL, ExpiresAt: api.timestamp(ticket.ExpiresAt),
	})
}

// faceCallback is the mini-program saying a face verification finished. It
// is never trusted: the platform is asked, once; a repeat answers the
// recorded outcome.
func (api *API) faceCallback(c *gin.Context) {
	var req faceCallbackRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	a, err := api.currentAccount(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	var fv *models.FaceVerification
	var result miniprogram.FaceResult
	switch verifyID := firstNonEmpty(req.VerifyID, req.CertifyID); {
	case verifyID != "":
		fv, result, err = api.checkFace(c, a, verifyID)
	case req.VerifyResult != "":
		fv, result, err = api.checkLegacyFace(c, a, req.VerifyResult)
	default:
		err = fault.Errorf(fault.KindInvalid, codeVerifyIDRequired, "缺少核验编号")
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	if result.Pending {
		c.JSON(http.StatusOK, faceCallbackResponse{VerifyID: fv.VerifyID, Status: models.FacePending})
		return
	}
	if fv.Status == models.FacePassed {
		// A first binding may have logged the person's listed colour: this
		// node shows it at once, not at its next poll.
		if err := api.store.RefreshStatus(c.Request.Context(), api.status); err != nil {
			api.log.WarnContext(c.Request.Context(), "refresh status after a face check", "request_id", c.GetString(ctxRequestID), "err", err)
		}
	}
	// Reload: a pass changes the account, and the token must say so.
	if a, err = api.store.AccountByID(c.Request.Context(), a.ID); err != nil {
		respondError(c, api.log, err)
		return
	}
	session, err := api.sessionFor(c.Request.Context(), a)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, faceCallbackResponse{VerifyID: fv.VerifyID, Status: fv.Status, sessionResponse: &session})
}

// checkFace completes a verification started with startFace.
func (api *API) checkFace(c *gin.Context, a *models.Account, verifyID string) (*models.FaceVerification, miniprogram.FaceResult, error) {
	fv, err := api.store.FaceVerificationFor(c.Request.Context(), a.ID, verifyID)
	if err != nil || fv.Status != models.FacePending {
		return fv, miniprogram.FaceResult{}, err
	}
	return api.completeFace(c, a, fv, api.platformQuery(c.Request.Context(), a))
}

// platformQuery asks the account's platform how a verification ended.
func (api *API) platformQuery(ctx context.Context, a *models.Account) func(miniprogram.FaceQuery) (miniprogram.FaceResult, error) {
	return func(q miniprogram.FaceQuery) (miniprogram.FaceResult, error) {
		platform, err := api.platformOf(a)
		if err != nil {
			return miniprogram.FaceResult{}, err
		}
		return platform.QueryFace(ctx, q)
	}
}

// checkLegacyFace records and checks a verification of WeChat's older flow,
// which the mini-program starts by itself; the ticket is kept hashed so a
// replay finds the recorded outcome.
func (api *API) checkLegacyFace(c *gin.Context, a *models.Account, verifyResult string) (*models.FaceVerification, miniprogram.FaceResult, error) {
	platform, err := api.platformOf(a)
	if err != nil {
		return nil, miniprogram.FaceResult{}, err
	}
	legacy, ok := platform.(legacyFaceQuerier)
	if !ok {
		return nil, miniprogram.FaceResult{}, fault.Errorf(fault.KindInvalid, codeVerifyIDRequired, "缺少核验编号")
	}
	sum := sha256.Sum256([]byte(verifyResult))
	verifyID := "wxr_" + hex.EncodeToString(sum[:20])
	fv, err := api.store.FaceVerificationFor(c.Request.Context(), a.ID, verifyID)
	if fault.KindOf(err) == fault.KindNotFound {
		id, ierr := api.store.AccountIdentity(c.Request.Context(), a)
		if ierr != nil {
			return nil, miniprogram.FaceResult{}, ierr
		}
		// The mini-program ran this check by itself just now: the result is
		// asked for at once, and counts for the day the platform says.
		fv = &models.FaceVerification{ID: models.NewFaceOrderNo(), VerifyID: verifyID, Provider: platform.Name(),
			AccountID: a.ID, PersonID: id.PersonID, ClaimID: id.ClaimID, ExpiresAt: api.clock.Now().Add(legacyFaceWindow).UTC()}
		err = api.store.CreateFaceVerification(c.Request.Context(), fv, c.GetString(ctxRequestID))
	}
	if err != nil || fv.Status != models.FacePending {
		return fv, miniprogram.FaceResult{}, err
	}
	return api.completeFace(c, a, fv, func(q miniprogram.FaceQuery) (miniprogram.FaceResult, error) {
		return legacy.QueryLegacyFace(c.Request.Context(), verifyResult, q)
	})
}

// legacyFaceWindow is how long after the mini-program reports a check of
// the older flow its result may still be recorded.
const legacyFaceWindow = 10 * time.Minute

// completeFace asks the platform through query and records its verdict.
func (api *API) completeFace(c *gin.Context, a *models.Account, fv *models.FaceVerification,
	query func(miniprogram.FaceQuery) (miniprogram.FaceResult, error),
) (*models.FaceVerification, miniprogram.FaceResult, error) {
	id, err := api.store.FaceIdentity(c.Request.Context(), fv)
	if err != nil {
		return nil, miniprogram.FaceResult{}, err
	}
	name, number, err := api.store.UnsealIdentity(id)
	if err != nil {
		return nil, miniprogram.FaceResult{}, err
	}
	result, err := query(miniprogram.FaceQuery{
		VerifyID: fv.VerifyID, OrderNo: fv.ID, UserID: a.PlatformUserID, Name: name, DocType: id.DocType, DocNumber: number,
	})
	if err != nil || result.Pending {
		return fv, result, err
	}
	fv, err = api.store.CompleteFaceVerification(c.Request.Context(), fv,
		models.FaceOutcome{Passed: result.Passed, Detail: result.Detail, PassedAt: result.PassedAt}, c.GetString(ctxRequestID))
	return fv, result, err
}

// alipayNotify takes Alipay's signed asynchronous notification. The
// signature is checked on the form body alone; the outcome is then confirmed
// by query, never taken from the notification; a repeat changes nothing.
func (api *API) alipayNotify(c *gin.Context) {
	verifier, ok := api.platforms[models.PlatformAlipay].(notificationVerifier)
	if !ok {
		respondError(c, api.log, errNotFound)
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeInvalidForm, "通知内容无法解析").Wrap(err))
		return
	}
	form := c.Request.PostForm
	if err := verifier.VerifyNotification(form); err != nil {
		api.log.WarnContext(c.Request.Context(), "alipay notification refused", "request_id", c.GetString(ctxRequestID), "err", err)
		respondError(c, api.log, err)
		return
	}
	certifyID := form.Get("certify_id")
	fv, err := api.store.FaceVerificationByVerifyID(c.Request.Context(), certifyID)
	switch {
	case fault.KindOf(err) == fault.KindNotFound:
		// Not ours (or not a face notification): acknowledge so Alipay stops.
		api.log.WarnContext(c.Request.Context(), "alipay notification for an unknown certification", "request_id", c.GetString(ctxRequestID))
	case err != nil:
		respondError(c, api.log, err)
		return
	case fv.Status == models.FacePending:
		a, err := api.store.AccountByID(c.Request.Context(), fv.AccountID)
		if err == nil {
			_, _, err = api.completeFace(c, a, fv, api.platformQuery(c.Request.Context(), a))
		}
		if err != nil {
			respondError(c, api.log, err) // not "success": Alipay retries
			return
		}
	}
	c.String(http.StatusOK, "success")
}

// sandboxDecideFace records "pass" or "fail" pressed on the sandbox page.
func (api *API) sandboxDecideFace(c *gin.Context) {
	var req sandboxFaceRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	if req.Outcome != "pass" && req.Outcome != "fail" {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeInvalidOutcome, "outcome 只能是 pass 或 fail"))
		return
	}
	decider, ok := api.platforms[models.PlatformSandbox].(sandboxDecider)
	if !ok {
		respondError(c, api.log, errNotFound)
		return
	}
	if err := decider.Decide(c.Param("verify_id"), req.Outcome == "pass"); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"verify_id": c.Param("verify_id"), "outcome": req.Outcome})
}

// platformOf returns the platform an account logs in with, or a 503 when it
// is not enabled on this server.
func (api *API) platformOf(a *models.Account) (miniprogram.Platform, error) {
	p, ok := api.platforms[a.Platform]
	if !ok {
		return nil, fault.Errorf(fault.KindUnavailable, codePlatformDisabled, "该平台暂未开通")
	}
	return p, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
