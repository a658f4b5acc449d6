package document

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"healthcode/models/fault"
)

// today is the fixed date the tests validate against.
var today = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// withCheck appends the GB 11643 check digit to 17 digits.
func withCheck(first17 string) string { return first17 + string(CheckDigit(first17)) }

func TestCheckDigitKnownNumbers(t *testing.T) {
	// Published sample numbers of GB 11643.
	for _, n := range []string{"11010519491231002X", "440524188001010014"} {
		if got := CheckDigit(n); got != n[17] {
			t.Errorf("CheckDigit(%s) = %c, want %c", n, got, n[17])
		}
	}
}

func TestParseDocument(t *testing.T) {
	valid := withCheck("31011520000229123") // born on a leap day
	tomorrow := withCheck("31011520261124123")
	tests := []struct {
		name, docType, number string
		want                  string // normalised number when valid
		wantBirth             string
		wantCode              string
	}{
		{"resident id ending in X", "resident_id", "11010519491231002X", "11010519491231002X", "1949-12-31", ""},
		{"lower-case x accepted", "resident_id", "11010519491231002x", "11010519491231002X", "1949-12-31", ""},
		{"full-width digits and spaces", "resident_id", "１１０１０５ 1949 1231 002ｘ", "11010519491231002X", "1949-12-31", ""},
		{"leap day", "resident_id", valid, valid, "2000-02-29", ""},
		{"too short", "resident_id", "11010519491231002", "", "", fault.CodeDocLength},
		{"too long", "resident_id", "11010519491231002X1", "", "", fault.CodeDocLength},
		{"letter inside", "resident_id", "1101051949123100AX", "", "", fault.CodeDocCharacters},
		{"X not last", "resident_id", "11010519491231X020", "", "", fault.CodeDocCharacters},
		{"wrong check digit", "resident_id", "110105194912310021", "", "", fault.CodeDocCheckDigit},
		{"unknown province", "resident_id", withCheck("99010519491231002"), "", "", fault.CodeDocRegion},
		{"residence permit prefix is not a resident id", "resident_id", withCheck("81000019900101123"), "", "", fault.CodeDocRegion},
		{"impossible date", "resident_id", withCheck("11010519490230002"), "", "", fault.CodeDocBirthDate},
		{"not a leap year", "resident_id", withCheck("11010519000229002"), "", "", fault.CodeDocBirthDate},
		{"born tomorrow", "resident_id", tomorrow, "", "", fault.CodeDocBirthDate},
		{"born too long ago", "resident_id", withCheck("11010518800101002"), "", "", fault.CodeDocBirthDate},
		{"empty", "resident_id", "  ", "", "", fault.CodeDocEmpty},
		{"unknown type", "driving_licence", "123", "", "", fault.CodeDocType},

		{"hong kong residence permit", "residence_permit", withCheck("81000019900101123"), withCheck("81000019900101123"), "1990-01-01", ""},
		{"taiwan residence permit", "residence_permit", withCheck("83000020010615002"), withCheck("83000020010615002"), "2001-06-15", ""},
		{"residence permit with a mainland prefix", "residence_permit", "11010519491231002X", "", "", fault.CodeDocRegion},
		{"residence permit wrong check digit", "residence_permit", "810000199001011231", "", "", fault.CodeDocCheckDigit},
		{"residence permit short", "residence_permit", "81000019900101", "", "", fault.CodeDocLength},

		{"foreign permanent id, new form", "foreign_permanent_id", withCheck("93184019850412001"), withCheck("93184019850412001"), "1985-04-12", ""},
		{"foreign permanent id, new form, bad check", "foreign_permanent_id", "931840198504120019", "", "", ""},
		{"foreign permanent id, new form, not starting 9", "foreign_permanent_id", withCheck("83184019850412001"), "", "", fault.CodeDocRegion},
		{"foreign permanent id, old form", "foreign_permanent_id", "usa310085041201", "USA310085041201", "1985-04-12", ""},
		{"foreign permanent id, old form, recent birth", "foreign_permanent_id", "USA310015041201", "USA310015041201", "2015-04-12", ""},
		{"foreign permanent id, old form, digits where letters go", "foreign_permanent_id", "123310085041201", "", "", fault.CodeDocCharacters},
		{"foreign permanent id, wrong length", "foreign_permanent_id", "USA3100850412", "", "", fault.CodeDocLength},

		{"passport", "passport", "e12345678", "E12345678", "", ""},
		{"foreign passport", "passport", "C01X00T47", "C01X00T47", "", ""},
		{"passport with symbols", "passport", "E1234-5678", "", "", fault.CodeDocFormat},
		{"passport too short", "passport", "E12", "", "", fault.CodeDocFormat},
		{"hong kong travel permit", "hk_macao_permit", "H12345678", "H12345678", "", ""},
		{"macao travel permit, 10 digits", "hk_macao_permit", "m1234567801", "M1234567801", "", ""},
		{"travel permit with wrong letter", "hk_macao_permit", "K12345678", "", "", fault.CodeDocFormat},
		{"taiwan travel permit", "taiwan_permit", "12345678", "12345678", "", ""},
		{"taiwan travel permit, letters", "taiwan_permit", "T1234567", "", "", fault.CodeDocFormat},
		{"birth certificate", "birth_certificate", "o440012345", "O440012345", "", ""},
		{"birth certificate, digits only", "birth_certificate", "4400123456", "", "", fault.CodeDocFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse(tt.docType, tt.number, today)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want an error", tt.number, doc)
				}
				if fault.KindOf(err) != fault.KindInvalid {
					t.Errorf("kind = %s, want invalid", fault.KindOf(err))
				}
				if tt.wantCode != "" && fault.CodeOf(err) != tt.wantCode {
					t.Errorf("code = %s (%v), want %s", fault.CodeOf(err), err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.number, err)
			}
			if doc.Number != tt.want || string(doc.Type) != tt.docType {
				t.Errorf("got %s %s, want %s %s", doc.Type, doc.Number, tt.docType, tt.want)
			}
			gotBirth := ""
			if !doc.BirthDate.IsZero() {
				gotBirth = doc.BirthDate.Format(time.DateOnly)
			}
			if gotBirth != tt.wantBirth {
				t.Errorf("birth date = %q, want %q", gotBirth, tt.wantBirth)
			}
		})
	}
}

