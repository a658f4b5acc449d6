package handlers

import (
	"healthcode/models/fault"

	"github.com/gin-gonic/gin"
)

// routeNucleicResults takes the lab's results files, up to
// HEALTHCODE_IMPORT_MAX_BYTES.
const routeNucleicResults = "/nucleic-results"

// nucleicResults takes a lab's results file (multipart: file, CSV
// tube,result,tested_at) and runs it as an import job: 202 with the job,
// whose progress GET /api/v1/admin/imports/:id reports. A bad row rejects
// the whole file; results change people's colours as they are applied.
func (api *API) nucleicResults(c *gin.Context) {
	upload, err := api.spool(c, false)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	if upload.path == "" {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeFileRequired, "请在 file 字段上传检测结果CSV文件"))
		return
	}
	job, err := api.store.NewResultsImport(c.Request.Context(), c.GetString(ctxOperator), c.GetString(ctxRequestID))
	api.submitImport(c, job, upload, err)
}

// routeDisabilityRegister takes the disability register, up to
// HEALTHCODE_IMPORT_MAX_BYTES.
const routeDisabilityRegister = "/disability-register"

// disabilityRegister takes the authority's register of disabled people
// (multipart: file, CSV doc_type,doc_number) and runs it as an import job:
// 202 with the job, whose progress GET /api/v1/admin/imports/:id reports. A
// bad row rejects the whole file and the register in force stays; a file
// taken replaces the register whole. Only keyed hashes are stored.
func (api *API) disabilityRegister(c *gin.Context) {
	upload, err := api.spool(c, false)
	if err != nil {
		respondError(c, api.log, err)
		return
	}
	if upload.path == "" {
		respondError(c, api.log, fault.Errorf(fault.KindInvalid, codeFileRequired, "请在 file 字段上传残疾人名单CSV文件"))
		return
	}
	job, err := api.store.NewDisabilityImport(c.Request.Context(), c.GetString(ctxOperator), c.GetString(ctxRequestID))
	api.submitImport(c, job, upload, err)
}
