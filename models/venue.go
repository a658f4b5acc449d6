package models

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"healthcode/models/document"
	"healthcode/models/fault"
)

// States of a venue.
const (
	VenueActive        = "active"
	VenuePendingReview = "pending_review"
	VenueRejected      = "rejected"
	VenueEnded         = "ended"
)

// venueKinds are the kinds of place a venue may be, with their words.
var venueKinds = map[string]string{
	"shop": "商铺", "restaurant": "餐饮", "office": "办公楼宇", "factory": "工厂", "school": "学校", "hospital": "医疗机构",
	"hotel": "宾馆", "transport": "交通场站", "residential": "居住小区", "public": "公共场所", "other": "其他",
}

// VenueKindText returns a venue kind in Chinese, "" for an unknown one.
func VenueKindText(kind string) string { return venueKinds[kind] }

// MaxVenueDeputies bounds the deputies of one venue.
const MaxVenueDeputies = 20

// Venue is a registered place with a posted code (场所码): its registrar,
// the organisation's credit code, and the generation of its code (bumped on
// rotation, so the old posters stop verifying).
type Venue struct {
	ID                 string `gorm:"primaryKey;size:32"`
	RegistrarAccountID string
	// RegistrarPersonNo is the registrar's person in the status book: a
	// registrar who is not green suspends the venue.
	RegistrarPersonNo uint32
	Name              string
	Address           string
	District          string
	Kind              string
	CreditCode        string
	State             string
	Generation        int64
	// CodeIssuedAt is when the current generation's code was made.
	CodeIssuedAt time.Time
	// Rev is the venues' version counter when the row last changed, so a
	// node's registry reads only what changed since its own.
	Rev        int64
	ReviewNote string
	DecidedBy  string
	DecidedAt  *time.Time
	CreatedAt  time.Time
	EndedAt    *time.Time
}

// TableName names the table.
func (Venue) TableName() string { return "venues" }

// CreditCodeMasked is the credit code as responses show it: its first and
// last two characters.
func (v *Venue) CreditCodeMasked() string { return document.MaskNumber(v.CreditCode) }

// VenueDeputy is an account a registrar lets view a venue's records.
type VenueDeputy struct {
	VenueID   string `gorm:"primaryKey;size:32"`
	AccountID string `gorm:"primaryKey;size:32"`
	AddedBy   string
	AddedAt   time.Time
}

// TableName names the table.
func (VenueDeputy) TableName() string { return "venue_deputies" }

var (
	errVenueNotFound = fault.Errorf(fault.KindNotFound, fault.CodeVenueNotFound, "场所不存在")
	// ErrVenueInactive: the venue ended, its code was rotated or it is not
	// (yet) approved (409).
	ErrVenueInactive = fault.Errorf(fault.KindConflict, fault.CodeVenueInactive, "该场所码已失效，请扫描场所张贴的最新场所码")
	// ErrVenueSuspended: the venue's registrar is not green (409).
	ErrVenueSuspended = fault.Errorf(fault.KindConflict, fault.CodeVenueSuspended, "该场所码暂停使用")
	// ErrRegistrarNotGreen: only a green caller registers a venue (409).
	ErrRegistrarNotGreen = fault.Errorf(fault.KindConflict, fault.CodeRegistrarNotGreen, "您的健康码不是绿码，暂不能申请场所码")
	errVenueName         = fault.Errorf(fault.KindInvalid, fault.CodeInvalidVenueName, "场所名称应为2至100个字")
	errVenueAddress      = fault.Errorf(fault.KindInvalid, fault.CodeInvalidVenueAddress, "场所地址应为2至100个字")
	errVenueDistrict     = fault.Errorf(fault.KindInvalid, fault.CodeInvalidDistrict, "行政区划代码应为6位数字")
	errVenueKind         = fault.Errorf(fault.KindInvalid, fault.CodeInvalidVenueKind, "场所类型不正确")
	errNotRegistrar      = fault.Errorf(fault.KindForbidden, fault.CodeVenueNotRegistrar, "只有场所登记人可以进行此操作")
)

var districtFormat = regexp.MustCompile(`^[1-9][0-9]{5}$`)

// VenueApplication is what a registrar asks for.
type VenueApplication struct {
	Name, CreditCode, Address, District, Kind string
}

// placeText validates a venue's name or address: 2–100 characters of text,
// no control characters, spaces trimmed.
func placeText(s string, bad *fault.Error) (string, error) {
	s = strings.TrimSpace(s)
	n := 0
	for _, r := range s {
		if unicode.IsControl(r) || r == '\uFFFD' {
			return "", bad
		}
		n++
	}
	if n < 2 || n > 100 {
		return "", bad
	}
	return s, nil
}

