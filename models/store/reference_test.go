package store_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"gorm.io/gorm"

	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// A register is replaced by a generation written beside the one in force:
// until the switch the old one answers, a file that fails half-way leaves
// it as it was, and the replaced rows are removed.
func TestRegistersAreReplacedByGenerations(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		a, b, c := "11010519491231002X", withCheck("11010519800101001"), withCheck("11010519800101002")
		file := func(text string) func() (io.ReadCloser, error) {
			return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(text)), nil }
		}
		rows := func() (n int64) { db.Table("household_members").Count(&n); return n }

		if n, err := s.ImportHouseholdsCSV(ctx, file("H1,resident_id,"+a+"\nH1,resident_id,"+b+"\n"), "operator:test", ""); err != nil || n != 2 {
			t.Fatalf("first import: %d, %v", n, err)
		}
		if n, err := s.ImportHouseholdsCSV(ctx, file("H2,resident_id,"+a+"\nH2,resident_id,"+c+"\n"), "operator:test", ""); err != nil || n != 2 {
			t.Fatalf("second import: %d, %v", n, err)
		}
		if got := rows(); got != 2 {
			t.Errorf("%d register rows after a replacement, want the 2 in force", got)
		}
		same := func(x, y string) bool {
			ok, err := store.SameHousehold(db, s, x, y)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if same(a, b) || !same(a, c) {
			t.Errorf("the register in force: a~b %v, a~c %v", same(a, b), same(a, c))
		}

		// The second pass fails half-way: nothing of it stays.
		passes := 0
		failing := func() (io.ReadCloser, error) {
			if passes++; passes == 2 {
				return nil, errors.New("disk gone")
			}
			return io.NopCloser(strings.NewReader("H3,resident_id," + b + "\nH3,resident_id," + c + "\n")), nil
		}
		if _, err := s.ImportHouseholdsCSV(ctx, failing, "operator:test", ""); err == nil {
			t.Fatal("a failed import succeeded")
		}
		if got := rows(); got != 2 || !same(a, c) || same(b, c) {
			t.Errorf("after a failed import: %d rows, a~c %v, b~c %v", got, same(a, c), same(b, c))
		}
		// A bad row refuses the whole file before anything is written.
		if _, err := s.ImportHouseholdsCSV(ctx, file("H4,resident_id,"+b+"\nH4,resident_id,110105194912310021\n"), "operator:test", ""); fault.CodeOf(err) != fault.CodeImportRejected {
			t.Errorf("bad file: %v", err)
		}
		if got := rows(); got != 2 {
			t.Errorf("%d rows after a refused file", got)
		}
	})
}
