package models

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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

// dataVersion is a counter nodes poll to learn that reference data changed.
type dataVersion struct {
	Name      string `gorm:"primaryKey;size:32"`
	Version   int64
	UpdatedAt time.Time
}

func (dataVersion) TableName() string { return "data_versions" }

// statusVersionName names the status lists' version counter.
const statusVersionName = "status"

// Status is a person's current colour, where it comes from and why.
type Status struct {
	Colour Colour
	Source string
	Reason string
}

// green is the status of a person on no list.
var green = Status{Colour: Green}

// StatusBook holds, in memory, the colour of every person on a list who is
// not green (a small set); everybody else is green. The show-code and verify
// paths read it without touching the database. It is safe for concurrent use.
type StatusBook struct {
	mu       sync.RWMutex
	byPerson map[string]Status
	version  int64
	loaded   bool
}

// NewStatusBook returns an empty book; load it with Store.RefreshStatus.
func NewStatusBook() *StatusBook { return &StatusBook{byPerson: map[string]Status{}} }

// Of returns the status of the person with the given handle.
func (b *StatusBook) Of(personID string) Status {
	b.mu.RLock()
	s, ok := b.byPerson[personID]
	b.mu.RUnlock()
	if !ok {
		return green
	}
	return s
}

// Version returns the data version the book holds.
func (b *StatusBook) Version() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.version
}

// RefreshStatus reloads the book when the lists changed since it was loaded
// (or always, the first time). Version and entries are read in one
// transaction, so the book never mixes two imports.
func (s *Store) RefreshStatus(ctx context.Context, b *StatusBook) error {
	var current int64
	byPerson := map[string]Status{}
	changed := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		v, err := readVersion(tx, statusVersionName)
		if err != nil {
			return err
		}
		b.mu.RLock()
		changed = !b.loaded || v != b.version
		b.mu.RUnlock()
		if !changed {
			return nil
		}
		current = v
		var rows []struct {
			PersonID string
			Source   string
			Colour   Colour
			Reason   string
		}
		err = tx.Table("status_entries AS e").
			Select("p.id AS person_id, e.source, e.colour, e.reason").
			Joins("JOIN persons AS p ON p.doc_hash = e.doc_hash").
			Where("e.colour <> ?", Green).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("read status lists: %w", err)
		}
		for _, r := range rows {
			if cur, ok := byPerson[r.PersonID]; !ok || r.Colour.Worse(cur.Colour) {
				byPerson[r.PersonID] = Status{Colour: r.Colour, Source: r.Source, Reason: r.Reason}
			}
		}
		return nil
	})
	if err != nil || !changed {
		return err
	}
	b.mu.Lock()
	if !b.loaded || current >= b.version {
		b.byPerson, b.version, b.loaded = byPerson, current, true
	}
	b.mu.Unlock()
	return nil
}

// StatusRow is one validated row of a list.
type StatusRow struct {
	Line   int
	Doc    Document
	Colour Colour
	Reason string
}

// ImportStatus replaces the list of one source with rows, atomically: until
// the transaction commits the old list stays in force, and a failure leaves
// it untouched. A document listed twice keeps its worst colour.
func (s *Store) ImportStatus(ctx context.Context, source string, rows []StatusRow, actor, requestID string) (*StatusImport, error) {
	if !ValidSource(source) {
		return nil, Errorf(KindInvalid, "invalid_source", "名单来源只能是 cdc、community、nucleic_acid 或 operator")
	}
	imp := &StatusImport{ID: newID(), Source: source, Rows: len(rows), Actor: actor, CreatedAt: s.clock.Now().UTC()}
	entries := make([]StatusEntry, 0, len(rows))
	index := map[string]int{}
	for _, r := range rows {
		hash := s.vault.DocumentHash(r.Doc)
		if i, dup := index[string(hash)]; dup {
			if r.Colour.Worse(entries[i].Colour) {
				entries[i].Colour, entries[i].Reason = r.Colour, truncate(r.Reason, 256)
			}
			continue
		}
		index[string(hash)] = len(entries)
		entries = append(entries, StatusEntry{Source: source, DocHash: hash, Colour: r.Colour, Reason: truncate(r.Reason, 256), ImportID: imp.ID})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Where("source = ?", source).Delete(&StatusEntry{}).Error; err != nil {
			return err
		}
		if len(entries) > 0 {
			if err := tx.CreateInBatches(entries, 500).Error; err != nil {
				return err
			}
		}
		if err := tx.Create(imp).Error; err != nil {
			return err
		}
		if err := bumpVersion(tx, statusVersionName, imp.CreatedAt); err != nil {
			return err
		}
		return tx.Create(&AuditEntry{At: imp.CreatedAt, Actor: actor, Action: "status.import", Subject: imp.ID,
			Detail: fmt.Sprintf("source=%s rows=%d", source, len(rows)), RequestID: requestID}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("import %s list: %w", source, err)
	}
	return imp, nil
}

// readVersion returns the named counter, 0 when it was never bumped.
func readVersion(tx *gormDB, name string) (int64, error) {
	var v dataVersion
	err := tx.Where("name = ?", name).Limit(1).Find(&v).Error
	if err != nil {
		return 0, fmt.Errorf("read %s version: %w", name, err)
	}
	return v.Version, nil
}

// bumpVersion increments the named counter inside tx.
func bumpVersion(tx *gormDB, name string, now time.Time) error {
	return tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.Assignments(map[string]any{"version": gorm.Expr("data_versions.version + 1"), "updated_at": now}),
	}).Create(&dataVersion{Name: name, Version: 1, UpdatedAt: now}).Error
}

// listedDocument reports whether a document hash is on a non-green list
// (so a person registering with it changes what the books hold).
func listedDocument(tx *gormDB, hash []byte) (bool, error) {
	var n int64
	err := tx.Model(&StatusEntry{}).Where("doc_hash = ? AND colour <> ?", hash, Green).Limit(1).Count(&n).Error
	return n > 0, err
}
