package models_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
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

// withCheck appends the GB 11643 check digit to 17 digits.
func withCheck(first17 string) string { return first17 + string(document.CheckDigit(first17)) }

func asError(err error, target **fault.Error) bool { return errors.As(err, target) }
