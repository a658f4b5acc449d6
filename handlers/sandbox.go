package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// The development-only endpoints below are registered only while the sandbox
// platform is enabled (never in production): they let the /dev page try the
// verifier, relative and status-list flows without an operator key. Each
// acts through the same store methods as the operator's endpoints and is
// audited with the actor "sandbox:<account id>".

// maxSandboxStatusRows bounds a sandbox status list.
const maxSandboxStatusRows = 20

type sandboxVerifierRequest struct {
	Place string `json:"place"`
}

// sandboxVerifier makes the caller a verifier at the given place (by
// default 开发沙箱核验点).
func (api *API) sandboxVerifier(c *gin.Context) {
	var req sandboxVerifierRequest
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			respondError(c, api.log, err)
			return
		}
	}
	place := strings.TrimSpace(req.Place)
	if place == "" {
		place = "开发沙箱核验点"
	}
	s, _ := sessionOf(c)
	ctx := c.Request.Context()
	v, err := api.store.GrantVerifier(ctx, s.AccountID, place, sandboxActor(s), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshVerifiers(ctx, api.verifiers)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, verifierResponse{AccountID: v.AccountID, Place: v.Place, GrantedAt: api.timestamp(v.GrantedAt)})
}

type sandboxStatusRequest struct {
	// Source is the list replaced (community when empty).
	Source string             `json:"source"`
	Rows   []sandboxStatusRow `json:"rows"`
}

// sandboxStatusRow puts a sandbox user (by the name they log in with) on
// the list.
type sandboxStatusRow struct {
	User   string `json:"user"`
	Colour string `json:"colour"`
	Reason string `json:"reason"`
}

// sandboxStatusList imports a small status list naming sandbox users instead
// of documents, through the import pipeline the CLI runs (in the request: the
// list is at most 20 rows): it replaces the source's list, as every import
// does (no rows empties it), and this node serves it at once. The answer is
// the finished job.
func (api *API) sandboxStatusList(c *gin.Context) {
	var req sandboxStatusRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	source := strings.TrimSpace(req.Source)
	if source == "" {
		source = models.SourceCommunity
	}
	if !models.ValidSource(source) {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, fault.CodeInvalidSource, "名单来源只能是 cdc、community、nucleic_acid 或 operator"))
		return
	}
	if len(req.Rows) > maxSandboxStatusRows {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeTooManyRows, "沙箱名单最多%d行", maxSandboxStatusRows))
		return
	}
	ctx := c.Request.Context()
	// The list as an operator's file would hold it; it stays in memory.
	var list bytes.Buffer
	w := csv.NewWriter(&list)
	for i, r := range req.Rows {
		colour, ok := models.ParseColour(r.Colour)
		if !ok {
			respondError(c, api.log, fault.Errorf(fault.KindInvalid, fault.CodeColour, "第%d行：颜色只能是 green、yellow 或 red", i+1))
			return
		}
		doc, err := api.sandboxDocument(ctx, strings.TrimSpace(r.User))
		if err != nil {
			respondError(c, api.log, err)
			return
		}
		w.Write([]string{string(doc.Type), doc.Number, string(colour), strings.TrimSpace(r.Reason)})
	}
	w.Flush()
	s, _ := sessionOf(c)
	job, err := api.store.NewStatusImport(ctx, source, len(req.Rows) == 0, sandboxActor(s), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RunStatusImport(ctx, job, func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(list.Bytes())), nil
		}, nil)
	}
	if err == nil && job.State != models.ImportDone {
		err = fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "名单未导入：%s", job.Message)
	}
	if err == nil {
		err = api.store.RefreshStatus(ctx, api.status)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, importResponse{Import: api.importViewOf(job)})
}

// sandboxDocument returns the document bound to a sandbox user's account.
// Errors: 404 sandbox_user_not_found when the user never logged in, 409
// sandbox_user_unbound when no face check bound an identity yet.
func (api *API) sandboxDocument(ctx context.Context, user string) (document.Document, error) {
	a, err := api.store.AccountByPlatformUser(ctx, models.PlatformSandbox, user)
	if fault.KindOf(err) == fault.KindNotFound {
		return document.Document{}, fault.Errorf(fault.KindNotFound, codeSandboxUserNotFound, "沙箱用户“%s”不存在，请先用该用户名登录", user)
	}
	if err != nil {
		return document.Document{}, err
	}
	if !a.IdentityBound() {
		return document.Document{}, fault.Errorf(fault.KindConflict, codeSandboxUserUnbound, "沙箱用户“%s”尚未完成实名绑定（需通过人脸核验）", user)
	}
	return api.boundDocument(ctx, a)
}

// boundDocument unseals the document bound to an account. It never leaves
// the server.
func (api *API) boundDocument(ctx context.Context, a *models.Account) (document.Document, error) {
	id, err := api.store.AccountIdentity(ctx, a)
	if err != nil {
		return document.Document{}, err
	}
	_, number, err := api.store.UnsealIdentity(id)
	if err != nil {
		return document.Document{}, err
	}
	return document.Parse(string(id.DocType), number, api.store.Today())
}

type sandboxHouseholdRequest struct {
	DocType   string `json:"doc_type"`
	DocNumber string `json:"doc_number"`
}

type sandboxHouseholdResponse struct {
	Rows int `json:"rows"`
}

// sandboxHousehold registers the caller and the given document in one
// household (added to the register, nothing replaced), so adding that person
// as a relative is approved at once by household evidence.
func (api *API) sandboxHousehold(c *gin.Context) {
	var req sandboxHouseholdRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	relative, err := document.Parse(req.DocType, req.DocNumber, api.store.Today())
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	s, _ := sessionOf(c)
	ctx := c.Request.Context()
	a, err := api.store.AccountByID(ctx, s.AccountID)
	if err == nil && !a.IdentityBound() {
		err = models.ErrIdentityRequired
	}
	var holder document.Document
	if err == nil {
		holder, err = api.boundDocument(ctx, a)
	}
	var n int
	if err == nil {
		n, err = api.store.AddHousehold(ctx, "sandbox:"+s.AccountID, []document.Document{holder, relative}, sandboxActor(s), c.GetString(ctxRequestID))
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, sandboxHouseholdResponse{Rows: n})
}

// sandboxActor names the caller in the audit log.
func sandboxActor(s models.Session) string { return "sandbox:" + s.AccountID }
