package handlers

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/document"
	"healthcode/models/fault"
)

type relativeRequest struct {
	Name      string `json:"name"`
	DocType   string `json:"doc_type"`
	DocNumber string `json:"doc_number"`
	Relation  string `json:"relation"`
}

// relativeView is a link as its holder sees it.
type relativeView struct {
	ID         string        `json:"id"`
	Status     string        `json:"status"`
	Evidence   string        `json:"evidence"`
	Relation   string        `json:"relation"`
	DocType    document.Type `json:"doc_type"`
	MaskedName string        `json:"masked_name"`
	MaskedDoc  string        `json:"masked_doc"`
	// ReviewDueAt is when a pending link's review is due; null otherwise.
	ReviewDueAt *string `json:"review_due_at"`
	DecidedAt   string  `json:"decided_at,omitempty"`
	Note        string  `json:"note,omitempty"`
	CreatedAt   string  `json:"created_at"`
}

type relativeStatusResponse struct {
	ID         string        `json:"id"`
	Colour     models.Colour `json:"colour"`
	ColourText string        `json:"colour_text"`
	ValidUntil string        `json:"valid_until"`
	MaskedName string        `json:"masked_name"`
	MaskedDoc  string        `json:"masked_doc"`
	ServerTime string        `json:"server_time"`
}

// requireFaceToday admits callers whose session says face verification
// passed today and an identity is bound.
func (api *API) requireFaceToday(c *gin.Context) {
	s, _ := sessionOf(c)
	if err := api.faceToday(s); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Next()
}

// addRelative links a family member to the caller.
func (api *API) addRelative(c *gin.Context) {
	var req relativeRequest
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
	v, err := api.store.AddRelative(c.Request.Context(), s.AccountID, name, doc, strings.TrimSpace(req.Relation), c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, api.relativeViewOf(*v))
}

// listRelatives answers the caller's links, masked, with their status.
func (api *API) listRelatives(c *gin.Context) {
	s, _ := sessionOf(c)
	links, err := api.store.Relatives(c.Request.Context(), s.AccountID)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	out := make([]relativeView, 0, len(links))
	for _, l := range links {
		out = append(out, api.relativeViewOf(l))
	}
	c.JSON(http.StatusOK, gin.H{"relatives": out})
}

// deleteRelative ends a link; its codes are revoked at once.
func (api *API) deleteRelative(c *gin.Context) {
	s, _ := sessionOf(c)
	if err := api.store.DeleteRelative(c.Request.Context(), s.AccountID, c.Param("id"), c.GetString(ctxRequestID)); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": c.Param("id"), "status": models.LinkDeleted})
}

// relativeStatus is a proxy lookup (他人代查), audited.
func (api *API) relativeStatus(c *gin.Context) {
	s, _ := sessionOf(c)
	ctx := c.Request.Context()
	link, err := api.store.RelativeOf(ctx, s.AccountID, c.Param("id"))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	if err := api.store.Audit(ctx, models.AuditEntry{Actor: "account:" + s.AccountID, Action: "relative.lookup",
		Subject: link.ID, Detail: "person=" + link.PersonID, RequestID: c.GetString(ctxRequestID)}); err != nil {
		respondError(c, api.log, err)
		return
	}
	now := api.clock.Now()
	status := api.status.Of(link.PersonNo)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, relativeStatusResponse{
		ID: link.ID, Colour: status.Colour, ColourText: status.Colour.Text(),
		ValidUntil: api.days.Of(now).EndText, MaskedName: link.MaskedName, MaskedDoc: link.MaskedDoc,
		ServerTime: api.timestampMilli(now),
	})
}