func TestParseDocumentErrorsNeverEchoTheNumber(t *testing.T) {
	n := "110105194912310021"
	_, err := Parse("resident_id", n, today)
	var e *fault.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if strings.Contains(e.Message, n) || strings.Contains(e.Error(), n) {
		t.Errorf("error repeats the number: %v", err)
	}
}

// FuzzParseDocument checks, for any input, that parsing never panics, that
// a number it accepts is normalised (parsing it again gives the same
// document), and that a resident id it accepts has a correct check digit.
func FuzzParseDocument(f *testing.F) {
	for _, seed := range []struct{ t, n string }{
		{"resident_id", "11010519491231002X"},
		{"resident_id", "11010519491231002x"},
		{"resident_id", "１１０１０５１９４９１２３１００２ｘ"},
		{"resident_id", "110105194902300021"},
		{"resident_id", ""},
		{"resident_id", "\xff\xfe"},
		{"residence_permit", "810000199001011234"},
		{"foreign_permanent_id", "USA310085041201"},
		{"passport", "E12345678"},
		{"hk_macao_permit", "H12345678"},
		{"birth_certificate", "O440012345"},
	} {
		f.Add(seed.t, seed.n)
	}
	f.Fuzz(func(t *testing.T, docType, number string) {
		doc, err := Parse(docType, number, today)
		if err != nil {
			if fault.KindOf(err) != fault.KindInvalid {
				t.Fatalf("error of kind %s: %v", fault.KindOf(err), err)
			}
			return
		}
		again, err := Parse(string(doc.Type), doc.Number, today)
		if err != nil || again != doc {
			t.Fatalf("normalised %q does not parse to itself: %+v, %v", doc.Number, again, err)
		}
		if doc.Number != NormalizeNumber(doc.Number) {
			t.Fatalf("%q is not normalised", doc.Number)
		}
		if doc.Type == ResidentID && CheckDigit(doc.Number) != doc.Number[17] {
			t.Fatalf("accepted %q with a wrong check digit", doc.Number)
		}
		if masked := MaskNumber(doc.Number); len([]rune(masked)) != len([]rune(doc.Number)) {
			t.Fatalf("mask changed the length: %q", masked)
		}
	})
}

// A note holds a document number however it was typed: in full-width
// digits, in groups, with a lower-case x; dates, times and phone numbers
// are not one.
func TestHoldsIDNumber(t *testing.T) {
	const n = "11010519491231002X"
	fullWidth := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r - '0' + '０'
		}
		return r
	}, n)
	for _, note := range []string{"证件 " + n + " 录错", "证件号" + fullWidth, "110105 19491231 002X", "110105-19491231-002x",
		"110105　19491231　002X", "旧身份证 110105491231002", "１１０１０５１９４９１２３１００２Ｘ",
		"110105.19491231.002X", "110105/1949/1231/002X", "110105–19491231–002X", "旧证 110105 491231 002",
		// Beside a date or a phone, with odd separators, a check digit wrong or left off.
		"2026-11-23 110105 19491231 002X 录错", "电话 13800138000 110105 19491231 002X", "110105 - 19491231 - 002X",
		"110105  19491231  002X", "110105\t19491231\t002X", "110105\u00a019491231\u00a0002X", "110105\n19491231002X",
		"110105 19491231 002 X", "110105，19491231，002X", "110105\u221219491231\u2212002X", "110105\u201019491231\u2010002X",
		"110105 19491231 0021", "110105 1949123 1002", "旧证 110105 491231 002 2026-11-23", "旧证 110105 491231 002 复核于 1123"} {
		if !HoldsIDNumber(note) {
			t.Errorf("%q: no number found", note)
		}
	}
	for _, note := range []string{"已核对户口本", "2026-11-23 14:00 电话核实", "联系电话 13800138000", "户口本第3页", "",
		"电话 13800138000 2026-11-23", "2026-11-23 2026-11-30 复核", "13800138000 2026 年", "电话 13800130112 2026 年复核",
		"13800130112 11-23 已回电", "11.23 13800138000", "复核 2026.11.23 0930 12", "户号 1234-5678 2026-11-23",
		"电话 021-6438 1234 2026-11", "11 23 0930 13800138", "2 2026 11 23 0755 1234"} {
		if HoldsIDNumber(note) {
			t.Errorf("%q: a number found", note)
		}
	}
}

// A mobile number beside a year or a date is never taken for an ID number.
func TestHoldsIDNumberSparesPhonesBesideDates(t *testing.T) {
	for i := 0; i < 100000000; i += 99991 {
		for _, note := range []string{fmt.Sprintf("电话 138%08d 2026 年复核", i), fmt.Sprintf("139%08d 11-23 已回电", i), fmt.Sprintf("电话 13%d%08d 2026-11-23", 3+i%7, i)} {
			if HoldsIDNumber(note) {
				t.Errorf("%q: a number found", note)
			}
		}
	}
}
