package models

import (
	"time"
)

// Statuses of a face verification.
const (
	FacePending = "pending"
	FacePassed  = "passed"
	FaceFailed  = "failed"
	// FaceExpired is a verdict that came after the verification's
	// ExpiresAt: it counts for nothing.
	FaceExpired = "expired"
)

// FaceVerification is one face check of an account against a person, as
// started with a platform. VerifyID is the platform's ticket (WeChat
// verify_id, Alipay certify_id); ID is our order number sent with it.
type FaceVerification struct {
	ID        string `gorm:"primaryKey;size:32"`
	VerifyID  string
	Provider  string
	AccountID string
	// PersonID is the bound person a daily check is for; ClaimID the
	// claim a first check proves. One of the two is set.
	PersonID    string
	ClaimID     string
	Status      string
	Detail      string
	ExpiresAt   time.Time
	CompletedAt *time.Time
	CreatedAt   time.Time
}

// TableName names the table.
func (FaceVerification) TableName() string { return "face_verifications" }

// NewFaceOrderNo returns a fresh order number for a platform request: 26
// characters of [a-z2-7], within WeChat's and Alipay's limits.
func NewFaceOrderNo() string { return NewID() }

// FaceOutcome is a platform's verdict on a face verification.
type FaceOutcome struct {
	Passed bool
	// Detail is the platform's result code, for the record.
	Detail string
	// PassedAt is when the platform says the check passed; zero when it
	// does not say, and then the time of completion stands for it.
	PassedAt time.Time
}

// Subject is what the audit row of a verification names: the bound person,
// or the claim being proven.
func (fv *FaceVerification) Subject() string {
	if fv.ClaimID != "" {
		return fv.ClaimID
	}
	return fv.PersonID
}
