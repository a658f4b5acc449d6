package store

import (
	"context"
	"errors"
	"fmt"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"

	"gorm.io/gorm/clause"
)

// Purposes of sealed account fields.
const (
	purposeSessionKey = "account.session_key"
	purposePhone      = "account.phone"
)

// errAccountNotFound: no such account (404).
var errAccountNotFound = fault.Errorf(fault.KindNotFound, fault.CodeAccountNotFound, "账号不存在")

// Login records a platform login: it upserts the account and keeps the
// platform's session key sealed (WeChat; empty for others).
func (s *Store) Login(ctx context.Context, platform, platformUserID, unionID, sessionKey string) (*models.Account, error) {
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
func (s *Store) UpsertAccount(ctx context.Context, platform, platformUserID, unionID string) (*models.Account, error) {
	if platform == "" || platformUserID == "" {
		return nil, errors.New("upsert account: platform and user id are required")
	}
	db := s.db.WithContext(ctx)
	a := models.Account{ID: models.NewID(), Platform: platform, PlatformUserID: platformUserID, UnionID: unionID, SessionVersion: 1}
	// Insert or leave alone in one statement, so concurrent first logins of
	// the same user agree on one account.
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&a).Error; err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	var got models.Account
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
func (s *Store) AccountByID(ctx context.Context, id string) (*models.Account, error) {
	var a models.Account
	if err := s.db.WithContext(ctx).Take(&a, "id = ?", id).Error; err != nil {
		return nil, notFoundAs(err, errAccountNotFound)
	}
	return &a, nil
}

// AccountByPlatformUser returns the account of a platform's user without
// creating one, or an *Error of KindNotFound when that user never logged in.
func (s *Store) AccountByPlatformUser(ctx context.Context, platform, platformUserID string) (*models.Account, error) {
	var a models.Account
	if err := s.db.WithContext(ctx).Take(&a, "platform = ? AND platform_user_id = ?", platform, platformUserID).Error; err != nil {
		return nil, notFound(err, fault.CodeAccountNotFound, "账号不存在")
	}
	return &a, nil
}

// SetPhone keeps a verified phone number sealed on the account, with its
// masked form.
func (s *Store) SetPhone(ctx context.Context, a *models.Account, phone, requestID string) error {
	a.PhoneSealed = s.vault.Seal(phone, purposePhone)
	a.MaskedPhone = document.MaskPhone(phone)
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Model(a).Select("phone_sealed", "masked_phone").Updates(a).Error; err != nil {
			return fmt.Errorf("keep phone: %w", err)
		}
		return tx.Create(&models.AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + a.ID, Action: "phone.bind",
			Subject: a.ID, Detail: a.MaskedPhone, RequestID: requestID}).Error
	})
}
