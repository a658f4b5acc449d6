package store_test

import (
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"healthcode/models/storetest"
)

// A reason longer than its column is cut on a character, so a cut in the
// middle of a Chinese character never makes MariaDB refuse the whole list.
func TestLongReasonsAreCutOnACharacter(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		s := newStore(t, db)
		long := strings.Repeat("a", 255) + "密接" // byte 256 is inside 密
		cjk := strings.Repeat("密", 300)
		csv := "resident_id,11010519491231002X,red," + long + "\nresident_id," + withCheck("31011519800101123") + ",yellow," + cjk + "\n"
		if err := importCSV(t, s, "cdc", csv); err != nil {
			t.Fatalf("import: %v", err)
		}
		var reasons []string
		if err := db.Table("status_entries").Order("id").Pluck("reason", &reasons).Error; err != nil {
			t.Fatal(err)
		}
		slices.Sort(reasons) // entries are stored in document-hash order
		want := []string{strings.Repeat("a", 255) + "密", strings.Repeat("密", 256)}
		if len(reasons) != 2 || reasons[0] != want[0] || reasons[1] != want[1] {
			t.Errorf("stored reasons = %q, want %q", reasons, want)
		}
	})
}
