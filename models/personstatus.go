package models

import (
	"time"

	"healthcode/models/document"
)

// StatusEntry is one row of an imported list: a document (by keyed hash
// only; the person may not have registered) and its colour from one source.
type StatusEntry struct {
	ID       uint64 `gorm:"primaryKey;autoIncrement"`
	Source   string
	DocHash  []byte
	Colour   Colour
	Reason   string
	ImportID string
}

// TableName names the table.
func (StatusEntry) TableName() string { return "status_entries" }

// StatusImport records one accepted import.
type StatusImport struct {
	ID        string `gorm:"primaryKey;size:32"`
	Source    string
	Rows      int
	Actor     string
	CreatedAt time.Time
}

// TableName names the table.
func (StatusImport) TableName() string { return "status_imports" }

// Status is a person's current colour, where it comes from and why, and
// their latest nucleic-acid result.
type Status struct {
	Colour  Colour
	Source  string
	Reason  string
	Nucleic NucleicStatus
}

// NucleicStatus is a person's latest nucleic-acid result; Result is empty
// when there is none.
type NucleicStatus struct {
	Result    string
	SampledAt time.Time
	TestedAt  time.Time
}

// green is the status of a person on no list.
var green = Status{Colour: Green}

// PersonStatus is the current status of one registered person as the store
// keeps it (table person_status): what a node loads when it starts cold.
// A person without a row is green.
type PersonStatus struct {
	PersonNo      uint32 `gorm:"primaryKey;autoIncrement:false"`
	Colour        Colour
	Source        string
	Reason        string
	NucleicResult string
	SampledAt     *time.Time
	TestedAt      *time.Time
	// Seq is the change that set this status.
	Seq uint64
}

// TableName names the table.
func (PersonStatus) TableName() string { return "person_status" }

// StatusChange is one entry of the ordered change log every node applies
// after the last sequence it holds: a person's new status in full.
type StatusChange struct {
	Seq           uint64 `gorm:"primaryKey;autoIncrement"`
	PersonNo      uint32
	Colour        Colour
	Source        string
	Reason        string
	NucleicResult string
	SampledAt     *time.Time
	TestedAt      *time.Time
	At            time.Time
}

// TableName names the table.
func (StatusChange) TableName() string { return "status_changes" }

// StatusRow is one validated row of a list.
type StatusRow struct {
	Line   int
	Doc    document.Document
	Colour Colour
	Reason string
}