// Validate normalises the application and checks it: the state a valid
// application starts in (active, or pending_review for a credit code whose
// check digit fails). Errors: KindInvalid.
func (a *VenueApplication) Validate() (string, error) {
	var err error
	if a.Name, err = placeText(a.Name, errVenueName); err != nil {
		return "", err
	}
	if a.Address, err = placeText(a.Address, errVenueAddress); err != nil {
		return "", err
	}
	if !districtFormat.MatchString(a.District) {
		return "", errVenueDistrict
	}
	if venueKinds[a.Kind] == "" {
		return "", errVenueKind
	}
	code, check := document.CheckCreditCode(a.CreditCode)
	a.CreditCode = code
	switch check {
	case document.CreditCodeValid:
		return VenueActive, nil
	case document.CreditCodeCheckDigit:
		return VenuePendingReview, nil
	}
	return "", errCreditCode
}

// errCreditCode is the refusal of a malformed credit code in a venue registration.
var errCreditCode = fault.Errorf(fault.KindInvalid, fault.CodeInvalidCreditCode, "统一社会信用代码应为18位数字或大写字母（不含I、O、S、V、Z）")

// venuesVersionName names the venues' version counter.
const venuesVersionName = "venues"

// touchVenue bumps the venues' counter inside tx and marks the venue's row
// with it, so registries read the change.
func touchVenue(tx *gormDB, id string, now time.Time) error {
	if err := bumpVersion(tx, venuesVersionName, now); err != nil {
		return err
	}
	rev, err := readVersion(tx, venuesVersionName)
	if err != nil {
		return err
	}
	return tx.Model(&Venue{}).Where("id = ?", id).Update("rev", rev).Error
}

// RegisterVenue registers a venue for the account, whose person (registrarNo)
// becomes its registrar, audited. The caller has checked the account is
// green. Errors: KindInvalid for a bad application.
func (s *Store) RegisterVenue(ctx context.Context, accountID string, registrarNo uint32, app VenueApplication, requestID string) (*Venue, error) {
	state, err := app.Validate()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	v := &Venue{ID: newID(), RegistrarAccountID: accountID, RegistrarPersonNo: registrarNo, Name: app.Name, Address: app.Address,
		District: app.District, Kind: app.Kind, CreditCode: app.CreditCode, State: state, Generation: 1, CodeIssuedAt: now, CreatedAt: now}
	err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Create(v).Error; err != nil {
			return err
		}
		if err := touchVenue(tx, v.ID, now); err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: now, Actor: "account:" + accountID, Action: "venue.register", Subject: v.ID,
			Detail: "state=" + state + " credit_code=" + v.CreditCodeMasked(), RequestID: requestID}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("register venue: %w", err)
	}
	return v, nil
}

// VenuesOf lists the venues an account registered or deputises for, newest
// first (ended ones included).
func (s *Store) VenuesOf(ctx context.Context, accountID string) ([]Venue, error) {
	var out []Venue
	err := s.db.WithContext(ctx).
		Where("registrar_account_id = ? OR id IN (SELECT venue_id FROM venue_deputies WHERE account_id = ?)", accountID, accountID).
		Order("created_at DESC, id").Limit(1000).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list venues: %w", err)
	}
	return out, nil
}

// venueFor reads a venue the account registered or deputises for; any other
// venue is KindNotFound, never revealing that it exists.
func venueFor(tx *gormDB, accountID, id string) (*Venue, error) {
	var v Venue
	err := tx.Where("id = ? AND (registrar_account_id = ? OR EXISTS (SELECT 1 FROM venue_deputies d WHERE d.venue_id = venues.id AND d.account_id = ?))",
		id, accountID, accountID).Take(&v).Error
	if err != nil {
		return nil, notFoundAs(err, errVenueNotFound)
	}
	return &v, nil
}

// VenueFor returns a venue the account registered or deputises for.
// Errors: KindNotFound for any other.
func (s *Store) VenueFor(ctx context.Context, accountID, id string) (*Venue, error) {
	return venueFor(s.db.WithContext(ctx), accountID, id)
}

