package models

import (
	"time"

	"healthcode/models/fault"
)

// Platforms an account logs in from.
const (
	PlatformWeChat  = "wechat"
	PlatformAlipay  = "alipay"
	PlatformSandbox = "sandbox"
)

// Account is one mini-program login: a platform and the platform's user id.
// It may be bound to a person.
type Account struct {
	ID             string `gorm:"primaryKey;size:32"`
	Platform       string
	PlatformUserID string
	UnionID        string
	PersonID       *string
	// SessionVersion is bumped by logout; tokens of an older version fail.
	SessionVersion int64
	// FaceVerifiedOn is the date (service time zone) face verification last
	// passed, or empty.
	FaceVerifiedOn string
	// SessionKeySealed is the platform session key (WeChat), sealed.
	SessionKeySealed []byte
	// ClaimID is the identity the account claims and has not yet proven by
	// face verification (unset once bound).
	ClaimID     *string
	PhoneSealed []byte
	MaskedPhone string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName names the table.
func (Account) TableName() string { return "accounts" }

// ErrIdentityRequired: the account has bound no identity (403).
var ErrIdentityRequired = fault.Errorf(fault.KindForbidden, fault.CodeIdentityRequired, "请先完成实名认证")

// IdentityBound reports whether a person is bound to the account.
func (a *Account) IdentityBound() bool { return a.PersonID != nil }

// IdentityPending reports whether the account claims an identity that no
// face verification has proven yet.
func (a *Account) IdentityPending() bool { return a.PersonID == nil && a.ClaimID != nil }

// FaceVerifiedOnDay reports whether face verification passed on date
// ("2006-01-02").
func (a *Account) FaceVerifiedOnDay(date string) bool {
	return a.FaceVerifiedOn != "" && a.FaceVerifiedOn == date
}
