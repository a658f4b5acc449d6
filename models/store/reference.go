package store

import (
	"context"
	"fmt"
	"io"
	"time"

	"healthcode/models"
	"healthcode/models/document"
)

// registerGeneration says which import of a register is in force.
type registerGeneration struct {
	Name       string `gorm:"primaryKey;size:16"`
	Generation string
	UpdatedAt  time.Time
}

func (registerGeneration) TableName() string { return "register_generations" }

// Registers by the name their generation row has.
const (
	registerHouseholds = "households"
	registerBirths     = "births"
)

// ImportHouseholds replaces the household register with rows (see
// replaceRegister).
func (s *Store) ImportHouseholds(ctx context.Context, rows []models.HouseholdRow, actor, requestID string) (int, error) {
	return s.replaceRegister(ctx, registerHouseholds, "reference.households", actor, requestID, func(write func(any, int) error) error {
		return writeInBatches(rows, 1000, func(batch []models.HouseholdRow) error { return write(s.householdMembers(batch), len(batch)) })
	})
}

// ImportHouseholdsCSV replaces the household register with a file read as a
// stream, twice: once to validate it whole (a bad row refuses it, as
// ParseHouseholdCSV), once to write it. It returns the rows written.
func (s *Store) ImportHouseholdsCSV(ctx context.Context, open func() (io.ReadCloser, error), actor, requestID string) (int, error) {
	today := s.Today()
	if err := scanFile(open, func(r io.Reader) error {
		return models.ScanHouseholdCSV(r, today, func(models.HouseholdRow) error { return ctx.Err() })
	}); err != nil {
		return 0, err
	}
	return s.replaceRegister(ctx, registerHouseholds, "reference.households", actor, requestID, func(write func(any, int) error) error {
		return scanFile(open, func(r io.Reader) error {
			return streamBatches(1000, func(add func(models.HouseholdRow) error) error { return models.ScanHouseholdCSV(r, today, add) },
				func(batch []models.HouseholdRow) error { return write(s.householdMembers(batch), len(batch)) })
		})
	})
}

// AddHousehold adds one household's members to the register in force and
// keeps every row already there (an import, by contrast, replaces the
// register, and a later one replaces these rows too): the sandbox's demo
// household. It holds the register's generation row while it writes, so an
// import switching generations waits for it. Audited as
// reference.household_add. Errors are the database's.
func (s *Store) AddHousehold(ctx context.Context, householdID string, docs []document.Document, actor, requestID string) (int, error) {
	now := s.clock.Now().UTC()
	members := make([]models.HouseholdMember, 0, len(docs))
	for _, d := range docs {
		members = append(members, models.HouseholdMember{HouseholdHash: s.vault.Hash("household", householdID), DocHash: s.vault.DocumentHash(d)})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var gen registerGeneration
		if err := tx.Clauses(lockForUpdate).Where("name = ?", registerHouseholds).Limit(1).Find(&gen).Error; err != nil {
			return err
		}
		if gen.Generation == "" { // no register imported yet: this starts one
			gen = registerGeneration{Name: registerHouseholds, Generation: models.NewID(), UpdatedAt: now}
			if err := tx.Save(&gen).Error; err != nil {
				return err
			}
		}
		setGeneration(members, gen.Generation)
		if err := tx.Create(&members).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "reference.household_add", Subject: "household",
			Detail: fmt.Sprintf("rows=%d", len(members)), RequestID: requestID}).Error
	})
	if err != nil {
		return 0, fmt.Errorf("add household: %w", err)
	}
	return len(members), nil
}

// ImportBirths replaces the birth records with rows (see replaceRegister).
func (s *Store) ImportBirths(ctx context.Context, rows []models.BirthRow, actor, requestID string) (int, error) {
	return s.replaceRegister(ctx, registerBirths, "reference.births", actor, requestID, func(write func(any, int) error) error {
		return writeInBatches(rows, 1000, func(batch []models.BirthRow) error { return write(s.birthRecords(batch), len(batch)) })
	})
}

// ImportBirthsCSV replaces the birth records with a file read as a stream,
// as ImportHouseholdsCSV does.
func (s *Store) ImportBirthsCSV(ctx context.Context, open func() (io.ReadCloser, error), actor, requestID string) (int, error) {
	today := s.Today()
	if err := scanFile(open, func(r io.Reader) error {
		return models.ScanBirthCSV(r, today, func(models.BirthRow) error { return ctx.Err() })
	}); err != nil {
		return 0, err
	}
	return s.replaceRegister(ctx, registerBirths, "reference.births", actor, requestID, func(write func(any, int) error) error {
		return scanFile(open, func(r io.Reader) error {
			return streamBatches(1000, func(add func(models.BirthRow) error) error { return models.ScanBirthCSV(r, today, add) },
				func(batch []models.BirthRow) error { return write(s.birthRecords(batch), len(batch)) })
		})
	})
}

// householdMembers turns rows into register rows (their generation is
// stamped when they are written).
func (s *Store) householdMembers(rows []models.HouseholdRow) []models.HouseholdMember {
	out := make([]models.HouseholdMember, len(rows))
	for i, r := range rows {
		out[i] = models.HouseholdMember{HouseholdHash: s.vault.Hash("household", r.HouseholdID), DocHash: s.vault.DocumentHash(r.Doc)}
	}
	return out
}

