package models

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName names the table.
func (Account) TableName() string { return "accounts" }

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
		return nil, notFound(err, "account_not_found", "账号不存在")
	}
	return &a, nil
}
