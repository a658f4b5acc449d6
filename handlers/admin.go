package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// ctxOperator is the gin context key of the operator's audit name.
const ctxOperator = "operator"

// operatorKey is a configured operator key, kept as its hash.
type operatorKey struct {
	hash [32]byte
	name string // "operator:<first 8 hex of the hash>", for the audit log
}

func newOperatorKeys(keys []string) []operatorKey {
	out := make([]operatorKey, 0, len(keys))
	for _, k := range keys {
		h := sha256.Sum256([]byte(k))
		out = append(out, operatorKey{hash: h, name: "operator:" + hex.EncodeToString(h[:4])})
	}
	return out
}

// newPeerKeys keeps the peer regions' keys ("<region>=<key>", checked by
// config) as hashes named "peer:<region>".
func newPeerKeys(entries []string) []operatorKey {
	out := make([]operatorKey, 0, len(entries))
	for _, e := range entries {
		region, key, _ := strings.Cut(e, "=")
		out = append(out, operatorKey{hash: sha256.Sum256([]byte(key)), name: "peer:" + region})
	}
	return out
}

// matchKey returns the name of the key in keys that key is, compared in
// constant time, or "".
func matchKey(keys []operatorKey, key string) string {
	h := sha256.Sum256([]byte(strings.TrimSpace(key)))
	name := ""
	for _, k := range keys {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			name = k.name
		}
	}
	return name
}

// ctxPeer is the gin context key of a peer region's audit name.
const ctxPeer = "peer"

var errPeerRequired = fault.Errorf(fault.KindUnauthorized, codePeerRequired, "需要对端地区凭证")

// requirePeerOrSession admits a peer region by `Authorization: Peer <key>`
// and anyone else as requireSession does.
func (api *API) requirePeerOrSession(c *gin.Context) {
	key, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Peer ")
	if !ok {
		api.requireSession(c)
		return
	}
	name := matchKey(api.peers, key)
	if key == "" || name == "" {
		c.Header("WWW-Authenticate", `Peer realm="healthcode"`)
		respondError(c, api.log, errPeerRequired)
		return
	}
	c.Set(ctxPeer, name)
	c.Next()
}

// peerOrAccountKey limits a peer region by its name, anyone else by account.
func peerOrAccountKey(c *gin.Context) string {
	if name := c.GetString(ctxPeer); name != "" {
		return name
	}
	return accountKey(c)
}

var errOperatorRequired = fault.Errorf(fault.KindUnauthorized, codeOperatorRequired, "需要运营人员凭证")

// requireOperator admits requests with `Authorization: Operator <key>`. Keys
// are compared in constant time and never logged.
func (api *API) requireOperator(c *gin.Context) {
	key, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Operator ")
	if !ok || key == "" {
		c.Header("WWW-Authenticate", `Operator realm="healthcode"`)
		respondError(c, api.log, errOperatorRequired)
		return
	}
	name := matchKey(api.operators, key)
	if name == "" {
		respondError(c, api.log, errOperatorRequired)
		return
	}
	c.Set(ctxOperator, name)
	c.Next()
}

// importView is an import job as operators follow it.
type importView struct {
	ID          string              `json:"id"`
	Source      string              `json:"source"`
	State       string              `json:"state"`
	RowsRead    int64               `json:"rows_read"`
	RowsApplied int64               `json:"rows_applied"`
	BadRows     int64               `json:"bad_rows"`
	Errors      []models.RowProblem `json:"errors"`
	Message     string              `json:"message,omitempty"`
	CreatedAt   string              `json:"created_at"`
	FinishedAt  string              `json:"finished_at,omitempty"`
}

type importResponse struct {
	Import importView `json:"import"`
}