// birthRecords turns rows into register rows, as householdMembers does.
func (s *Store) birthRecords(rows []models.BirthRow) []models.BirthRecord {
	out := make([]models.BirthRecord, len(rows))
	for i, r := range rows {
		out[i] = models.BirthRecord{CertHash: s.vault.DocumentHash(r.Certificate), ParentDocHash: s.vault.DocumentHash(r.Parent)}
		if r.Child != nil {
			out[i].ChildDocHash = s.vault.DocumentHash(*r.Child)
		}
	}
	return out
}

// scanFile opens a file and hands it to read.
func scanFile(open func() (io.ReadCloser, error), read func(io.Reader) error) error {
	f, err := open()
	if err != nil {
		return fmt.Errorf("open import file: %w", err)
	}
	defer f.Close()
	return read(f)
}

// writeInBatches hands rows to write n at a time.
func writeInBatches[T any](rows []T, n int, write func([]T) error) error {
	for start := 0; start < len(rows); start += n {
		if err := write(rows[start:min(start+n, len(rows))]); err != nil {
			return err
		}
	}
	return nil
}

// streamBatches collects the rows scan yields into batches of n for write.
func streamBatches[T any](n int, scan func(add func(T) error) error, write func([]T) error) error {
	batch := make([]T, 0, n)
	err := scan(func(row T) error {
		batch = append(batch, row)
		if len(batch) < n {
			return nil
		}
		err := write(batch)
		batch = batch[:0]
		return err
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		return write(batch)
	}
	return nil
}

// replaceRegister replaces a whole register: fill writes the new rows
// through write in short transactions, under a new generation beside the
// one in force; one short transaction then puts the new generation in
// force and audits it; the old generation's rows are removed in batches
// after. A failure before the switch removes what was written and leaves
// the register in force as it was. It returns the rows written.
func (s *Store) replaceRegister(ctx context.Context, name, action, actor, requestID string, fill func(write func(rows any, n int) error) error) (int, error) {
	gen, table := models.NewID(), map[string]string{registerHouseholds: "household_members", registerBirths: "birth_records"}[name]
	written := 0
	err := fill(func(rows any, n int) error {
		setGeneration(rows, gen)
		if err := s.db.WithContext(ctx).Create(rows).Error; err != nil {
			return err
		}
		written += n
		return nil
	})
	if err != nil {
		s.deleteGeneration(ctx, table, gen)
		return 0, err
	}
	now := s.clock.Now().UTC()
	var old registerGeneration
	err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Clauses(lockForUpdate).Where("name = ?", name).Limit(1).Find(&old).Error; err != nil {
			return err
		}
		if err := tx.Save(&registerGeneration{Name: name, Generation: gen, UpdatedAt: now}).Error; err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: action, Subject: "all",
			Detail: fmt.Sprintf("rows=%d", written), RequestID: requestID}).Error
	})
	if err != nil {
		s.deleteGeneration(ctx, table, gen)
		return 0, fmt.Errorf("%s: %w", action, err)
	}
	return written, s.deleteGeneration(ctx, table, old.Generation)
}

// setGeneration stamps a batch of register rows with their generation.
func setGeneration(rows any, gen string) {
	switch rs := rows.(type) {
	case []models.HouseholdMember:
		for i := range rs {
			rs[i].Generation = gen
		}
	case []models.BirthRecord:
		for i := range rs {
			rs[i].Generation = gen
		}
	}
}

// deleteGeneration removes a register generation's rows, a batch at a time.
func (s *Store) deleteGeneration(ctx context.Context, table, gen string) error {
	for {
		var ids []uint64
		if err := s.db.WithContext(ctx).Table(table).Where("generation = ?", gen).Order("id").Limit(2000).Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("read %s of a replaced register: %w", table, err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := s.db.WithContext(ctx).Exec("DELETE FROM "+table+" WHERE id IN ?", ids).Error; err != nil {
			return fmt.Errorf("remove %s of a replaced register: %w", table, err)
		}
	}
}

// sameHousehold reports whether two documents share a household register.
func sameHousehold(tx *gormDB, a, b []byte) (bool, error) {
	var n int64
	err := tx.Table("household_members AS x").
		Joins("JOIN household_members AS y ON y.household_hash = x.household_hash AND y.generation = x.generation").
		Where("x.doc_hash = ? AND y.doc_hash = ? AND x.generation = (SELECT generation FROM register_generations WHERE name = ?)",
			a, b, registerHouseholds).Count(&n).Error
	return n > 0, err
}

// isParentOf reports whether a birth record names parent as the parent of
// child (by the child's document or birth certificate).
func isParentOf(tx *gormDB, parent, child []byte) (bool, error) {
	var n int64
	err := tx.Model(&models.BirthRecord{}).
		Where("parent_doc_hash = ? AND (child_doc_hash = ? OR cert_hash = ?) AND generation = (SELECT generation FROM register_generations WHERE name = ?)",
			parent, child, child, registerBirths).Count(&n).Error
	return n > 0, err
}
