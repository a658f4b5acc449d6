package store_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

func withCheck(first17 string) string { return first17 + string(document.CheckDigit(first17)) }

// importCSV runs an import job over csv to its end; a rejected file comes
// back as an import_rejected error.
func importCSV(t *testing.T, s *store.Store, source, csv string) error {
	t.Helper()
	job, err := s.NewStatusImport(context.Background(), source, false, "operator:test", "")
	if err != nil {
		return err
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(csv)), nil }
	if err := s.RunStatusImport(context.Background(), job, open, nil); err != nil {
		return err
	}
	if job.State == models.ImportRejected {
		return fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "%s", job.Message)
	}
	return nil
}

func TestStatusImportsAndTheBook(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		alice, _ := s.EnsurePerson(ctx, "张三", mustParse(t, "resident_id", "11010519491231002X"))
		bobNumber := withCheck("31011519800101123")
		book := models.NewStatusBook()
		if err := s.RefreshStatus(ctx, book); err != nil {
			t.Fatal(err)
		}
		if got := book.Of(alice.No); got.Colour != models.Green {
			t.Fatalf("before any list: %+v", got)
		}

		// Bob is listed before he registers.
		if err := importCSV(t, s, models.SourceCommunity, "resident_id,11010519491231002X,yellow,居家\nresident_id,"+bobNumber+",yellow,居家\n"); err != nil {
			t.Fatal(err)
		}
		if err := importCSV(t, s, models.SourceCDC, "resident_id,11010519491231002X,red,密接\n"); err != nil {
			t.Fatal(err)
		}
		s.RefreshStatus(ctx, book)
		if got := book.Of(alice.No); got.Colour != models.Red || got.Source != models.SourceCDC {
			t.Errorf("the worst colour across sources should win: %+v", got)
		}

		// A bad file is refused whole and the lists in force stay.
		err := importCSV(t, s, models.SourceCDC, "resident_id,11010519491231002X,green,\nresident_id,110105194912310021,green,\n")
		if fault.CodeOf(err) != fault.CodeImportRejected {
			t.Fatalf("bad file: %v", err)
		}
		s.RefreshStatus(ctx, book)
		if got := book.Of(alice.No); got.Colour != models.Red {
			t.Errorf("after a refused import: %+v, want red still", got)
		}

		// The CDC list replaced: alice is only on the community list now.
		if err := importCSV(t, s, models.SourceCDC, "passport,E12345678,red,\n"); err != nil {
			t.Fatal(err)
		}
		s.RefreshStatus(ctx, book)
		if got := book.Of(alice.No); got.Colour != models.Yellow {
			t.Errorf("after the CDC list was replaced: %+v, want yellow", got)
		}

		// Bob registers: another node's book learns his colour from the
		// change log, one change, without reloading the book.
		elsewhere := models.NewStatusBook()
		s.RefreshStatus(ctx, elsewhere)
		seq := elsewhere.Seq()
		bob, err := s.EnsurePerson(ctx, "李四", mustParse(t, "resident_id", bobNumber))
		if err != nil {
			t.Fatal(err)
		}
		s.RefreshStatus(ctx, elsewhere)
		if elsewhere.Seq() != seq+1 || elsewhere.Of(bob.No).Colour != models.Yellow || elsewhere.Of(bob.No).Reason != "居家" {
			t.Errorf("a listed person's registration did not reach the book as one change: seq %d → %d, %+v", seq, elsewhere.Seq(), elsewhere.Of(bob.No))
		}
		// A cold start agrees with the book kept up by changes.
		cold := models.NewStatusBook()
		if err := s.RefreshStatus(ctx, cold); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*models.Person{alice, bob} {
			if cold.Of(p.No) != elsewhere.Of(p.No) || cold.Of(p.No) != book.Of(p.No) && p == alice {
				t.Errorf("cold %+v, kept %+v, first %+v", cold.Of(p.No), elsewhere.Of(p.No), book.Of(p.No))
			}
		}
		if cold.Seq() != elsewhere.Seq() {
			t.Errorf("cold book at %d, kept at %d", cold.Seq(), elsewhere.Seq())
		}
		// Registering someone on no list changes nothing anywhere.
		carol, err := s.EnsurePerson(ctx, "王五", mustParse(t, "resident_id", withCheck("31011519900101123")))
		if err != nil {
			t.Fatal(err)
		}
		s.RefreshStatus(ctx, elsewhere)
		if elsewhere.Seq() != seq+1 || elsewhere.Of(carol.No).Colour != models.Green || carol.No <= bob.No {
			t.Errorf("an unlisted registration: seq %d, %+v, numbers %d %d", elsewhere.Seq(), elsewhere.Of(carol.No), bob.No, carol.No)
		}
		if audit, _ := s.AuditEntries(ctx, "status.import", ""); len(audit) != 3 {
			t.Errorf("%d import audit entries, want 3", len(audit))
		}
		if _, err := s.NewStatusImport(ctx, "rumours", false, "operator:test", ""); fault.CodeOf(err) != "invalid_source" {
			t.Errorf("unknown source: %v", err)
		}
	})
}
