package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

type samplerRequest struct {
	AccountID string `json:"account_id"`
	Site      string `json:"site"`
}

type samplerResponse struct {
	AccountID string `json:"account_id"`
	Site      string `json:"site"`
	GrantedAt string `json:"granted_at"`
}

// grantSampler gives an account the sampler role at a site, audited.
func (api *API) grantSampler(c *gin.Context) {
	var req samplerRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	v, err := api.store.GrantSampler(c.Request.Context(), strings.TrimSpace(req.AccountID), strings.TrimSpace(req.Site),
		c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshSamplers(c.Request.Context(), api.samplers)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, samplerResponse{AccountID: v.AccountID, Site: v.Site, GrantedAt: api.timestamp(v.GrantedAt)})
}

// revokeSampler ends an account's sampler role, audited.
func (api *API) revokeSampler(c *gin.Context) {
	err := api.store.RevokeSampler(c.Request.Context(), c.Param("account_id"), c.GetString(ctxOperator), c.GetString(ctxRequestID))
	if err == nil {
		err = api.store.RefreshSamplers(c.Request.Context(), api.samplers)
	}
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"account_id": c.Param("account_id"), "status": "revoked"})
}

type openTubeRequest struct {
	Tube string `json:"tube"`
	Mode int    `json:"mode"`
}

// openTubeResponse is a tube just opened.
type openTubeResponse struct {
	Tube  string `json:"tube"`
	Mode  int    `json:"mode"`
	Site  string `json:"site"`
	Count int    `json:"count"`
	State string `json:"state"`
}

// sealResponse is a tube just sealed.
type sealResponse struct {
	Tube  string `json:"tube"`
	Count int    `json:"count"`
	State string `json:"state"`
	Short bool   `json:"short"`
}

// samplerSite is the site of the session's sampler, or not_sampler.
func (api *API) samplerSite(c *gin.Context) (accountID, site string, err error) {
	s, _ := sessionOf(c)
	site, err = api.samplers.Site(s.AccountID)
	return s.AccountID, site, err
}

// openTube opens a tube at the sampler's site.
func (api *API) openTube(c *gin.Context) {
	var req openTubeRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	sampler, site, err := api.samplerSite(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	t, err := api.store.OpenTube(c.Request.Context(), req.Tube, req.Mode, site, sampler)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusCreated, openTubeResponse{Tube: t.Tube, Mode: t.Mode, Site: t.Site, Count: t.Count, State: t.State})
}

