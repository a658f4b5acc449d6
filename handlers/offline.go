package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/document"
	"healthcode/models/fault"
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

// signOffline signs the paper code of code, held by p.
func (api *API) signOffline(code *models.OfflineCode, p *models.Person) (string, error) {
	return codetoken.Sign(api.keys.Active(), codetoken.Claims{
		Issuer: api.cfg.Region, Subject: p.ID, PersonNo: p.No, Kind: codetoken.KindOffline, ID: code.CodeID(),
		IssuedAt: code.IssuedAt, ExpiresAt: code.ExpiresAt, MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc, Serial: code.Serial,
	})
}

// offlineAnswer answers the paper code of code, held by p, with the print
// page's address for the caller.
func (api *API) offlineAnswer(code *models.OfflineCode, p *models.Person, printURL string) (offlineCodeResponse, error) {
	qr, err := api.signOffline(code, p)
	if err != nil {
		return offlineCodeResponse{}, err
	}
	return offlineCodeResponse{ID: code.ID, Serial: code.Serial, QR: qr, MaskedName: p.MaskedName, MaskedDoc: p.MaskedDoc,
		IssuedAt: api.timestamp(code.IssuedAt), ExpiresAt: api.timestamp(code.ExpiresAt), PrintURL: printURL}, nil
}

// offlineSubject returns whose offline code the request is about: the
// session's own person, or the approved relative of link :id.
func (api *API) offlineSubject(c *gin.Context) (personID string, err error) {
	s, _ := sessionOf(c)
	return api.offlineSubjectOf(c.Request.Context(), s, c.Param("id"))
}

// offlineSubjectOf returns the session's own person (linkID empty) or the
// approved relative of the link. Either needs today's face verification.
func (api *API) offlineSubjectOf(ctx context.Context, s models.Session, linkID string) (personID string, err error) {
	if err := api.faceToday(s); err != nil {
		return "", err
	}
	if linkID == "" {
		return s.PersonID, nil
	}
	link, err := api.store.RelativeOf(ctx, s.AccountID, linkID)
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
	api.offlineAction(c, func(ctx context.Context, personID, actor, requestID string) (*models.OfflineCode, *models.Person, error) {
		code, p, err := api.store.CurrentOfflineCode(ctx, personID)
		if err == nil && c.Param("id") != "" {
			// A relative's paper fetched for them is a proxy lookup.
			err = api.store.Audit(ctx, models.AuditEntry{Actor: actor, Action: "offline_code.view", Subject: personID,
				Detail: fmt.Sprintf("serial %d", code.Serial), RequestID: requestID})
		}
		return code, p, err
	}, http.StatusOK)
}

