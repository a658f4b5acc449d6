package models_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/storetest"
)

// TestDisabilityImportInterrupted: a register import that stops while it
// writes leaves the register in force as it was; recovery fails the job and
// removes what it wrote, and the next import replaces the register.
func TestDisabilityImportInterrupted(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow}
		s := models.NewStore(db, storetest.Vault(t), clock, shanghai)
		var file strings.Builder
		for i := range 5000 {
			n := fmt.Sprintf("31011519800101%03d", i%1000)
			fmt.Fprintf(&file, "resident_id,%s%c\n", n, models.CheckDigit(n))
		}
		run := func(open func() (io.ReadCloser, error)) (*models.ImportJob, error) {
			job, err := s.NewDisabilityImport(ctx, "operator:test", "")
			if err != nil {
				t.Fatal(err)
			}
			return job, s.RunImport(ctx, job, open, nil)
		}
		whole := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(file.String())), nil }
		first, err := run(whole)
		if err != nil || first.State != models.ImportDone || first.RowsApplied != 5000 {
			t.Fatalf("first register: %+v, %v", first, err)
		}
		opened := 0
		broken, err := run(func() (io.ReadCloser, error) {
			opened++
			if opened == 1 {
				return whole()
			}
			// Three quarters through, past the first batch on either database.
			return failingReader{r: strings.NewReader(file.String()[:len(file.String())*3/4])}, nil
		})
		if err == nil {
			t.Fatalf("a run whose file broke off ended %+v", broken)
		}
		count := func(gen string) (n int64) {
			db.Table("disability_register").Where("generation = ?", gen).Count(&n)
			return n
		}
		if count(broken.ID) == 0 || count(first.ID) != 5000 {
			t.Fatalf("after the break: %d rows of the broken run, %d of the register", count(broken.ID), count(first.ID))
		}
		if _, err := s.NewDisabilityImport(ctx, "operator:test", ""); models.ErrorCode(err) != "import_in_progress" {
			t.Errorf("a second import while one runs: %v", err)
		}
		clock.Set(purgeNow.Add(3 * time.Minute))
		if n, err := s.RecoverImports(ctx, 2*time.Minute); n != 1 || err != nil {
			t.Fatalf("recover = %d, %v", n, err)
		}
		got, _ := s.ImportJobByID(ctx, broken.ID)
		if got.State != models.ImportFailed || count(broken.ID) != 0 || count(first.ID) != 5000 {
			t.Errorf("recovered: %s, %d rows of it, %d of the register", got.State, count(broken.ID), count(first.ID))
		}
		third, err := run(whole)
		if err != nil || third.State != models.ImportDone || count(first.ID) != 0 || count(third.ID) != 5000 {
			t.Errorf("next register: %+v, %v; %d old rows", third, err, count(first.ID))
		}
	})
}
