package fault

// The error codes the service reports, each spelt once. Clients key on them,
// so a code is a contract like a JSON field name: never change one. The
// HTTP layer's own codes (for a request it cannot read) are in package
// handlers, beside its own kinds.
const (
	// The service as a whole.
	CodeBusy        = "busy"        // load is shed; retry shortly
	CodeInternal    = "internal"    // an unexpected failure; the cause is only logged
	CodeUnavailable = "unavailable" // a dependency (the database) could not serve in time

	// Sessions.
	CodeSessionExpired = "session_expired"
	CodeSessionRevoked = "session_revoked"
	CodeUnauthorized   = "unauthorized"

	// Accounts and identity binding.
	CodeAccountNotFound      = "account_not_found"
	CodeFaceRequired         = "face_verification_required"
	CodeIdentityAlreadyBound = "identity_already_bound"
	CodeIdentityNotBound     = "identity_not_bound"
	CodeIdentityRequired     = "identity_required"
	CodeNameMismatch         = "identity_mismatch" // name and document disagree; the message says not which is wrong

	// Documents and names.
	CodeDocBirthDate      = "id_birth_date"
	CodeDocCharacters     = "id_characters"
	CodeDocCheckDigit     = "id_check_digit"
	CodeDocEmpty          = "doc_empty"
	CodeDocFormat         = "doc_format"
	CodeDocLength         = "id_length"
	CodeDocRegion         = "id_region"
	CodeDocType           = "doc_type_unknown"
	CodeInvalidCreditCode = "invalid_credit_code"
	CodeInvalidEncoding   = "invalid_encoding" // text that is not UTF-8
	CodeNameInvalid       = "name_invalid"     // a name that cannot be a person's name

	// Face verification.
	CodeFaceDuplicate = "face_duplicate"
	CodeFaceNotFound  = "face_not_found"
	CodeFaceNotYours  = "face_not_yours"
	CodeInvalidUser   = "invalid_user"

	// The mini-program platforms.
	CodeBadSignature            = "bad_signature"
	CodeFaceUnsupportedDocument = "face_unsupported_document"
	CodeLoginFailed             = "login_failed"
	CodePhoneFailed             = "phone_failed"
	CodePlatformUnavailable     = "platform_unavailable"

	// Relatives and their reviews.
	CodeInvalidDecision  = "invalid_decision"
	CodeInvalidNote      = "invalid_note"
	CodeNoteHasDocument  = "note_has_document" // an operator's note must not hold a document number
	CodeInvalidRelation  = "invalid_relation"
	CodeRelativeDeleted  = "relative_deleted"
	CodeRelativeExists   = "relative_exists"
	CodeRelativeIsSelf   = "relative_is_self"
	CodeRelativeLimit    = "relative_limit"
	CodeRelativeNotFound = "relative_not_found"
	CodeRelativePending  = "relative_pending"
	CodeRelativeRejected = "relative_rejected"
	CodeReviewClosed     = "review_closed"

	// Imports: status lists, registers and results, and their rows.
	CodeColour           = "colour"
	CodeColumns          = "columns"
	CodeHouseholdID      = "household_id"
	CodeImportInProgress = "import_in_progress"
	CodeImportNotFound   = "import_not_found"
	CodeImportRejected   = "import_rejected" // a file refused for bad rows
	CodeInvalidSource    = "invalid_source"

	// Sampling and nucleic-acid results.
	CodeAlreadyInTube   = "already_in_tube"
	CodeInvalidMode     = "invalid_mode"
	CodeInvalidSampleID = "invalid_sample_id"
	CodeInvalidSite     = "invalid_site"
	CodeInvalidTube     = "invalid_tube"
	CodeNotSampler      = "not_sampler" // the caller is not a sampler
	CodeResult          = "result"
	CodeSampleIDTaken   = "sample_id_taken"
	CodeSampleNotFound  = "sample_not_found"
	CodeSamplerNotFound = "sampler_not_found"
	CodeTestedAt        = "tested_at"
	CodeTubeExists      = "tube_exists"
	CodeTubeFull        = "tube_full"
	CodeTubeNotFound    = "tube_not_found"
	CodeTubeOpen        = "tube_open"
	CodeTubeSealed      = "tube_sealed"

	// Offline codes and kiosks.
	CodeBirthDateOnDocument = "birth_date_on_document"
	CodeInvalidBirthDate    = "invalid_birth_date"
	CodeInvalidKiosk        = "invalid_kiosk"
	CodeKioskNotFound       = "kiosk_not_found"
	CodeKioskRequired       = "kiosk_required"
	CodeNoOfflineCode       = "no_offline_code"
	CodeNotEligible         = "not_eligible"
	CodeOfflineCodeLimit    = "offline_code_limit"
	CodePersonNotFound      = "person_not_found"

	// Verification.
	CodeInvalidPlace     = "invalid_place"
	CodeNotVerifier      = "not_verifier" // the caller is not a verifier
	CodeVerifierNotFound = "verifier_not_found"

	// Venues and check-ins.
	CodeCheckInPersonLimit  = "checkin_person_limit"
	CodeCheckInNotFound     = "checkin_not_found"
	CodeInvalidCursor       = "invalid_cursor"
	CodeInvalidDeputy       = "invalid_deputy"
	CodeInvalidDistrict     = "invalid_district"
	CodeInvalidVenueAddress = "invalid_venue_address"
	CodeInvalidVenueKind    = "invalid_venue_kind"
	CodeInvalidVenueName    = "invalid_venue_name"
	CodeNotVenueCode        = "not_a_venue_code"
	CodeRegistrarNotGreen   = "registrar_not_green"
	CodeVenueDeputyLimit    = "venue_deputy_limit"
	CodeVenueInactive       = "venue_inactive"
	CodeVenueNotFound       = "venue_not_found"
	CodeVenueLimit          = "venue_limit"
	CodeVenueNotRegistrar   = "venue_not_registrar"
	CodeVenueReviewClosed   = "venue_review_closed"
	CodeVenueSuspended      = "venue_suspended"

	// Page tickets.
	CodeTicketInvalid = "ticket_invalid" // a used, expired or unknown page ticket
)
