package models_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
	"healthcode/models/storetest"
)

func withCheck(first17 string) string { return first17 + string(document.CheckDigit(first17)) }

func TestParseStatusCSV(t *testing.T) {
	today := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	good := "\ufeffdoc_type,doc_number,colour,reason\n" +
		"resident_id,11010519491231002x,red,密接\n" +
		"passport,E12345678,黄码,\n" +
		"resident_id," + withCheck("31011519800101123") + ",green\n"
	rows, err := models.ParseStatusCSV(strings.NewReader(good), today)
	if err != nil || len(rows) != 3 {
		t.Fatalf("rows = %+v, %v", rows, err)
	}
	if rows[0].Doc.Number != "11010519491231002X" || rows[0].Colour != models.Red || rows[0].Reason != "密接" || rows[0].Line != 2 {
		t.Errorf("row 1 = %+v", rows[0])
	}
	if rows[1].Colour != models.Yellow || rows[2].Colour != models.Green {
		t.Errorf("colours = %s %s", rows[1].Colour, rows[2].Colour)
	}

	bad := "resident_id,11010519491231002X,red,ok\n" +
		"resident_id,110105194912310021,red,bad check digit\n" +
		"resident_id,11010519491231002X,purple,unknown colour\n" +
		"resident_id\n"
	_, err = models.ParseStatusCSV(strings.NewReader(bad), today)
	var e *fault.Error
	if !asError(err, &e) || e.Code != fault.CodeImportRejected {
		t.Fatalf("err = %v, want import_rejected", err)
	}
	details := e.Details.(models.ImportProblems)
	if details.BadRows != 3 || details.Problems[0].Row != 2 || details.Problems[0].Code != fault.CodeDocCheckDigit ||
		details.Problems[1].Row != 3 || details.Problems[2].Row != 4 {
		t.Errorf("problems = %+v", details)
	}
	if !strings.Contains(e.Message, "2、3、4") || strings.Contains(e.Message+details.Problems[0].Message, "110105194912310021") {
		t.Errorf("message %q should list the rows and never the number", e.Message)
	}
	if _, err := models.ParseStatusCSV(strings.NewReader("doc_type,doc_number,colour,reason\n"), today); fault.CodeOf(err) != fault.CodeImportRejected {
		t.Errorf("a file with only a header: %v", err)
	}
}

// importCSV runs an import job over csv to its end; a rejected file comes
// back as an import_rejected error.
func importCSV(t *testing.T, s *models.Store, source, csv string) error {
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
