package models_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/storetest"
)

// GBK bytes of 密接 and 张三, as a spreadsheet on a Chinese Windows saves
// them.
const (
	gbkMiJie    = "\xc3\xdc\xbd\xd3"
	gbkZhangSan = "\xd5\xc5\xc8\xfd"
)

// A file that is not UTF-8 is refused whole, naming each row at fault,
// whichever list it is.
func TestImportsRefuseTextThatIsNotUTF8(t *testing.T) {
	today := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	parent, child := "11010519491231002X", withCheck("11010520200101123")
	tests := []struct {
		name  string
		parse func(string) error
		file  string
		rows  []int
	}{
		{"status", func(s string) error { _, err := models.ParseStatusCSV(strings.NewReader(s), today); return err },
			"doc_type,doc_number,colour,reason\nresident_id," + parent + ",red,密接\nresident_id," + parent + ",red," + gbkMiJie + "\n", []int{3}},
		{"status header in GBK", func(s string) error { _, err := models.ParseStatusCSV(strings.NewReader(s), today); return err },
			gbkZhangSan + "\nresident_id," + parent + ",red,\n", []int{1}},
		{"households", func(s string) error { _, err := models.ParseHouseholdCSV(strings.NewReader(s), today); return err },
			"户1,resident_id," + parent + "\n" + gbkZhangSan + ",resident_id," + parent + "\n" + gbkZhangSan + ",resident_id," + child + "\n", []int{2, 3}},
		{"births", func(s string) error { _, err := models.ParseBirthCSV(strings.NewReader(s), today); return err },
			"Q" + gbkZhangSan + "1,resident_id," + child + ",resident_id," + parent + "\n", []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse(tt.file)
			var e *fault.Error
			if !asError(err, &e) || e.Code != fault.CodeImportRejected {
				t.Fatalf("err = %v, want %s", err, fault.CodeImportRejected)
			}
			details, _ := e.Details.(models.ImportProblems)
			if details.BadRows != len(tt.rows) {
				t.Fatalf("problems = %+v, want rows %v", details, tt.rows)
			}
			for i, row := range tt.rows {
				p := details.Problems[i]
				if p.Row != row || p.Code != fault.CodeInvalidEncoding || !strings.Contains(p.Message, "UTF-8") {
					t.Errorf("problem %d = %+v, want row %d %s", i, p, row, fault.CodeInvalidEncoding)
				}
			}
			if !utf8.ValidString(e.Message) || strings.Contains(e.Message, gbkZhangSan) {
				t.Errorf("message %q", e.Message)
			}
		})
	}
}

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
		want := []string{strings.Repeat("a", 255) + "密", strings.Repeat("密", 256)}
		if len(reasons) != 2 || reasons[0] != want[0] || reasons[1] != want[1] {
			t.Errorf("stored reasons = %q, want %q", reasons, want)
		}
	})
}
