package models

import (
	"time"
)

// Verifier is an account allowed to verify codes (staff at a gate), at a
// place.
type Verifier struct {
	AccountID string `gorm:"primaryKey;size:32"`
	Place     string
	GrantedBy string
	GrantedAt time.Time
	RevokedAt *time.Time
}

// TableName names the table.
func (Verifier) TableName() string { return "verifiers" }

// Results of a verification.
const (
	ResultValid   = "valid"
	ResultExpired = "expired"
	ResultInvalid = "invalid"
	ResultRevoked = "revoked"
)

// Verification records one scan: who checked which holder, with what
// result and colour, where and when.
type Verification struct {
	ID                uint64 `gorm:"primaryKey;autoIncrement"`
	VerifierAccountID string
	HolderHandle      string
	Result            string
	Reason            string
	Colour            Colour
	Kind              string
	Place             string
	CodeID            string
	CheckedAt         time.Time
}

// TableName names the table.
func (Verification) TableName() string { return "verifications" }
