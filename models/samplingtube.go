package models

import (
	"regexp"
	"time"

	"healthcode/models/fault"
)

// Tube states.
const (
	TubeOpen   = "open"
	TubeSealed = "sealed"
)

// Tube is a sampling tube: opened by a sampler at a site for 1, 10 or 20
// people (its mode), filled, sealed, then tested by the lab.
type Tube struct {
	Tube             string `gorm:"primaryKey;size:20"`
	Mode             int
	Site             string
	SamplerAccountID string
	Count            int
	State            string
	// Short is set when a mixed tube is sealed with fewer people than its
	// mode; the lab sees it.
	Short    bool
	OpenedAt time.Time
	SealedAt *time.Time
	// Result is the lab's ("" until tested), TestedAt when it tested.
	Result   string
	TestedAt *time.Time
}

// TableName names the table.
func (Tube) TableName() string { return "sampling_tubes" }

var (
	tubeBarcode = regexp.MustCompile(`^[0-9A-Za-z-]{8,20}$`)
	errBadTube  = fault.Errorf(fault.KindInvalid, fault.CodeInvalidTube, "试管条码应为8至20位字母、数字或“-”")
)

// CheckTube validates a tube barcode: 8–20 characters of [0-9A-Za-z-].
// Errors: KindInvalid.
func CheckTube(tube string) error {
	if !tubeBarcode.MatchString(tube) {
		return errBadTube
	}
	return nil
}

// MaxTubeMode is the most people a tube takes: a 20-in-1 mixed tube.
const MaxTubeMode = 20
