package models

import (
	"regexp"
	"time"

	"healthcode/models/fault"
)

// How a person was identified at the sampling point: the kind of code
// scanned, or by hand.
const (
	IdentifiedByHand = "manual"
)

// Sample is one registration: a person put in a tube at a site by a
// sampler, how they were identified, and when. Its id is the client's, so a
// resend is recognised.
type Sample struct {
	SampleID string `gorm:"primaryKey;size:64"`
	Tube     string
	// Position is the tube's count once this sample was in it.
	Position         int
	PersonID         string
	PersonNo         uint32
	MaskedName       string
	MaskedDoc        string
	Site             string
	SamplerAccountID string
	Method           string
	// Resampled flags a person sampled at another open tube within the
	// hour before (allowed: re-sampling happens).
	Resampled bool
	SampledAt time.Time
}

// TableName names the table.
func (Sample) TableName() string { return "samples" }

var (
	sampleIDFormat = regexp.MustCompile(`^[0-9A-Za-z-]{8,64}$`)
	errBadSampleID = fault.Errorf(fault.KindInvalid, fault.CodeInvalidSampleID, "采样记录编号应为8至64位字母、数字或“-”")
)

// CheckSampleID validates a client's sample id. Errors: KindInvalid.
func CheckSampleID(id string) error {
	if !sampleIDFormat.MatchString(id) {
		return errBadSampleID
	}
	return nil
}

// SampleRegistration is one registration handed to the group-commit writer
// of samples: the sample asked for and, once its batch committed, what came
// of it. Read Sample, Replayed and Err only after Submit returned nil.
type SampleRegistration struct {
	Sample Sample
	// Replayed is set when the sample id was registered before: Sample is
	// then the record as it was first made, and nothing changed.
	Replayed bool
	// Err is the refusal of this one sample (KindNotFound, KindConflict
	// with CodeTubeFull, CodeTubeSealed, CodeAlreadyInTube, or sample_id_taken
	// for another site's sample id).
	Err error
}
