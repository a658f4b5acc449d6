package store_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// A run's save that repeats the one before it (a file whose rows fill the
// last batch exactly is saved at that batch and again at its end, in the
// same millisecond when the machine is quick) is still the run's own: on
// MySQL, which counts the rows an UPDATE changed rather than matched, it
// was taken for a lost lease and the import stopped as "taken over".
func TestImportWhoseRowsFillTheLastBatch(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		// Clocks that stand still (the store's and the one GORM stamps
		// updated_at with) make every save in the same instant.
		now := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
		db.Config.NowFunc = func() time.Time { return now }
		s := store.NewStore(db, storetest.Vault(t), &setClock{now: now}, shanghai)
		rows := 500 // SQLite's batch
		if db.Dialector.Name() == "mysql" {
			rows = 2000
		}
		var csv strings.Builder
		birth := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range rows {
			fmt.Fprintf(&csv, "resident_id,%s,yellow,\n", withCheck(fmt.Sprintf("330106%s%03d", birth.AddDate(0, 0, i/100).Format("20060102"), i%100)))
		}
		ctx := context.Background()
		job, err := s.NewStatusImport(ctx, models.SourceCommunity, false, "operator:test", "")
		if err != nil {
			t.Fatal(err)
		}
		open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(csv.String())), nil }
		if err := s.RunStatusImport(ctx, job, open, nil); err != nil || job.State != models.ImportDone || job.RowsApplied != int64(rows) {
			t.Fatalf("import of %d rows: %v, state %s, %d applied", rows, err, job.State, job.RowsApplied)
		}
	})
}
