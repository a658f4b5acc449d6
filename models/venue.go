package models

import (
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

// VenueDeputy is a person a registrar lets view a venue's records, through
// whichever account holds them: the right follows the person from phone to
// phone, and never passes to whoever binds an account after them.
type VenueDeputy struct {
	VenueID  string `gorm:"primaryKey;size:32"`
	PersonNo uint32 `gorm:"primaryKey;autoIncrement:false"`
	AddedBy  string
	AddedAt  time.Time
}

// TableName names the table.
func (VenueDeputy) TableName() string { return "venue_deputies" }

var (
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