// relativeCodeHandler shows a relative's code to the holder, audited.
func (api *API) relativeCodeHandler(c *gin.Context) {
	s, _ := sessionOf(c)
	resp, err := api.relativeCode(c.Request.Context(), s, c.Param("id"), c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// relativeCode signs a code whose subject is the relative, recording the
// holding account and the link that allows it; every code shown is audited.
func (api *API) relativeCode(ctx context.Context, s models.Session, linkID, requestID string) (codeResponse, error) {
	if err := api.faceToday(s); err != nil {
		return codeResponse{}, err
	}
	link, err := api.store.RelativeOf(ctx, s.AccountID, linkID)
	if err != nil {
		return codeResponse{}, err
	}
	resp, err := api.signCode(codetoken.Claims{
		Subject: link.PersonID, PersonNo: link.PersonNo, Kind: codetoken.KindRelative, MaskedName: link.MaskedName, MaskedDoc: link.MaskedDoc,
		Holder: s.AccountID, Link: link.ID,
	})
	if err != nil {
		return codeResponse{}, err
	}
	// The page says whose code this is, so it is never taken for one's own.
	resp.Relation, resp.RelationText, resp.HolderMaskedName = link.Relation, models.RelationText(link.Relation), s.MaskedName
	err = api.store.Audit(ctx, models.AuditEntry{Actor: "account:" + s.AccountID, Action: "relative.code",
		Subject: link.ID, Detail: "person=" + link.PersonID, RequestID: requestID})
	return resp, err
}

func (api *API) relativeViewOf(v models.RelativeView) relativeView {
	out := relativeView{
		ID: v.ID, Status: v.Status, Evidence: v.Evidence, Relation: v.Relation, DocType: v.DocType,
		MaskedName: v.MaskedName, MaskedDoc: v.MaskedDoc, Note: v.Note, CreatedAt: api.timestamp(v.CreatedAt),
	}
	if v.ReviewDueAt != nil && v.Status == models.LinkPending {
		due := api.timestamp(*v.ReviewDueAt)
		out.ReviewDueAt = &due
	}
	if v.DecidedAt != nil {
		out.DecidedAt = api.timestamp(*v.DecidedAt)
	}
	return out
}

// reviewView is a pending link as an operator sees it.
type reviewView struct {
	ID               string        `json:"id"`
	Status           string        `json:"status"`
	Relation         string        `json:"relation"`
	Overdue          bool          `json:"overdue"`
	ReviewDueAt      string        `json:"review_due_at,omitempty"`
	CreatedAt        string        `json:"created_at"`
	HolderAccountID  string        `json:"holder_account_id"`
	HolderMaskedName string        `json:"holder_masked_name"`
	HolderMaskedDoc  string        `json:"holder_masked_doc"`
	DocType          document.Type `json:"doc_type"`
	MaskedName       string        `json:"masked_name"`
	MaskedDoc        string        `json:"masked_doc"`
	Note             string        `json:"note,omitempty"`
}

type reviewDecision struct {
	Decision string `json:"decision"`
	Note     string `json:"note"`
}

// listReviews answers links awaiting manual review, oldest first, overdue
// flagged; audited.
func (api *API) listReviews(c *gin.Context) {
	status := c.DefaultQuery("status", models.LinkPending)
	switch status {
	case models.LinkPending, models.LinkApproved, models.LinkRejected:
	default:
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeInvalidStatus, "status 只能是 pending、approved 或 rejected"))
		return
	}
	ctx := c.Request.Context()
	items, err := api.store.Reviews(ctx, status)
	if err == nil {
		err = api.store.Audit(ctx, models.AuditEntry{Actor: c.GetString(ctxOperator), Action: "relative.review_list",
			Subject: status, RequestID: c.GetString(ctxRequestID)})
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	out := make([]reviewView, 0, len(items))
	for _, it := range items {
		v := reviewView{ID: it.ID, Status: it.Status, Relation: it.Relation, Overdue: it.Overdue, CreatedAt: api.timestamp(it.CreatedAt),
			HolderAccountID: it.AccountID, HolderMaskedName: it.HolderMaskedName, HolderMaskedDoc: it.HolderMaskedDoc,
			DocType: it.DocType, MaskedName: it.MaskedName, MaskedDoc: it.MaskedDoc, Note: it.Note}
		if it.ReviewDueAt != nil {
			v.ReviewDueAt = api.timestamp(*it.ReviewDueAt)
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"reviews": out})
}

// decideReview approves or rejects a pending link.
func (api *API) decideReview(c *gin.Context) {
	var req reviewDecision
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	r, err := api.store.DecideReview(c.Request.Context(), c.Param("id"), req.Decision, strings.TrimSpace(req.Note),
		c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": r.ID, "status": r.Status, "note": r.Note})
}

// importHouseholds replaces the household registers (multipart file).
func (api *API) importHouseholds(c *gin.Context) {
	api.importReference(c, func(ctx context.Context, open func() (io.ReadCloser, error)) (int, error) {
		return api.store.ImportHouseholdsCSV(ctx, open, c.GetString(ctxOperator), c.GetString(ctxRequestID))
	})
}

// importBirths replaces the birth records (multipart file).
func (api *API) importBirths(c *gin.Context) {
	api.importReference(c, func(ctx context.Context, open func() (io.ReadCloser, error)) (int, error) {
		return api.store.ImportBirthsCSV(ctx, open, c.GetString(ctxOperator), c.GetString(ctxRequestID))
	})
}

// importReference hands the uploaded file to load as a stream it may read
// more than once: spooled to disk as it arrives, as the list imports are
// (with the upload timeout, and the server's disk failing a 503).
func (api *API) importReference(c *gin.Context, load func(context.Context, func() (io.ReadCloser, error)) (int, error)) {
	u, err := api.spool(c, false)
	if err == nil && u.path == "" {
		err = fault.Errorf(fault.KindInvalid, codeFileRequired, "请在 file 字段上传CSV文件")
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	defer u.remove()
	open := func() (io.ReadCloser, error) { return os.Open(u.path) }
	n, err := load(c.Request.Context(), open)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"rows": n})
}
