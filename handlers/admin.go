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

var errOperatorRequired = models.Errorf(models.KindUnauthorized, "operator_required", "需要运营人员凭证")

// requireOperator admits requests with `Authorization: Operator <key>`. Keys
// are compared in constant time and never logged.
func (api *API) requireOperator(c *gin.Context) {
	key, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Operator ")
	if !ok || key == "" {
		c.Header("WWW-Authenticate", `Operator realm="healthcode"`)
		respondError(c, api.log, errOperatorRequired)
		return
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(key)))
	name := ""
	for _, k := range api.operators {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			name = k.name
		}
	}
	if name == "" {
		respondError(c, api.log, errOperatorRequired)
		return
	}
	c.Set(ctxOperator, name)
	c.Next()
}

type importResponse struct {
	ImportID string `json:"import_id"`
	Source   string `json:"source"`
	Rows     int    `json:"rows"`
}

// statusImport replaces one source's list with an uploaded CSV (multipart:
// file, source). A bad row rejects the whole file; the old list stays.
func (api *API) statusImport(c *gin.Context) {
	source := c.PostForm("source")
	if !models.ValidSource(source) {
		respondError(c, api.log, models.Errorf(models.KindInvalid, "invalid_source", "名单来源只能是 cdc、community、nucleic_acid 或 operator"))
		return
	}
	f, err := uploadedFile(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	defer f.Close()
	rows, err := models.ParseStatusCSV(f, api.store.Today())
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	imp, err := api.store.ImportStatus(c.Request.Context(), source, rows, c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	// This node serves the new list at once; others within a poll interval.
	if err := api.store.RefreshStatus(c.Request.Context(), api.status); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, importResponse{ImportID: imp.ID, Source: imp.Source, Rows: imp.Rows})
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
		respondError(c, api.log, models.Errorf(models.KindInvalid, "note_required", "请填写2至500字的解除原因"))
		return
	}
	accountID := c.Param("account_id")
	if err := api.store.UnbindIdentity(c.Request.Context(), api.sessions.Revoked, accountID, c.GetString(ctxOperator), note, c.GetString(ctxRequestID)); err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"account_id": accountID, "status": "unbound"})
}
