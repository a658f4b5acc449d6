package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"healthcode/models/document"
	"healthcode/models/fault"

	"gorm.io/gorm/clause"
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

// Purposes of sealed account fields.
const (
	purposeSessionKey = "account.session_key"
	purposePhone      = "account.phone"
)

// errAccountNotFound: no such account (404).
var errAccountNotFound = fault.Errorf(fault.KindNotFound, fault.CodeAccountNotFound, "账号不存在")

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

// Login records a platform login: it upserts the account and keeps the
// platform's session key sealed (WeChat; empty for others).
func (s *Store) Login(ctx context.Context, platform, platformUserID, unionID, sessionKey string) (*Account, error) {
	a, err := s.UpsertAccount(ctx, platform, platformUserID, unionID)
	if err != nil || sessionKey == "" {
		return a, err
	}
	a.SessionKeySealed = s.vault.Seal(sessionKey, purposeSessionKey)
	if err := s.db.WithContext(ctx).Model(a).Update("session_key_sealed", a.SessionKeySealed).Error; err != nil {
		return nil, fmt.Errorf("keep session key: %w", err)
	}
	return a, nil
}

// UpsertAccount returns the account of a platform user, creating it on the
// first login. A non-empty unionID is recorded.
func (s *Store) UpsertAccount(ctx context.Context, platform, platformUserID, unionID string) (*Account, error) {
	if platform == "" || platformUserID == "" {
		return nil, errors.New("upsert account: platform and user id are required")
	}
	db := s.db.WithContext(ctx)
	a := Account{ID: newID(), Platform: platform, PlatformUserID: platformUserID, UnionID: unionID, SessionVersion: 1}
	// Insert or leave alone in one statement, so concurrent first logins of
	// the same user agree on one account.
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&a).Error; err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	var got Account
	if err := db.Take(&got, "platform = ? AND platform_user_id = ?", platform, platformUserID).Error; err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	if unionID != "" && got.UnionID != unionID {
		if err := db.Model(&got).Update("union_id", unionID).Error; err != nil {
			return nil, fmt.Errorf("record union id: %w", err)
		}
	}
	return &got, nil
}

// AccountByID returns an account, or an *Error of KindNotFound.
func (s *Store) AccountByID(ctx context.Context, id string) (*Account, error) {
	var a Account
	if err := s.db.WithContext(ctx).Take(&a, "id = ?", id).Error; err != nil {
		return nil, notFoundAs(err, errAccountNotFound)
	}
	return &a, nil
}

// AccountByPlatformUser returns the account of a platform's user without
// creating one, or an *Error of KindNotFound when that user never logged in.
func (s *Store) AccountByPlatformUser(ctx context.Context, platform, platformUserID string) (*Account, error) {
	var a Account
	if err := s.db.WithContext(ctx).Take(&a, "platform = ? AND platform_user_id = ?", platform, platformUserID).Error; err != nil {
		return nil, notFound(err, fault.CodeAccountNotFound, "账号不存在")
	}
	return &a, nil
}

// SetPhone keeps a verified phone number sealed on the account, with its
// masked form.
func (s *Store) SetPhone(ctx context.Context, a *Account, phone, requestID string) error {
	a.PhoneSealed = s.vault.Seal(phone, purposePhone)
	a.MaskedPhone = document.MaskPhone(phone)
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Model(a).Select("phone_sealed", "masked_phone").Updates(a).Error; err != nil {
			return fmt.Errorf("keep phone: %w", err)
		}
		return tx.Create(&AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + a.ID, Action: "phone.bind",
			Subject: a.ID, Detail: a.MaskedPhone, RequestID: requestID}).Error
	})
}
