package document

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"healthcode/models/fault"
)

// maxNameRunes bounds a name's length.
const maxNameRunes = 60

// compoundSurnames are two-character surnames kept whole when masking.
var compoundSurnames = map[string]bool{
	"欧阳": true, "司马": true, "诸葛": true, "上官": true, "东方": true, "皇甫": true,
	"尉迟": true, "公孙": true, "慕容": true, "长孙": true, "宇文": true, "司徒": true,
	"夏侯": true, "轩辕": true, "令狐": true, "钟离": true, "端木": true, "独孤": true,
	"南宫": true, "西门": true, "呼延": true, "百里": true, "东郭": true, "申屠": true,
	"澹台": true, "公冶": true, "太史": true, "万俟": true, "闻人": true, "赫连": true,
	"鲜于": true, "闾丘": true, "司空": true, "亓官": true, "司寇": true, "子车": true,
	"颛孙": true, "公良": true, "漆雕": true, "乐正": true, "宰父": true, "谷梁": true,
	"拓跋": true, "夹谷": true, "段干": true, "公西": true, "第五": true,
}

// nameDot is the separator of transliterated names such as 买买提·艾力.
const nameDot = '·'

// isDotVariant reports whether r is one of the dots people type for nameDot.
func isDotVariant(r rune) bool {
	switch r {
	case nameDot, '•', '・', '‧', '．', '.', '∙', '⋅':
		return true
	}
	return false
}

// NormalizeName trims a name, collapses runs of spaces and, in names written
// in Chinese characters, turns the dots people type into "·"; other names
// are upper-cased as passports print them. It returns an
// *Error with CodeNameInvalid for an empty or over-long name, a name with
// digits or symbols, or a one-character Chinese name.
func NormalizeName(name string) (string, error) {
	name = strings.Join(strings.Fields(strings.ReplaceAll(name, "\u3000", " ")), " ")
	if name == "" {
		return "", fault.Errorf(fault.KindInvalid, fault.CodeNameInvalid, "请填写姓名")
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameRunes {
		return "", fault.Errorf(fault.KindInvalid, fault.CodeNameInvalid, "姓名过长或包含无法识别的字符")
	}
	han := false
	for _, r := range name {
		if unicode.Is(unicode.Han, r) {
			han = true
			break
		}
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case han && isDotVariant(r):
			b.WriteRune(nameDot)
		case unicode.IsLetter(r), r == ' ', r == '-', r == '\'', isDotVariant(r), unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		default:
			return "", fault.Errorf(fault.KindInvalid, fault.CodeNameInvalid, "姓名只能包含文字、空格和间隔号")
		}
	}
	out := b.String()
	if !han {
		// Latin names are compared as passports print them.
		out = strings.ToUpper(out)
	}
	if han && (utf8.RuneCountInString(out) < 2 || strings.HasPrefix(out, string(nameDot)) || strings.HasSuffix(out, string(nameDot))) {
		return "", fault.Errorf(fault.KindInvalid, fault.CodeNameInvalid, "请填写证件上的完整姓名")
	}
	if first, _ := utf8.DecodeRuneInString(out); !unicode.IsLetter(first) {
		return "", fault.Errorf(fault.KindInvalid, fault.CodeNameInvalid, "姓名应以文字开头")
	}
	return out, nil
}

// MaskName hides all but the surname: "张三" → "张*", "欧阳娜娜" → "欧阳**",
// "买买提·艾力" → "买**·**", "John Smith" → "J***". A name of one
// character is masked whole.
func MaskName(name string) string {
	runes := []rune(name)
	if len(runes) == 0 {
		return ""
	}
	if len(runes) == 1 {
		return "*"
	}
	if r := runes[0]; r < utf8.RuneSelf || unicode.In(r, unicode.Latin, unicode.Cyrillic, unicode.Greek) {
		return string(r) + "***"
	}
	keep := 1
	if len(runes) > 2 && compoundSurnames[string(runes[:2])] {
		keep = 2
	}
	out := make([]rune, len(runes))
	for i, r := range runes {
		switch {
		case i < keep:
			out[i] = r
		case r == nameDot:
			out[i] = r
		default:
			out[i] = '*'
		}
	}
	return string(out)
}

// MaskNumber hides a document number behind one "*" a character, the
// length preserved. An 18-character number (a resident ID) or a longer one
// keeps its first and last two characters: "11**************2X". A shorter
// one keeps at most a third of its characters and at most four, the first
// half (rounded up) at the start and the rest at the end: "H1******8",
// "1******8", "A****"; two characters or fewer are masked whole.
func MaskNumber(number string) string {
	runes := []rune(number)
	visible := min(4, len(runes)/3)
	head, tail := (visible+1)/2, visible/2
	return string(runes[:head]) + strings.Repeat("*", len(runes)-head-tail) + string(runes[len(runes)-tail:])
}

// MaskPhone keeps the first three and last four digits of a phone number:
// "13812345678" → "138****5678". Shorter numbers are masked whole.
func MaskPhone(phone string) string {
	runes := []rune(phone)
	if len(runes) < 8 {
		return strings.Repeat("*", len(runes))
	}
	return string(runes[:3]) + "****" + string(runes[len(runes)-4:])
}