// statusImport takes a source's new list (multipart: source, file; or
// source and clear=true to empty it) and runs it as a job: 202 with the
// job, whose progress GET /api/v1/admin/imports/:id reports. The file is
// spooled to disk as it arrives, never held whole in memory; until the job
// switches to the new list the old one stays in force, and a bad row
// rejects the whole file.
func (api *API) statusImport(c *gin.Context) {
	upload, err := api.spoolUpload(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	if !upload.clear && upload.path == "" {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeFileRequired, "请在 file 字段上传CSV文件，或以 clear=true 清空该来源名单"))
		return
	}
	job, err := api.store.NewStatusImport(c.Request.Context(), upload.source, upload.clear, c.GetString(ctxOperator), c.GetString(ctxRequestID))
	api.submitImport(c, job, upload, err)
}

// submitImport queues a recorded job (err: recording it failed) over the
// spooled upload and answers 202 with it; a full queue fails the job.
func (api *API) submitImport(c *gin.Context, job *models.ImportJob, upload spooledUpload, err error) {
	if err == nil {
		if err = api.importer.Submit(job, upload.path); err != nil {
			api.store.FailImport(c.Request.Context(), job, "导入队列已满，请稍后重新上传")
		}
	}
	if err != nil {
		upload.remove()
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusAccepted, importResponse{Import: api.importViewOf(job)})
}

// importStatus reports an import job's progress.
func (api *API) importStatus(c *gin.Context) {
	job, err := api.store.ImportJobByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, importResponse{Import: api.importViewOf(job)})
}

func (api *API) importViewOf(j *models.ImportJob) importView {
	v := importView{ID: j.ID, Source: j.Source, State: j.State, RowsRead: j.RowsRead, RowsApplied: j.RowsApplied,
		BadRows: j.BadRows, Errors: j.RowProblems(), Message: j.Message, CreatedAt: api.timestamp(j.CreatedAt)}
	if v.Errors == nil {
		v.Errors = []models.RowProblem{}
	}
	if j.FinishedAt != nil {
		v.FinishedAt = api.timestamp(*j.FinishedAt)
	}
	return v
}

type verifierRequest struct {
	AccountID string `json:"account_id"`
	Place     string `json:"place"`
}

type verifierResponse struct {
	AccountID string `json:"account_id"`
	Place     string `json:"place"`
	GrantedAt string `json:"granted_at"`
}

// grantVerifier gives an account the verifier role at a place.
func (api *API) grantVerifier(c *gin.Context) {
	var req verifierRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	v, err := api.store.GrantVerifier(c.Request.Context(), strings.TrimSpace(req.AccountID), strings.TrimSpace(req.Place),
		c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshVerifiers(c.Request.Context(), api.verifiers)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, verifierResponse{AccountID: v.AccountID, Place: v.Place, GrantedAt: api.timestamp(v.GrantedAt)})
}

// revokeVerifier ends an account's verifier role.
func (api *API) revokeVerifier(c *gin.Context) {
	err := api.store.RevokeVerifier(c.Request.Context(), c.Param("account_id"), c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshVerifiers(c.Request.Context(), api.verifiers)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"account_id": c.Param("account_id"), "status": "revoked"})
}

type unbindRequest struct {
	// Note says why the binding ends; it is kept in the audit log.
	Note string `json:"note"`
}

// unbindIdentity ends an account's identity binding on an operator's
// decision (a document bound by mistake, a court order): the account loses
// the identity and its sessions, audited with the note.
func (api *API) unbindIdentity(c *gin.Context) {
	var req unbindRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	note := strings.TrimSpace(req.Note)
	if n := utf8.RuneCountInString(note); n < 2 || n > 500 {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeNoteRequired, "请填写2至500字的解除原因"))
		return
	}
	if document.HoldsIDNumber(note) {
		// The note is kept in the audit log, where only masked data belongs.
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, fault.CodeNoteHasDocument, "解除原因中请勿填写证件号码"))
		return
	}
	accountID := c.Param("account_id")
	if err := api.store.UnbindIdentity(c.Request.Context(), api.sessions.Revoked, accountID, c.GetString(ctxOperator), note, c.GetString(ctxRequestID)); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"account_id": accountID, "status": "unbound"})
}
