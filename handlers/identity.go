package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"healthcode/models/document"
	"healthcode/models/fault"
	"healthcode/models/store"
)

// identityView is a bound (or pending) identity, masked.
type identityView struct {
	DocType    document.Type `json:"doc_type"`
	MaskedName string        `json:"masked_name"`
	MaskedDoc  string        `json:"masked_doc"`
	// Status is "bound", or "pending_face_verification" for a claim that a
	// face verification has not yet proven.
	Status string `json:"status"`
}

type meResponse struct {
	Account  accountView   `json:"account"`
	Identity *identityView `json:"identity"`
}

type identityRequest struct {
	Name      string `json:"name"`
	DocType   string `json:"doc_type"`
	DocNumber string `json:"doc_number"`
}

type identityResponse struct {
	Identity identityView `json:"identity"`
	sessionResponse
}

type phoneRequest struct {
	// Code is what the phone button returned: WeChat's code, Alipay's
	// encrypted response, or a plain number in the sandbox.
	Code string `json:"code"`
}

// me answers the caller's account and masked identity.
func (api *API) me(c *gin.Context) {
	a, err := api.currentAccount(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	resp := meResponse{Account: api.accountView(a)}
	if a.PersonID != nil || a.ClaimID != nil {
		id, err := api.store.AccountIdentity(c.Request.Context(), a)
		if err != nil {
			respondError(c, api.log, err)
			return
		}
		v := identityOf(id)
		resp.Identity = &v
	}
	c.JSON(http.StatusOK, resp)
}

// claimIdentity validates a name and document and records them as the
// caller's claim; a face verification started for the claim binds them when
// it passes. The answer says nothing about whether the document is known.
func (api *API) claimIdentity(c *gin.Context) {
	var req identityRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	name, doc, err := document.ParseIdentity(req.Name, req.DocType, req.DocNumber, api.store.Today())
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	id, err := api.store.ClaimIdentity(c.Request.Context(), s.AccountID, name, doc, c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	a, err := api.store.AccountByID(c.Request.Context(), s.AccountID)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	session, err := api.sessionFor(c.Request.Context(), a)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, identityResponse{Identity: identityOf(id), sessionResponse: session})
}

// bindPhone reads the caller's verified phone number from the platform.
func (api *API) bindPhone(c *gin.Context) {
	var req phoneRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	a, err := api.currentAccount(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	reader, ok := api.platforms[a.Platform].(phoneReader)
	if !ok || req.Code == "" || len(req.Code) > 4096 {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, fault.CodePhoneFailed, "缺少手机号授权信息"))
		return
	}
	phone, err := reader.Phone(c.Request.Context(), req.Code)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	if err := api.store.SetPhone(c.Request.Context(), a, phone, c.GetString(ctxRequestID)); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"masked_phone": a.MaskedPhone})
}

func identityOf(id *store.Identity) identityView {
	v := identityView{DocType: id.DocType, MaskedName: id.MaskedName, MaskedDoc: id.MaskedDoc, Status: "bound"}
	if !id.Bound() {
		v.Status = "pending_face_verification"
	}
	return v
}