// changeVenue applies change to a venue of its registrar inside one
// transaction with the registry's version and the audit entry. A deputy is
// KindForbidden, a stranger KindNotFound.
func (s *Store) changeVenue(ctx context.Context, accountID, id, action, requestID string, change func(tx *gormDB, v *Venue, now time.Time) error) (*Venue, error) {
	now := s.clock.Now().UTC()
	var v *Venue
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var err error
		if v, err = venueFor(tx.Clauses(lockForUpdate), accountID, id); err != nil {
			return err
		}
		if v.RegistrarAccountID != accountID {
			return errNotRegistrar
		}
		if err := change(tx, v, now); err != nil {
			return err
		}
		if err := touchVenue(tx, v.ID, now); err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: now, Actor: "account:" + accountID, Action: action, Subject: id, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// EndVenue ends a venue: its code verifies as revoked from then on. An
// ended venue is KindConflict.
func (s *Store) EndVenue(ctx context.Context, accountID, id, requestID string) (*Venue, error) {
	return s.changeVenue(ctx, accountID, id, "venue.end", requestID, func(tx *gormDB, v *Venue, now time.Time) error {
		if v.State == VenueEnded {
			return ErrVenueInactive
		}
		v.State, v.EndedAt = VenueEnded, &now
		return tx.Model(v).Select("state", "ended_at").Updates(v).Error
	})
}

// RotateVenueCode makes a new generation of a venue's code: the old posters
// verify as revoked (rotated). An ended or rejected venue is KindConflict.
func (s *Store) RotateVenueCode(ctx context.Context, accountID, id, requestID string) (*Venue, error) {
	return s.changeVenue(ctx, accountID, id, "venue.rotate", requestID, func(tx *gormDB, v *Venue, now time.Time) error {
		if v.State == VenueEnded || v.State == VenueRejected {
			return ErrVenueInactive
		}
		v.Generation, v.CodeIssuedAt = v.Generation+1, now
		return tx.Model(v).Select("generation", "code_issued_at").Updates(v).Error
	})
}

// AddVenueDeputy lets another account view a venue's records, audited.
// Errors: KindNotFound for an unknown account or a stranger's venue,
// KindForbidden for a deputy asking, KindConflict beyond MaxVenueDeputies.
func (s *Store) AddVenueDeputy(ctx context.Context, accountID, id, deputyID, requestID string) error {
	_, err := s.changeVenue(ctx, accountID, id, "venue.deputy_add", requestID, func(tx *gormDB, v *Venue, now time.Time) error {
		if err := tx.Take(&Account{}, "id = ?", deputyID).Error; err != nil {
			return notFoundAs(err, errAccountNotFound)
		}
		if deputyID == accountID {
			return fault.Errorf(fault.KindInvalid, fault.CodeInvalidDeputy, "登记人本人无需添加为协管人")
		}
		var n int64
		if err := tx.Model(&VenueDeputy{}).Where("venue_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxVenueDeputies {
			return fault.Errorf(fault.KindConflict, fault.CodeVenueDeputyLimit, "每个场所最多%d名协管人", MaxVenueDeputies)
		}
		d := VenueDeputy{VenueID: id, AccountID: deputyID, AddedBy: accountID, AddedAt: now}
		return tx.Where(VenueDeputy{VenueID: id, AccountID: deputyID}).FirstOrCreate(&d).Error
	})
	return err
}

// VenueReviews lists venues of a state (pending_review by default), oldest
// first.
func (s *Store) VenueReviews(ctx context.Context, state string) ([]Venue, error) {
	var out []Venue
	if err := s.db.WithContext(ctx).Where("state = ?", state).Order("created_at, id").Limit(1000).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list venue reviews: %w", err)
	}
	return out, nil
}

// DecideVenueReview approves (active) or rejects a venue pending review,
// with a note the registrar sees, audited. A venue not pending is
// KindConflict.
func (s *Store) DecideVenueReview(ctx context.Context, id, decision, note, actor, requestID string) (*Venue, error) {
	state := map[string]string{"approve": VenueActive, "reject": VenueRejected}[decision]
	if state == "" {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidDecision, "decision 只能是 approve 或 reject")
	}
	if len([]rune(note)) > 500 {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidNote, "备注不超过500字")
	}
	now := s.clock.Now().UTC()
	var v Venue
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Clauses(lockForUpdate).Take(&v, "id = ?", id).Error; err != nil {
			return notFoundAs(err, errVenueNotFound)
		}
		if v.State != VenuePendingReview {
			return fault.Errorf(fault.KindConflict, fault.CodeVenueReviewClosed, "该申请已处理")
		}
		v.State, v.DecidedAt, v.DecidedBy, v.ReviewNote = state, &now, actor, note
		if err := tx.Model(&v).Select("state", "decided_at", "decided_by", "review_note").Updates(&v).Error; err != nil {
			return err
		}
		if err := touchVenue(tx, id, now); err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: now, Actor: actor, Action: "venue.review", Subject: id,
			Detail: "decision=" + decision, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}
