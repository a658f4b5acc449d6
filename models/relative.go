package models

import (
	"time"

	"healthcode/models/document"
)

// Relations a family member may have to the account holder, with the words
// a page shows for each.
var relations = map[string]string{
	"child": "子女", "parent": "父母", "spouse": "配偶", "grandparent": "祖父母", "grandchild": "孙子女", "other": "其他",
}

// ValidRelation reports whether r is a known relation.
func ValidRelation(r string) bool { return relations[r] != "" }

// RelationText returns a relation in Chinese (child → 子女, parent → 父母,
// spouse → 配偶, grandparent → 祖父母, grandchild → 孙子女, other → 其他),
// or "" for an unknown one.
func RelationText(r string) string { return relations[r] }

// Statuses of a relative link.
const (
	LinkApproved = "approved"
	LinkPending  = "pending"
	LinkRejected = "rejected"
	LinkDeleted  = "deleted"
)

// Evidence that proved a link.
const (
	EvidenceHousehold   = "household"
	EvidenceBirthRecord = "birth_record"
	EvidenceManual      = "manual"
)

// MaxRelatives bounds the live links of one account.
const MaxRelatives = 10

// Relative links an account holder to a family member whose code they may
// hold and whose status they may look up (亲属码, 他人代查).
type Relative struct {
	ID          string `gorm:"primaryKey;size:32"`
	AccountID   string
	PersonID    string
	Relation    string
	Status      string
	Evidence    string
	ReviewDueAt *time.Time
	DecidedAt   *time.Time
	DecidedBy   string
	Note        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName names the table.
func (Relative) TableName() string { return "relatives" }

// RelativeView is a link with the relative's masked identity.
type RelativeView struct {
	Relative
	// PersonNo is the relative's dense number, for the status book.
	PersonNo   uint32
	DocType    document.Type
	MaskedName string
	MaskedDoc  string
}

// ReviewItem is a pending link as a reviewer sees it: masked both sides.
type ReviewItem struct {
	Relative
	Overdue          bool
	HolderMaskedName string
	HolderMaskedDoc  string
	MaskedName       string
	MaskedDoc        string
	DocType          document.Type
}
