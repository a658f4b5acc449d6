package models

import (
	"io"
	"time"

	"healthcode/models/document"
	"healthcode/models/fault"
)

// HouseholdMember says a document is registered in a household (户口本),
// both by keyed hash only.
type HouseholdMember struct {
	ID            uint64 `gorm:"primaryKey;autoIncrement"`
	HouseholdHash []byte
	DocHash       []byte
	// Generation is the import that wrote the row; only the generation in
	// force (register_generations) counts.
	Generation string
}

// TableName names the table.
func (HouseholdMember) TableName() string { return "household_members" }

// BirthRecord says who a child's parent is, by keyed hashes only. The
// child's document hash is empty when the child has none yet.
type BirthRecord struct {
	ID            uint64 `gorm:"primaryKey;autoIncrement"`
	CertHash      []byte
	ChildDocHash  []byte
	ParentDocHash []byte
	Generation    string
}

// TableName names the table.
func (BirthRecord) TableName() string { return "birth_records" }

// HouseholdRow is one validated row of a household register file.
type HouseholdRow struct {
	HouseholdID string
	Doc         document.Document
}

// BirthRow is one validated row of a birth-record file.
type BirthRow struct {
	Certificate document.Document // type birth_certificate
	Child       *document.Document
	Parent      document.Document
}

var (
	householdHeader = []string{"household_id", "doc_type", "doc_number"}
	birthHeader     = []string{"birth_certificate", "child_doc_type", "child_doc_number", "parent_doc_type", "parent_doc_number"}
)

// ParseHouseholdCSV reads household_id,doc_type,doc_number rows. Any bad
// row refuses the whole file (an *Error with CodeImportRejected).
func ParseHouseholdCSV(r io.Reader, today time.Time) ([]HouseholdRow, error) {
	var rows []HouseholdRow
	err := ScanHouseholdCSV(r, today, func(row HouseholdRow) error { rows = append(rows, row); return nil })
	return rows, err
}

// ScanHouseholdCSV reads a household register as a stream, calling each
// for every valid row; errors as ParseHouseholdCSV's, after the whole file.
func ScanHouseholdCSV(r io.Reader, today time.Time, each func(HouseholdRow) error) error {
	return scanRows(r, householdHeader, each, func(f []string) (HouseholdRow, error) {
		if len(f) != 3 {
			return HouseholdRow{}, fault.Errorf(fault.KindInvalid, fault.CodeColumns, "应有3列：户号,证件类型,证件号码")
		}
		if f[0] == "" || len(f[0]) > 64 {
			return HouseholdRow{}, fault.Errorf(fault.KindInvalid, fault.CodeHouseholdID, "户号不能为空且不超过64个字符")
		}
		doc, err := document.Parse(f[1], f[2], today)
		if err != nil {
			return HouseholdRow{}, err
		}
		return HouseholdRow{HouseholdID: f[0], Doc: doc}, nil
	})
}

// ParseBirthCSV reads birth_certificate,child_doc_type,child_doc_number,
// parent_doc_type,parent_doc_number rows (the child's document empty when
// the child has none). Any bad row refuses the whole file.
func ParseBirthCSV(r io.Reader, today time.Time) ([]BirthRow, error) {
	var rows []BirthRow
	err := ScanBirthCSV(r, today, func(row BirthRow) error { rows = append(rows, row); return nil })
	return rows, err
}

// ScanBirthCSV reads birth records as a stream, as ScanHouseholdCSV does.
func ScanBirthCSV(r io.Reader, today time.Time, each func(BirthRow) error) error {
	return scanRows(r, birthHeader, each, func(f []string) (BirthRow, error) {
		if len(f) != 5 {
			return BirthRow{}, fault.Errorf(fault.KindInvalid, fault.CodeColumns, "应有5列：出生医学证明编号,子女证件类型,子女证件号码,父母证件类型,父母证件号码")
		}
		cert, err := document.Parse(string(document.BirthCertificate), f[0], today)
		if err != nil {
			return BirthRow{}, err
		}
		row := BirthRow{Certificate: cert}
		if f[1] != "" || f[2] != "" {
			child, err := document.Parse(f[1], f[2], today)
			if err != nil {
				return BirthRow{}, err
			}
			row.Child = &child
		}
		if row.Parent, err = document.Parse(f[3], f[4], today); err != nil {
			return BirthRow{}, err
		}
		return row, nil
	})
}

// scanRows reads a CSV file through readCSV, turning each row into a T with
// parse and handing it to each; an error from each stops the scan and comes
// back as it is.
func scanRows[T any](r io.Reader, header []string, each func(T) error, parse func([]string) (T, error)) error {
	var stop error
	err := readCSV(r, header, func(_ int, f []string) error {
		row, err := parse(f)
		if err != nil {
			return err
		}
		if err := each(row); err != nil {
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
