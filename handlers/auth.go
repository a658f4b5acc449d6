package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/fault"
)

// ctxSession is the gin context key of the caller's verified session.
const ctxSession = "session"

// accountView is an account as the mini-programs see it.
type accountView struct {
	ID                string `json:"id"`
	Platform          string `json:"platform"`
	IdentityBound     bool   `json:"identity_bound"`
	IdentityPending   bool   `json:"identity_pending"`
	FaceVerifiedToday bool   `json:"face_verified_today"`
	// FaceValidUntil is 24:00 of the day face verification passed, while
	// that is today.
	FaceValidUntil string `json:"face_valid_until,omitempty"`
	MaskedPhone    string `json:"masked_phone,omitempty"`
}

// sessionResponse answers a login, and any change that renews the token.
type sessionResponse struct {
	Token     string      `json:"token"`
	ExpiresAt string      `json:"expires_at"`
	Account   accountView `json:"account"`
}

type wechatLoginRequest struct {
	Code string `json:"code"`
}

type alipayLoginRequest struct {
	AuthCode string `json:"auth_code"`
}

type sandboxLoginRequest struct {
	User string `json:"user"`
}

// loginWeChat exchanges a wx.login code.
func (api *API) loginWeChat(c *gin.Context) {
	var req wechatLoginRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	api.login(c, models.PlatformWeChat, req.Code)
}

// loginAlipay exchanges a my.getAuthCode code.
func (api *API) loginAlipay(c *gin.Context) {
	var req alipayLoginRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	api.login(c, models.PlatformAlipay, req.AuthCode)
}

// loginSandbox logs in any user name (development only).
func (api *API) loginSandbox(c *gin.Context) {
	var req sandboxLoginRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	api.login(c, models.PlatformSandbox, req.User)
}

func (api *API) login(c *gin.Context, platform, code string) {
	p, ok := api.platforms[platform]
	if !ok {
		respondError(c, api.log, errNotFound)
		return
	}
	if code = strings.TrimSpace(code); code == "" || len(code) > 512 {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeCodeRequired, "缺少登录凭证"))
		return
	}
	login, err := p.Login(c.Request.Context(), code)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	account, err := api.store.Login(c.Request.Context(), platform, login.UserID, login.UnionID, login.SessionKey)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	resp, err := api.sessionFor(c.Request.Context(), account)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// logout ends every token of the caller's account on every node.
func (api *API) logout(c *gin.Context) {
	s, _ := sessionOf(c)
	if err := api.store.Logout(c.Request.Context(), api.sessions.Revoked, s.AccountID); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "logged_out"})
}

// sessionFor issues a fresh token for the account's current state.
func (api *API) sessionFor(ctx context.Context, a *models.Account) (sessionResponse, error) {
	var p *models.Person
	if a.PersonID != nil {
		var err error
		if p, err = api.store.PersonByID(ctx, *a.PersonID); err != nil {
			return sessionResponse{}, err
		}
	}
	token, exp := api.sessions.Issue(a, p)
	return sessionResponse{Token: token, ExpiresAt: api.timestamp(exp), Account: api.accountView(a)}, nil
}

func (api *API) accountView(a *models.Account) accountView {
	now := api.clock.Now()
	v := accountView{
		ID: a.ID, Platform: a.Platform, IdentityBound: a.IdentityBound(),
		IdentityPending: a.IdentityPending(), MaskedPhone: a.MaskedPhone,
		FaceVerifiedToday: a.FaceVerifiedOnDay(models.DateIn(now, api.loc)),
	}
	if v.FaceVerifiedToday {
		v.FaceValidUntil = api.days.Of(now).EndText
	}
	return v
}

// timestamp formats t as RFC 3339 in the service's time zone.
func (api *API) timestamp(t time.Time) string { return t.In(api.loc).Format(time.RFC3339) }

// requireSession admits requests with a valid `Authorization: Bearer` token.
func (api *API) requireSession(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		token = ""
	}
	s, err := api.sessions.Verify(strings.TrimSpace(token))
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="healthcode"`)
		respondError(c, api.log, err)
		return
	}
	c.Set(ctxSession, s)
	c.Next()
}

// sessionOf returns the session requireSession admitted.
func sessionOf(c *gin.Context) (models.Session, bool) {
	v, ok := c.Get(ctxSession)
	if !ok {
		return models.Session{}, false
	}
	s, ok := v.(models.Session)
	return s, ok
}

// currentAccount reads the caller's account.
func (api *API) currentAccount(c *gin.Context) (*models.Account, error) {
	s, _ := sessionOf(c)
	return api.store.AccountByID(c.Request.Context(), s.AccountID)
}
