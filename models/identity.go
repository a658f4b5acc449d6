package models

import (
	"time"

	"healthcode/models/document"
)

// IdentityClaim is what an account said its identity is: a name and a
// document, typed in and not yet proven. It binds nothing and changes no
// person record; a face verification started for it, once passed, binds the
// account to the person holding the document. Claims are never edited: a new
// claim is a new row, and the account points at its latest one.
type IdentityClaim struct {
	ID         string `gorm:"primaryKey;size:32"`
	AccountID  string
	DocType    document.Type
	DocHash    []byte
	NameSealed []byte
	DocSealed  []byte
	MaskedName string
	MaskedDoc  string
	// BirthDate is "2006-01-02", or empty when the document carries none.
	BirthDate string
	CreatedAt time.Time
}

// TableName names the table.
func (IdentityClaim) TableName() string { return "identity_claims" }
