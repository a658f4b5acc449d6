package models

import (
	"io"
	"strings"
	"time"

	"healthcode/models/fault"
)

// NucleicResult is a person's latest nucleic-acid result from the lab
// (table nucleic_results): the status source nucleic_acid, kept per person
// beside the lists so the worst-colour rule still holds.
type NucleicResult struct {
	PersonNo  uint32 `gorm:"primaryKey;autoIncrement:false"`
	Result    string
	Tube      string
	SampledAt time.Time
	TestedAt  time.Time
}

// TableName names the table.
func (NucleicResult) TableName() string { return "nucleic_results" }

// Reasons of the colours nucleic-acid results give.
const (
	ReasonPositive      = "核酸阳性"
	ReasonMixedPositive = "混管阳性，待单管复核"
)

// Colour is the colour a result gives its person: red for a positive
// single tube, yellow for a positive mixed tube (until a single-tube
// result), none (green) for a negative.
func (r NucleicResult) Colour() (Colour, string) {
	switch r.Result {
	case NucleicPositive:
		return Red, ReasonPositive
	case NucleicMixedPositive:
		return Yellow, ReasonMixedPositive
	}
	return Green, ""
}

// ImportKindResults is the kind of an import job of lab results (the
// status-list jobs' kind is "").
const ImportKindResults = "nucleic_results"

// ResultRow is one validated row of a lab's results file.
type ResultRow struct {
	Line     int
	Tube     string
	Result   string
	TestedAt time.Time
}

// resultsHeader is the optional header row of a results file.
var resultsHeader = []string{"tube", "result", "tested_at"}

// parseTestedAt reads a test time: RFC 3339, or "2006-01-02 15:04[:05]"
// in loc.
func parseTestedAt(s string, loc *time.Location) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	for _, layout := range []string{time.DateTime, "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// ScanResultsCSV reads a results file (tube,result,tested_at) as a stream,
// calling each for every valid row; lookup finds a tube (nil when unknown).
// A row naming an unknown or unsealed tube, a result other than negative
// or positive, or a test time that is malformed, later than now or before
// the tube was opened (each give or take five minutes of clock) refuses
// the whole file, after it was read through (an *Error with
// CodeImportRejected listing the rows). An error each returns stops the
// scan and comes back as it is.
func ScanResultsCSV(r io.Reader, now time.Time, loc *time.Location, lookup func(string) (*Tube, error), each func(ResultRow) error) error {
	var stop error
	err := readCSV(r, resultsHeader, func(row int, f []string) error {
		if len(f) != 3 {
			return fault.Errorf(fault.KindInvalid, fault.CodeColumns, "应有3列：试管条码,结果,检测时间")
		}
		if err := CheckTube(f[0]); err != nil {
			return err
		}
		result := strings.ToLower(f[1])
		if result != NucleicNegative && result != NucleicPositive {
			return fault.Errorf(fault.KindInvalid, fault.CodeResult, "结果只能是 negative 或 positive")
		}
		tested, ok := parseTestedAt(f[2], loc)
		if !ok {
			return fault.Errorf(fault.KindInvalid, fault.CodeTestedAt, "检测时间格式应为 2006-01-02T15:04:05+08:00 或 2006-01-02 15:04")
		}
		if tested.After(now.Add(5 * time.Minute)) {
			return fault.Errorf(fault.KindInvalid, fault.CodeTestedAt, "检测时间晚于当前时间")
		}
		t, err := lookup(f[0])
		if err != nil {
			stop = err
			return errStopScan
		}
		switch {
		case t == nil:
			return fault.Errorf(fault.KindInvalid, fault.CodeTubeNotFound, "未找到该试管")
		case t.State != TubeSealed:
			return fault.Errorf(fault.KindInvalid, fault.CodeTubeOpen, "该试管尚未封管")
		case tested.Before(t.OpenedAt.Add(-5 * time.Minute)):
			// A mistyped date (last year's) would decide which result is a
			// person's latest, hiding a newer one.
			return fault.Errorf(fault.KindInvalid, fault.CodeTestedAt, "检测时间早于该试管开始采样的时间")
		}
		if err := each(ResultRow{Line: row, Tube: f[0], Result: result, TestedAt: tested.UTC()}); err != nil {
			stop = err
			return errStopScan
		}
		return nil
	})
	if stop != nil {
		return stop
	}
	return err
}
