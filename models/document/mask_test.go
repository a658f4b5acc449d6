package document

import (
	"strings"
	"testing"
	"unicode/utf8"

	"healthcode/models/fault"
)

func TestMaskName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"张三", "张*"},
		{"张三丰", "张**"},
		{"欧阳娜娜", "欧阳**"},
		{"司马光", "司马*"},
		{"诸葛亮", "诸葛*"},
		{"上官婉儿", "上官**"},
		{"欧阳", "欧*"}, // two characters: surname 欧, given name 阳
		{"买买提·艾力", "买**·**"},
		{"JOHN SMITH", "J***"},
		{"Li", "L***"},
		{"Анна", "А***"},
		{"王", "*"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskName(tt.in); got != tt.want {
			t.Errorf("MaskName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"11010519491231002X", "11**************2X"},
		{"810000199001010019", "81**************19"},
		{"1234567890123456789022", "12******************22"},
		{"12345678901234567", "12*************67"}, // 17: a third is 5, four shown
		{"123456789012", "12********12"},           // 12: a third is four
		{"12345678901", "12********1"},
		{"H12345678", "H1******8"},
		{"E12345678", "E1******8"},
		{"12345678", "1******8"},
		{"C1234567", "C******7"},
		{"AB123", "A****"},
		{"ABC", "A**"},
		{"AB", "**"},
		{"1", "*"},
		{"", ""},
	}
	for _, tt := range tests {
		got := MaskNumber(tt.in)
		if got != tt.want {
			t.Errorf("MaskNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
		n := utf8.RuneCountInString(tt.in)
		shown := n - strings.Count(got, "*")
		if utf8.RuneCountInString(got) != n || shown > 4 || (n < 18 && shown > n/3) {
			t.Errorf("MaskNumber(%q) = %q shows %d of %d characters", tt.in, got, shown, n)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{"85291234567", "852****4567"},
		{"1234567", "*******"},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{" 张三 ", "张三"},
		{"买买提•艾力", "买买提·艾力"},
		{"买买提.艾力", "买买提·艾力"},
		{"john  smith", "JOHN SMITH"},
		{"O'Brien-Smith", "O'BRIEN-SMITH"},
		{"Zoë", "ZOË"},
	}
	for _, tt := range tests {
		got, err := NormalizeName(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "   ", "张", "张3", "<script>", "·张三", "张三·", "\x00张三", strings.Repeat("张", 61), "-abc"} {
		if _, err := NormalizeName(bad); fault.CodeOf(err) != fault.CodeNameInvalid {
			t.Errorf("NormalizeName(%q) error = %v, want %s", bad, err, fault.CodeNameInvalid)
		}
	}
}

// FuzzMaskName checks that masking never panics and, for any name of two or
// more characters, never returns the whole name nor grows it beyond the
// Latin form's four characters.
func FuzzMaskName(f *testing.F) {
	for _, s := range []string{"张三", "欧阳娜娜", "买买提·艾力", "JOHN SMITH", "王", "\xff", "司马"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := NormalizeName(raw)
		if err != nil {
			return
		}
		masked := MaskName(name)
		if utf8.RuneCountInString(name) >= 2 && masked == name {
			t.Fatalf("MaskName(%q) revealed the whole name", name)
		}
		if !strings.Contains(masked, "*") {
			t.Fatalf("MaskName(%q) = %q hides nothing", name, masked)
		}
		if n := utf8.RuneCountInString(masked); n != utf8.RuneCountInString(name) && n != 4 {
			t.Fatalf("MaskName(%q) = %q has an unexpected length", name, masked)
		}
	})
}
