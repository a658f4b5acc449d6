package store

import (
	"context"
	"time"

	"healthcode/models"
	"healthcode/models/document"

	"gorm.io/gorm"
)

// PersonIdentity exposes personIdentity to the external tests.
func PersonIdentity(p *models.Person) *Identity { return personIdentity(p) }

// MigrateTo applies the pending migrations up to and including version, as
// Migrate does, so a test can look at the schema and data before a later
// migration and after it.
func MigrateTo(db *gorm.DB, version int) error {
	if err := tableOptions(db).AutoMigrate(&schemaMigration{}); err != nil {
		return err
	}
	done, err := appliedVersions(db)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if done[m.Version] || m.Version > version {
			continue
		}
		if err := m.Up(db); err != nil {
			return err
		}
		if err := db.Create(&schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: time.Now().UTC()}).Error; err != nil {
			return err
		}
	}
	return nil
}

// ForgetMigration removes a migration's record, as if a database had taken
// the migrations after it (on another branch) first.
func ForgetMigration(db *gorm.DB, version int) error {
	return db.Where("version = ?", version).Delete(&schemaMigration{}).Error
}

// SameHousehold exposes sameHousehold to the external tests, by document
// numbers of resident IDs.
func SameHousehold(db *gormDB, s *Store, a, b string) (bool, error) {
	da, err := document.Parse("resident_id", a, s.Today())
	if err != nil {
		return false, err
	}
	db2, err := document.Parse("resident_id", b, s.Today())
	if err != nil {
		return false, err
	}
	return sameHousehold(db, s.vault.DocumentHash(da), s.vault.DocumentHash(db2))
}

// LoadData exposes loadData to the external tests.
var LoadData = loadData

// LoadDataRefused exposes loadDataRefused to the external tests.
var LoadDataRefused = loadDataRefused

// ImportWalkStatement is the statement the status sync of an import runs
// for the batch after the cursor (cursorDoc, cursor), with its arguments,
// as the store would send it (nothing is run).
func ImportWalkStatement(s *Store, importID string, cursorDoc []byte, cursor uint64) (string, []any) {
	var rows []struct{ ID uint64 }
	tx := importWalk(s.db.Session(&gorm.Session{DryRun: true}), importID, cursorDoc, cursor, s.importBatch()).Scan(&rows)
	return tx.Statement.SQL.String(), tx.Statement.Vars
}

// AfterStaging runs f after each staging transaction of s commits; an error
// from f stands for a commit whose answer was lost.
func AfterStaging(s *Store, f func() error) { s.staged = f }

// Resampled is resampled, for its tests.
func (s *Store) Resampled(ctx context.Context, asked [][2]string, since time.Time) ([]bool, error) {
	return s.resampled(ctx, asked, since)
}

// ErrTubeMissingForTest is the refusal of a sample for a tube not found.
var ErrTubeMissingForTest = errTubeMissing

// AppendStatuses logs statuses as one append of an import's batch (LOAD
// DATA on MySQL from loadDataFrom changes), in a transaction of its own.
func AppendStatuses(ctx context.Context, s *Store, batch []models.PersonStatus) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		log, err := openStatusLog(tx, s.clock.Now().UTC(), true, &s.noLoadData)
		if err != nil {
			return err
		}
		if err := log.append(batch); err != nil {
			return err
		}
		return log.close()
	})
}

// LoadDataFrom is the smallest batch of changes sent as LOAD DATA.
const LoadDataFrom = loadDataFrom

// MaxOfflineIssuesPerDay is how many offline codes a person is issued in 24 hours at most.
const MaxOfflineIssuesPerDay = maxOfflineIssuesPerDay

// SetVenueBatch makes a venue refresh read n venues a statement until the
// test ends.
func SetVenueBatch(t interface{ Cleanup(func()) }, n int) {
	old := venueBatch
	venueBatch = n
	t.Cleanup(func() { venueBatch = old })
}