func (api *API) offlineAction(c *gin.Context, act func(ctx context.Context, personID, actor, requestID string) (*models.OfflineCode, *models.Person, error), status int) {
	personID, err := api.offlineSubject(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	ctx := c.Request.Context()
	code, p, err := act(ctx, personID, "account:"+s.AccountID, c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	// The print page opens with a one-time ticket, as the other pages do.
	ticket := api.store.IssueH5Ticket(s.AccountID, models.TicketOfflinePrint, c.Param("id"), ticketTTL)
	resp, err := api.offlineAnswer(code, p, offlinePrintPath+"?ticket="+ticket)
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

var errBadSince = fault.Errorf(fault.KindInvalid, codeBadSince, "since 须为非负整数")

// offlineRevoked serves the revocation feed to verifiers and peer regions: GET
// /offline-codes/revoked?since=<seq>.
func (api *API) offlineRevoked(c *gin.Context) {
	peer := c.GetString(ctxPeer)
	if peer == "" {
		s, _ := sessionOf(c)
		if _, err := api.verifiers.Place(s.AccountID); err != nil {
			respondError(c, api.log, err)
			return
		}
	}
	since, err := strconv.ParseInt(c.DefaultQuery("since", "0"), 10, 64)
	if err != nil || since < 0 {
		respondError(c, api.log, errBadSince)
		return
	}
	feed, err := api.store.OfflineRevocations(c.Request.Context(), since)
	if err == nil && peer != "" {
		// What another region read of ours is on record.
		err = api.store.Audit(c.Request.Context(), models.AuditEntry{Actor: peer, Action: "offline_codes.revoked_feed",
			Detail: fmt.Sprintf("since %d, %d entries", since, len(feed.Entries)), RequestID: c.GetString(ctxRequestID)})
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, feed)
}

// ctxKiosk is the gin context key of the calling kiosk.
const ctxKiosk = "kiosk"

// requireKiosk admits a registered kiosk: Authorization: Kiosk <key>,
// checked against the kiosk book in memory.
func (api *API) requireKiosk(c *gin.Context) {
	key, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Kiosk ")
	if !ok || strings.TrimSpace(key) == "" {
		c.Header("WWW-Authenticate", `Kiosk realm="healthcode"`)
		respondError(c, api.log, models.ErrKioskRequired)
		return
	}
	k, err := api.kiosks.ByKey(strings.TrimSpace(key))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Set(ctxKiosk, k)
	c.Next()
}

type kioskRequest struct {
	Name  string `json:"name"`
	Place string `json:"place"`
}

// registerKiosk registers a kiosk for an operator; the key is shown once.
func (api *API) registerKiosk(c *gin.Context) {
	var req kioskRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	k, key, err := api.store.RegisterKiosk(c.Request.Context(), strings.TrimSpace(req.Name), strings.TrimSpace(req.Place),
		c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshKiosks(c.Request.Context(), api.kiosks)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"id": k.ID, "key": key})
}

// birthDateRequest is an operator's birth date for a registered document
// that carries none.
type birthDateRequest struct {
	DocType   string `json:"doc_type"`
	DocNumber string `json:"doc_number"`
	BirthDate string `json:"birth_date"`
}

// setBirthDate records a birth date for the holder of a document without
// one (POST /api/v1/admin/birth-dates), so the offline codes' age rule can
// apply to them; it answers the person masked.
func (api *API) setBirthDate(c *gin.Context) {
	var req birthDateRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	doc, err := document.Parse(req.DocType, req.DocNumber, api.store.Today())
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	p, err := api.store.SetBirthDate(c.Request.Context(), doc, req.BirthDate, c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"masked_name": p.MaskedName, "masked_doc": p.MaskedDoc, "birth_date": p.BirthDate})
}

// deleteKiosk ends a kiosk's key: at once on this node, on the others at
// their next refresh of the kiosk book.
func (api *API) deleteKiosk(c *gin.Context) {
	err := api.store.DeleteKiosk(c.Request.Context(), c.Param("id"), c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshKiosks(c.Request.Context(), api.kiosks)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// kioskIssueRequest is an ID card's chip read, or a live dynamic code.
type kioskIssueRequest struct {
	DocType   string `json:"doc_type"`
	DocNumber string `json:"doc_number"`
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	QR        string `json:"qr"`
}

var (
	errKioskWho  = fault.Errorf(fault.KindInvalid, codePersonRequired, "请读取身份证件，或出示本人或亲属的实时健康码")
	errKioskCode = fault.Errorf(fault.KindInvalid, codeInvalidCode, "该码无效或已过期（截图无效），请出示实时健康码")
)

// kioskSubject is who a kiosk request is about: a person by a live code
// (holder), or a document read (doc set, person possibly not registered).
type kioskSubject struct {
	person    *models.Person
	doc       document.Document
	name      string
	birthDate string
}

func (api *API) kioskSubjectOf(c *gin.Context) (kioskSubject, error) {
	var req kioskIssueRequest
	if err := bindJSON(c, &req); err != nil {
		return kioskSubject{}, err
	}
	ctx := c.Request.Context()
	if req.QR != "" {
		v, err := api.checker.Identify(ctx, req.QR)
		if err != nil {
			return kioskSubject{}, err
		}
		if v.Result != models.ResultValid || (v.Claims.Kind != codetoken.KindPersonal && v.Claims.Kind != codetoken.KindRelative) {
			return kioskSubject{}, errKioskCode
		}
		p, err := api.store.PersonByID(ctx, v.Claims.Subject)
		if err != nil {
			return kioskSubject{}, err
		}
		return kioskSubject{person: p, birthDate: p.BirthDate}, nil
	}
	if req.DocType == "" || req.DocNumber == "" || req.Name == "" {
		return kioskSubject{}, errKioskWho
	}
	doc, err := document.Parse(req.DocType, req.DocNumber, api.store.Today())
	if err != nil {
		return kioskSubject{}, err
	}
	name, err := document.NormalizeName(req.Name)
	if err != nil {
		return kioskSubject{}, err
	}
	birth := req.BirthDate
	if !doc.BirthDate.IsZero() {
		birth = doc.BirthDate.Format(time.DateOnly)
	} else if birth != "" {
		if err := models.CheckBirthDate(birth, api.clock.Now(), api.loc); err != nil {
			return kioskSubject{}, err
		}
	}
	return kioskSubject{doc: doc, name: name, birthDate: birth}, nil
}

// refuseAtKiosk answers a kiosk's issue that was refused — bad input, a
// code that does not pass, a person not eligible — and audits the refusal
// (its transaction, if any, rolled back with its own audit row).
func (api *API) refuseAtKiosk(c *gin.Context, sub kioskSubject, err error) {
	switch fault.KindOf(err) {
	case fault.KindForbidden, fault.KindInvalid, fault.KindNotFound:
		if aerr := api.auditKiosk(c, "offline_code.refused", sub, fault.CodeOf(err)); aerr != nil {
			err = aerr
		}
	}
	respondError(c, api.log, err)
}

// auditKiosk records a kiosk's action on sub, as the kiosk's: the subject
// is the person when registered, else the document's masked number.
func (api *API) auditKiosk(c *gin.Context, action string, sub kioskSubject, detail string) error {
	k := c.MustGet(ctxKiosk).(*models.Kiosk)
	var subject string
	switch {
	case sub.person != nil:
		subject = sub.person.ID
	case sub.doc.Number != "":
		subject = "doc:" + document.MaskNumber(sub.doc.Number)
	}
	return api.store.Audit(c.Request.Context(), models.AuditEntry{Actor: "kiosk:" + k.ID, Action: action, Subject: subject,
		Detail: detail, RequestID: c.GetString(ctxRequestID)})
}

// kioskPreview shows whom a kiosk would print for, masked, and whether they
// may hold an offline code; it changes nothing.
func (api *API) kioskPreview(c *gin.Context) {
	sub, err := api.kioskSubjectOf(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	name, doc := document.MaskName(sub.name), document.MaskNumber(sub.doc.Number)
	var docHash []byte
	if sub.person != nil {
		name, doc, docHash = sub.person.MaskedName, sub.person.MaskedDoc, sub.person.DocHash
	} else {
		docHash = api.store.DocumentHash(sub.doc)
	}
	pre, err := api.store.PreviewOffline(c.Request.Context(), sub.name, name, doc, sub.birthDate, docHash)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	// Every kiosk action is audited: a preview says whether a document is
	// eligible, which for an adult of working age means on the disability
	// register.
	if err := api.auditKiosk(c, "offline_code.preview", sub, fmt.Sprintf("eligible %t", pre.Eligible)); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, pre)
}

// kioskIssue issues an offline code at a kiosk, audited with its id.
func (api *API) kioskIssue(c *gin.Context) {
	sub, err := api.kioskSubjectOf(c)
	if err != nil {
		api.refuseAtKiosk(c, sub, err)
		return
	}
	k := c.MustGet(ctxKiosk).(*models.Kiosk)
	ctx, actor, requestID := c.Request.Context(), "kiosk:"+k.ID, c.GetString(ctxRequestID)
	var code *models.OfflineCode
	var p *models.Person
	if sub.person != nil {
		code, p, err = api.store.IssueOfflineCode(ctx, sub.person.ID, actor, requestID)
	} else {
		code, p, err = api.store.IssueOfflineByDocument(ctx, sub.name, sub.doc, sub.birthDate, actor, requestID)
	}
	if err != nil {
		api.refuseAtKiosk(c, sub, err)
		return
	}
	api.refreshOffline(ctx)
	// The kiosk fetches its print page with its key.
	resp, err := api.offlineAnswer(code, p, offlinePrintPath+"?code="+code.ID)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, resp)
}