// sealTube seals a tube of the sampler's site; a sealed tube answers as it is.
func (api *API) sealTube(c *gin.Context) {
	_, site, err := api.samplerSite(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	t, err := api.store.SealTube(c.Request.Context(), c.Param("tube"), site)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	c.JSON(http.StatusOK, sealResponse{Tube: t.Tube, Count: t.Count, State: t.State, Short: t.Short})
}

// tubeView is a tube with its people, masked.
type tubeView struct {
	Tube     string         `json:"tube"`
	Mode     int            `json:"mode"`
	Site     string         `json:"site"`
	Count    int            `json:"count"`
	State    string         `json:"state"`
	Short    bool           `json:"short"`
	OpenedAt string         `json:"opened_at"`
	SealedAt string         `json:"sealed_at,omitempty"`
	Result   string         `json:"result,omitempty"`
	TestedAt string         `json:"tested_at,omitempty"`
	Samples  []sampleInTube `json:"samples"`
}

type sampleInTube struct {
	SampleID   string `json:"sample_id"`
	MaskedName string `json:"masked_name"`
	MaskedDoc  string `json:"masked_doc"`
	Method     string `json:"method"`
	Resampled  bool   `json:"resampled"`
	SampledAt  string `json:"sampled_at"`
}

// getTube shows a tube of the sampler's site and its people, masked.
func (api *API) getTube(c *gin.Context) {
	_, site, err := api.samplerSite(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	t, samples, err := api.store.TubeOf(c.Request.Context(), c.Param("tube"), site)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	v := tubeView{Tube: t.Tube, Mode: t.Mode, Site: t.Site, Count: t.Count, State: t.State, Short: t.Short,
		OpenedAt: api.timestamp(t.OpenedAt), Result: t.Result, Samples: make([]sampleInTube, 0, len(samples))}
	if t.SealedAt != nil {
		v.SealedAt = api.timestamp(*t.SealedAt)
	}
	if t.TestedAt != nil {
		v.TestedAt = api.timestamp(*t.TestedAt)
	}
	for _, sm := range samples {
		v.Samples = append(v.Samples, sampleInTube{SampleID: sm.SampleID, MaskedName: sm.MaskedName, MaskedDoc: sm.MaskedDoc,
			Method: sm.Method, Resampled: sm.Resampled, SampledAt: api.timestamp(sm.SampledAt)})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

// summaryTube is one tube of a sampler's day.
type summaryTube struct {
	Tube  string `json:"tube"`
	Mode  int    `json:"mode"`
	Count int    `json:"count"`
	State string `json:"state"`
	Short bool   `json:"short"`
}

type summaryResponse struct {
	Date    string        `json:"date"`
	Site    string        `json:"site"`
	Tubes   []summaryTube `json:"tubes"`
	Open    int           `json:"open"`
	Sealed  int           `json:"sealed"`
	Samples int           `json:"samples"`
}

var errBadDate = fault.Errorf(fault.KindInvalid, codeInvalidDate, "日期格式应为 YYYY-MM-DD")

// samplingSummary lists the sampler's tubes and counts for a day (today by
// default, in the configured time zone), for reconciliation at packing.
func (api *API) samplingSummary(c *gin.Context) {
	sampler, site, err := api.samplerSite(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	day := api.clock.Now().In(api.loc)
	if q := c.Query("date"); q != "" {
		if day, err = time.ParseInLocation(time.DateOnly, q, api.loc); err != nil {
			respondError(c, api.log, errBadDate)
			return
		}
	}
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, api.loc)
	tubes, err := api.store.TubesOpenedBy(c.Request.Context(), sampler, from, from.AddDate(0, 0, 1))
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	resp := summaryResponse{Date: from.Format(time.DateOnly), Site: site, Tubes: make([]summaryTube, 0, len(tubes))}
	for _, t := range tubes {
		resp.Tubes = append(resp.Tubes, summaryTube{Tube: t.Tube, Mode: t.Mode, Count: t.Count, State: t.State, Short: t.Short})
		resp.Samples += t.Count
		if t.State == models.TubeOpen {
			resp.Open++
		} else {
			resp.Sealed++
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

type sampleRequest struct {
	SampleID  string `json:"sample_id"`
	QR        string `json:"qr"`
	DocType   string `json:"doc_type"`
	DocNumber string `json:"doc_number"`
	Name      string `json:"name"`
}

type sampleResponse struct {
	SampleID   string `json:"sample_id"`
	Tube       string `json:"tube"`
	Count      int    `json:"count"`
	MaskedName string `json:"masked_name"`
	MaskedDoc  string `json:"masked_doc"`
}

// addSample registers a person in a tube: by a code scanned or a document
// typed. The answer comes once the record is committed; a resent sample id
// answers 200 with the first answer and changes nothing.
func (api *API) addSample(c *gin.Context) {
	var req sampleRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, api.log, err)
		return
	}
	sampler, site, err := api.samplerSite(c)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	reg, err := api.registerSample(c.Request.Context(), sampler, site, c.Param("tube"), req)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	status := http.StatusCreated
	if reg.Replayed {
		status = http.StatusOK
	}
	sm := reg.Sample
	c.JSON(status, sampleResponse{SampleID: sm.SampleID, Tube: sm.Tube, Count: sm.Position, MaskedName: sm.MaskedName, MaskedDoc: sm.MaskedDoc})
}

// Refusals of a code at the sampling point.
var (
	errSampleCodeExpired = fault.Errorf(fault.KindInvalid, codeExpired, "该码已过期（截图无效），请出示实时健康码或核酸码")
	errSampleCodeRevoked = fault.Errorf(fault.KindInvalid, codeRevoked, "该码已失效，请出示本人有效的码")
	errSampleCodeInvalid = fault.Errorf(fault.KindInvalid, codeInvalidCode, "无法识别该码，请出示健康码或核酸码")
	errSampleWho         = fault.Errorf(fault.KindInvalid, codePersonRequired, "请扫码，或填写证件类型、证件号码和姓名")
)

// registerSample identifies the person and hands the sample to the
// group-commit writer. Errors: the identification's (KindInvalid), the
// writer's (busy), the registration's refusal (conflict, not found).
func (api *API) registerSample(ctx context.Context, sampler, site, tube string, req sampleRequest) (*models.SampleRegistration, error) {
	if err := models.CheckTube(tube); err != nil {
		return nil, err
	}
	if err := models.CheckSampleID(req.SampleID); err != nil {
		return nil, err
	}
	reg := &models.SampleRegistration{Sample: models.Sample{SampleID: req.SampleID, Tube: tube, Site: site,
		SamplerAccountID: sampler, SampledAt: api.clock.Now().UTC()}}
	if err := api.identify(ctx, &reg.Sample, req); err != nil {
		// A resend of a registration made while its code was live.
		if old, lookErr := api.store.SampleByID(ctx, req.SampleID); lookErr == nil && old.Site == site {
			return &models.SampleRegistration{Sample: *old, Replayed: true}, nil
		}
		return nil, err
	}
	if err := api.samples.Submit(ctx, reg); err != nil {
		return nil, err
	}
	return reg, reg.Err
}

// identify fills in whose sample it is, from a code or a typed document
// (creating the person on first sight, when the tube would take them).
func (api *API) identify(ctx context.Context, sm *models.Sample, req sampleRequest) error {
	if req.QR != "" {
		v, err := api.checker.Identify(ctx, req.QR)
		if err != nil {
			return err
		}
		switch v.Result {
		case models.ResultValid:
		case models.ResultExpired:
			return errSampleCodeExpired
		case models.ResultRevoked:
			return errSampleCodeRevoked
		default:
			return errSampleCodeInvalid
		}
		sm.PersonID, sm.PersonNo, sm.Method = v.Claims.Subject, v.Claims.PersonNo, v.Claims.Kind
		sm.MaskedName, sm.MaskedDoc = v.Claims.MaskedName, v.Claims.MaskedDoc
		return nil
	}
	if req.DocType == "" && req.DocNumber == "" && req.Name == "" {
		return errSampleWho
	}
	name, doc, err := document.ParseIdentity(req.Name, req.DocType, req.DocNumber, api.store.Today())
	if err != nil {
		return err
	}
	// Someone new is recorded only for a registration the tube would take;
	// someone on record only under the name on record.
	p, err := api.store.EnsureSampledPerson(ctx, name, doc, sm.Tube, sm.Site)
	if err != nil {
		return err
	}
	sm.PersonID, sm.PersonNo, sm.Method = p.ID, p.No, models.IdentifiedByHand
	sm.MaskedName, sm.MaskedDoc = p.MaskedName, p.MaskedDoc
	return nil
}
