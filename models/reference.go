package models

import (
	"context"
	"fmt"
	"io"
	"time"
)

// HouseholdMember says a document is registered in a household (户口本),
// both by keyed hash only.
type HouseholdMember struct {
	ID            uint64 `gorm:"primaryKey;autoIncrement"`
	HouseholdHash []byte
	DocHash       []byte
}

// TableName names the table.
func (HouseholdMember) TableName() string { return "household_members" }

// BirthRecord says who a child's parent is, by keyed hashes only. The
// child's document hash is empty when the child has none yet.
type BirthRecord struct {
	ID            uint64 `gorm:"primaryKey;autoIncrement"`
	CertHash      []byte
	ChildDocHash  []byte
	ParentDocHash []byte
}

// TableName names the table.
func (BirthRecord) TableName() string { return "birth_records" }

// HouseholdRow is one validated row of a household register file.
type HouseholdRow struct {
	HouseholdID string
	Doc         Document
}

// BirthRow is one validated row of a birth-record file.
type BirthRow struct {
	Certificate Document // type birth_certificate
	Child       *Document
	Parent      Document
}

var (
	householdHeader = []string{"household_id", "doc_type", "doc_number"}
	birthHeader     = []string{"birth_certificate", "child_doc_type", "child_doc_number", "parent_doc_type", "parent_doc_number"}
)

// ParseHouseholdCSV reads household_id,doc_type,doc_number rows. Any bad
// row refuses the whole file (an *Error with CodeImportRejected).
func ParseHouseholdCSV(r io.Reader, today time.Time) ([]HouseholdRow, error) {
	var rows []HouseholdRow
	err := readCSV(r, householdHeader, func(_ int, f []string) error {
		if len(f) != 3 {
			return Errorf(KindInvalid, "columns", "应有3列：户号,证件类型,证件号码")
		}
		if f[0] == "" || len(f[0]) > 64 {
			return Errorf(KindInvalid, "household_id", "户号不能为空且不超过64个字符")
		}
		doc, err := ParseDocument(f[1], f[2], today)
		if err != nil {
			return err
		}
		rows = append(rows, HouseholdRow{HouseholdID: f[0], Doc: doc})
		return nil
	})
	return rows, err
}

// ParseBirthCSV reads birth_certificate,child_doc_type,child_doc_number,
// parent_doc_type,parent_doc_number rows (the child's document empty when
// the child has none). Any bad row refuses the whole file.
func ParseBirthCSV(r io.Reader, today time.Time) ([]BirthRow, error) {
	var rows []BirthRow
	err := readCSV(r, birthHeader, func(_ int, f []string) error {
		if len(f) != 5 {
			return Errorf(KindInvalid, "columns", "应有5列：出生医学证明编号,子女证件类型,子女证件号码,父母证件类型,父母证件号码")
		}
		cert, err := ParseDocument(string(DocBirthCertificate), f[0], today)
		if err != nil {
			return err
		}
		row := BirthRow{Certificate: cert}
		if f[1] != "" || f[2] != "" {
			child, err := ParseDocument(f[1], f[2], today)
			if err != nil {
				return err
			}
			row.Child = &child
		}
		if row.Parent, err = ParseDocument(f[3], f[4], today); err != nil {
			return err
		}
		rows = append(rows, row)
		return nil
	})
	return rows, err
}

// ImportHouseholds replaces the household register with rows, atomically.
func (s *Store) ImportHouseholds(ctx context.Context, rows []HouseholdRow, actor, requestID string) (int, error) {
	members := make([]HouseholdMember, 0, len(rows))
	for _, r := range rows {
		members = append(members, HouseholdMember{HouseholdHash: s.vault.Hash("household", r.HouseholdID), DocHash: s.vault.DocumentHash(r.Doc)})
	}
	return len(rows), s.replaceReference(ctx, &HouseholdMember{}, members, len(members), "reference.households", actor, requestID)
}

// ImportBirths replaces the birth records with rows, atomically.
func (s *Store) ImportBirths(ctx context.Context, rows []BirthRow, actor, requestID string) (int, error) {
	records := make([]BirthRecord, 0, len(rows))
	for _, r := range rows {
		rec := BirthRecord{CertHash: s.vault.DocumentHash(r.Certificate), ParentDocHash: s.vault.DocumentHash(r.Parent)}
		if r.Child != nil {
			rec.ChildDocHash = s.vault.DocumentHash(*r.Child)
		}
		records = append(records, rec)
	}
	return len(rows), s.replaceReference(ctx, &BirthRecord{}, records, len(records), "reference.births", actor, requestID)
}

// replaceReference swaps a whole reference table for rows in one transaction.
func (s *Store) replaceReference(ctx context.Context, model, rows any, n int, action, actor, requestID string) error {
	now := s.clock.Now().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Where("1 = 1").Delete(model).Error; err != nil {
			return err
		}
		if err := tx.CreateInBatches(rows, 500).Error; err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: now, Actor: actor, Action: action, Subject: "all",
			Detail: fmt.Sprintf("rows=%d", n), RequestID: requestID}).Error
	})
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// sameHousehold reports whether two documents share a household register.
func sameHousehold(tx *gormDB, a, b []byte) (bool, error) {
	var n int64
	err := tx.Table("household_members AS x").
		Joins("JOIN household_members AS y ON y.household_hash = x.household_hash").
		Where("x.doc_hash = ? AND y.doc_hash = ?", a, b).Count(&n).Error
	return n > 0, err
}

// isParentOf reports whether a birth record names parent as the parent of
// child (by the child's document or birth certificate).
func isParentOf(tx *gormDB, parent, child []byte) (bool, error) {
	var n int64
	err := tx.Model(&BirthRecord{}).
		Where("parent_doc_hash = ? AND (child_doc_hash = ? OR cert_hash = ?)", parent, child, child).Count(&n).Error
	return n > 0, err
}
