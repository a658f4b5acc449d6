package fault

// The error codes the service reports, each spelt once: clients key on
// them, so a code is a contract like a JSON field name.
const (
	CodeBusy        = "busy"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
)
