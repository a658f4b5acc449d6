package models

import (
	"io"
	"time"

	"healthcode/models/document"
	"healthcode/models/fault"
)

// DisabilityEntry says a document is on the register of disabled people
// (残疾人名单) the authority last imported, by keyed hash only: a person on
// it may hold an offline code whatever their age.
type DisabilityEntry struct {
	ID      uint64 `gorm:"primaryKey;autoIncrement"`
	DocHash []byte
	// Generation is the import job that wrote the row; only the generation
	// in force (register_generations, name "disability") counts.
	Generation string
}

// TableName names the table.
func (DisabilityEntry) TableName() string { return "disability_register" }

// ImportKindDisability is the kind of an import job of the disability
// register.
const ImportKindDisability = "disability"

// disabilityHeader is the optional header row of a register file.
var disabilityHeader = []string{"doc_type", "doc_number"}

// ScanDisabilityCSV reads a disability register (doc_type,doc_number) as a
// stream, calling each for every valid document. Any bad row refuses the
// whole file, after it was read through (an *Error with CodeImportRejected
// listing the rows, never their content); an error each returns stops the
// scan and comes back as it is.
func ScanDisabilityCSV(r io.Reader, today time.Time, each func(document.Document) error) error {
	return scanRows(r, disabilityHeader, each, func(f []string) (document.Document, error) {
		if len(f) != 2 {
			return document.Document{}, fault.Errorf(fault.KindInvalid, fault.CodeColumns, "应有2列：证件类型,证件号码")
		}
		return document.Parse(f[0], f[1], today)
	})
}
