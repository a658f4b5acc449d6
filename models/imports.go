package models

import (
	"encoding/json"
	"time"
)

// States of an import job.
const (
	ImportQueued     = "queued"
	ImportValidating = "validating"
	ImportApplying   = "applying"
	ImportDone       = "done"
	ImportRejected   = "rejected"
	// ImportFailed is a job that stopped before its list came into force
	// (the node running it went away); nothing changed, upload it again.
	ImportFailed = "failed"
)

// ImportJob is one status-list import, run in steps an operator can follow:
// validating reads the whole file and refuses it on any bad row (nothing
// changes); applying writes the new list beside the one in force in short
// transactions, switches to it in one, then brings every affected person's
// status up to date and removes the old list, both resumable by any node.
type ImportJob struct {
	ID string `gorm:"primaryKey;size:32"`
	// Kind is "" for a status list, ImportKindResults for lab results.
	Kind        string
	Source      string
	State       string
	Clear       bool
	RowsRead    int64
	RowsApplied int64
	BadRows     int64
	// Problems holds the first maxListedProblems row problems, as JSON.
	Problems string
	// Message says, safely, why the job was rejected or failed.
	Message string
	// Switched is set once the new list is in force; PrevImport is the list
	// it replaced, and Phase/CursorDoc/Cursor how far the status sync has
	// come: the last entry synced, by document hash and id (the list is
	// walked in document order).
	Switched   bool
	PrevImport string
	Phase      int
	CursorDoc  []byte
	Cursor     uint64
	Actor      string
	RequestID  string
	// Runner is the lease of the run that owns the job: every write of a
	// run is conditional on it, so a run another node took over (its
	// heartbeat had stopped) stops at its next write instead of racing the
	// new owner.
	Runner    string
	CreatedAt time.Time
	// UpdatedAt is the runner's heartbeat.
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// TableName names the table.
func (ImportJob) TableName() string { return "import_jobs" }

// RowProblems returns the row problems the job recorded.
func (j *ImportJob) RowProblems() []RowProblem {
	var out []RowProblem
	if j.Problems != "" {
		json.Unmarshal([]byte(j.Problems), &out)
	}
	return out
}

// Finished reports whether the job reached a final state.
func (j *ImportJob) Finished() bool {
	return j.State == ImportDone || j.State == ImportRejected || j.State == ImportFailed
}

// StatusSource says which import's entries are in force for a source.
type StatusSource struct {
	Source    string `gorm:"primaryKey;size:16"`
	ImportID  string
	UpdatedAt time.Time
}

// TableName names the table.
func (StatusSource) TableName() string { return "status_sources" }
