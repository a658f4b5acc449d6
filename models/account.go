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
	// SessionKeySealed is the platform session key (WeChat), sealed.
	SessionKeySealed []byte
	// PendingPersonID is an identity this account asked to bind that another
	// account already holds; it is linked once this account passes face
	// verification for it.
	PendingPersonID *string
	PhoneSealed     []byte
	MaskedPhone     string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// TableName names the table.
func (Account) TableName() string { return "accounts" }

// Purposes of sealed account fields.
const (
	purposeSessionKey = "account.session_key"
	purposePhone      = "account.phone"
)

// Error codes of identity binding.
const (
	CodeIdentityRequired       = "identity_required"
	CodeIdentityAlreadyBound   = "identity_already_bound"
	CodeFaceRequired           = "face_verification_required"
	CodeFaceUnsupportedDocKind = "face_unsupported_document"
)

// IdentityBound reports whether a person is bound to the account.
func (a *Account) IdentityBound() bool { return a.PersonID != nil }

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
		return nil, notFound(err, "account_not_found", "账号不存在")
	}
	return &a, nil
}

// BindIdentity binds the person holding doc (name normalised) to the
// account. When another account already holds that person, the person is
// recorded as pending and linked only after this account passes face
// verification for it; pending reports that case. Errors: *Error with
// CodeNameMismatch (400) or CodeIdentityAlreadyBound (409, the account holds
// another person).
func (s *Store) BindIdentity(ctx context.Context, accountID, name string, doc Document, requestID string) (a *Account, p *Person, pending bool, err error) {
	p, err = s.ensurePerson(ctx, name, doc, true, "account:"+accountID)
	if err != nil {
		return nil, nil, false, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var acc Account
		if err := tx.Clauses(lockForUpdate).Take(&acc, "id = ?", accountID).Error; err != nil {
			return notFound(err, "account_not_found", "账号不存在")
		}
		a = &acc
		if acc.PersonID != nil {
			if *acc.PersonID != p.ID {
				return Errorf(KindConflict, CodeIdentityAlreadyBound, "该账号已绑定其他身份，如需更换请联系客服")
			}
			return nil // already bound to this person
		}
		// Lock the person so two accounts binding it at once take turns.
		if err := tx.Clauses(lockForUpdate).Take(&Person{}, "id = ?", p.ID).Error; err != nil {
			return err
		}
		var holders int64
		if err := tx.Model(&Account{}).Where("person_id = ? AND id <> ?", p.ID, acc.ID).Count(&holders).Error; err != nil {
			return err
		}
		action := "identity.bind"
		if holders > 0 {
			pending, action = true, "identity.bind_pending"
			acc.PendingPersonID = &p.ID
		} else {
			acc.PersonID, acc.PendingPersonID = &p.ID, nil
		}
		if err := tx.Model(&acc).Select("person_id", "pending_person_id").Updates(&acc).Error; err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + acc.ID, Action: action,
			Subject: p.ID, Detail: string(doc.Type) + " " + p.MaskedDoc, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, nil, false, err
	}
	return a, p, pending, nil
}

// IdentityToVerify returns the person face verification is for: the pending
// identity when there is one, else the bound one; an *Error with
// CodeIdentityRequired (403) when there is neither.
func (s *Store) IdentityToVerify(ctx context.Context, a *Account) (*Person, error) {
	id := a.PendingPersonID
	if id == nil {
		id = a.PersonID
	}
	if id == nil {
		return nil, ErrIdentityRequired
	}
	return s.PersonByID(ctx, *id)
}

// SetPhone keeps a verified phone number sealed on the account, with its
// masked form.
func (s *Store) SetPhone(ctx context.Context, a *Account, phone, requestID string) error {
	a.PhoneSealed = s.vault.Seal(phone, purposePhone)
	a.MaskedPhone = MaskPhone(phone)
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Model(a).Select("phone_sealed", "masked_phone").Updates(a).Error; err != nil {
			return fmt.Errorf("keep phone: %w", err)
		}
		return tx.Create(&AuditEntry{At: s.clock.Now().UTC(), Actor: "account:" + a.ID, Action: "phone.bind",
			Subject: a.ID, Detail: a.MaskedPhone, RequestID: requestID}).Error
	})
}
