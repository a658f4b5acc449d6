package models

import (
	"time"

	"healthcode/models/document"
	"healthcode/models/fault"
)

// ErrNameMismatch: the name does not match the document on record; it does
// not say which of the two is wrong (400).
var ErrNameMismatch = fault.Errorf(fault.KindInvalid, fault.CodeNameMismatch, "姓名与证件信息不一致，请核对后重新输入")

// Person is someone with an identity document. The name and number are
// sealed; the keyed hash finds the person by document; the masked forms are
// what pages show. ID is the opaque handle codes carry.
type Person struct {
	ID string `gorm:"primaryKey;size:32"`
	// No is the person's dense number, which sessions and codes carry so
	// the status book is an array, not a map.
	No         uint32
	DocType    document.Type
	DocHash    []byte
	NameSealed []byte
	DocSealed  []byte
	MaskedName string
	MaskedDoc  string
	// BirthDate is "2006-01-02", or empty when the document carries none.
	BirthDate string
	// NameVerifiedAt is when a platform's face verification confirmed the
	// name and document together; until then the name on record is only
	// what someone typed.
	NameVerifiedAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName names the table.
func (Person) TableName() string { return "persons" }
