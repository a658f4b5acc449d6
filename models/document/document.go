// Package document holds the rules of identity documents and the personal
// data on them: parsing and normalising document numbers of every accepted
// type (GB 11643 resident IDs with their check digit, passports, permits,
// birth certificates) and organisations' credit codes (GB 32100), and the
// masked forms names, numbers and phones are shown in. Its errors are
// *fault.Error of KindInvalid that never echo the number.
package document

import (
	"regexp"
	"strings"
	"time"
	"unicode"

	"healthcode/models/fault"
)

// Type names a kind of identity document.
type Type string

// The document types the service accepts.
const (
	ResidentID         Type = "resident_id"          // 居民身份证
	Passport           Type = "passport"             // 护照
	HKMacaoPermit      Type = "hk_macao_permit"      // 港澳居民来往内地通行证
	TaiwanPermit       Type = "taiwan_permit"        // 台湾居民来往大陆通行证
	ResidencePermit    Type = "residence_permit"     // 港澳台居民居住证
	ForeignPermanentID Type = "foreign_permanent_id" // 外国人永久居留身份证
	BirthCertificate   Type = "birth_certificate"    // 出生医学证明
)

// Types lists every accepted document type.
var Types = []Type{
	ResidentID, Passport, HKMacaoPermit, TaiwanPermit,
	ResidencePermit, ForeignPermanentID, BirthCertificate,
}

// Document is a validated identity document with its number normalised
// (upper case, half-width, no spaces).
type Document struct {
	Type   Type
	Number string
	// BirthDate is the holder's birth date when the number carries one, else
	// the zero time.
	BirthDate time.Time
}

// earliestBirth is the earliest birth date a document may carry.
var earliestBirth = time.Date(1890, 1, 1, 0, 0, 0, 0, time.UTC)

// mainlandProvinces are the first two digits of mainland administrative
// division codes (GB/T 2260), plus 71 for Taiwan.
var mainlandProvinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true,
}

// residencePermitPrefixes are the region codes of residence permits for
// Hong Kong (81), Macao (82) and Taiwan (83) residents.
var residencePermitPrefixes = map[string]bool{"810000": true, "820000": true, "830000": true}

var (
	passportPattern     = regexp.MustCompile(`^[A-Z0-9]{5,17}$`)
	hkMacaoPattern      = regexp.MustCompile(`^[HM][0-9]{8}([0-9]{2})?$`)
	taiwanPattern       = regexp.MustCompile(`^[0-9]{8}([0-9]{2})?$`)
	foreignOldPattern   = regexp.MustCompile(`^[A-Z]{3}[0-9]{12}$`)
	birthCertPattern    = regexp.MustCompile(`^[A-Z][0-9]{9}$`)
	eighteenCharPattern = regexp.MustCompile(`^[0-9]{17}[0-9X]$`)
)

// idNumberInText finds a run of 15 to 18 digits (the last may be X): a
// resident ID number of either generation, or as long a number of another
// kind, none of which belongs in free text.
var idNumberInText = regexp.MustCompile(`[0-9]{14,17}[0-9X]`)

// HoldsIDNumber reports whether free text (an operator's note) holds what
// looks like a document number, which must not be written where masked
// data is expected. It reads the text as a number is typed (full-width
// characters, a lower-case x): a run of 15 to 18 digits is one; so are
// digits typed in groups — split by spaces, dashes, dots, commas, slashes —
// that make 17 or 18 characters with a birth date where an ID number has it
// (check digit right, wrong or left off: a mistyped number is still one), or the 15
// digits of an old card (a province, a date). A mobile number does not
// start one, so a phone beside a date or a year is not one.
func HoldsIDNumber(text string) bool {
	text = strings.ToUpper(strings.Map(halfWidth, text))
	if idNumberInText.MatchString(text) {
		return true
	}
	for _, groups := range digitGroups(text) {
		for i := range groups {
			if mobileNumber(groups[i]) {
				continue
			}
			d := ""
			for _, g := range groups[i:] {
				if d += g; len(d) > 18 {
					break
				}
				if looksLikeIDNumber(d) {
					return true
				}
			}
		}
	}
	return false
}

// digitGroups splits text into runs of digit groups (an X may close one, or
// stand alone after a separator), each run's groups split only by
// separators.
func digitGroups(text string) [][]string {
	var runs [][]string
	var run []string
	var group strings.Builder
	endGroup := func() {
		if group.Len() > 0 {
			run = append(run, group.String())
			group.Reset()
		}
	}
	endRun := func() {
		endGroup()
		if len(run) > 1 {
			runs = append(runs, run)
		}
		run = nil
	}
	for _, r := range text {
		switch {
		case r >= '0' && r <= '9':
			if strings.HasSuffix(group.String(), "X") {
				endGroup()
			}
			group.WriteRune(r)
		case r == 'X':
			group.WriteRune(r)
			endGroup()
		case separator(r):
			endGroup()
		default:
			endRun()
		}
	}
	endRun()
	return runs
}

// separator says whether r may stand between the groups of a typed number.
func separator(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || strings.ContainsRune(".,/_·、，−", r)
}

// mobileNumber says whether a group is a mainland mobile number.
func mobileNumber(g string) bool {
	return len(g) == 11 && g[0] == '1' && g[1] >= '3' && g[1] <= '9'
}

// looksLikeIDNumber says whether d (digits, perhaps an X) is shaped as a
// resident ID number: 17 digits, and perhaps a digit or X, with a birth
// date at 6–14, or an old card's 15 digits with a province and a date.
func looksLikeIDNumber(d string) bool {
	switch {
	case len(d) == 18 && eighteenCharPattern.MatchString(d), len(d) == 17 && !strings.Contains(d, "X"):
		// 17 digits are an ID number too: the 18th is computed from them.
		b, err := time.Parse("20060102", d[6:14])
		return err == nil && b.Year() >= 1890 && b.Year() <= 2099
	case len(d) == 15 && !strings.Contains(d, "X"):
		_, err := time.Parse("060102", d[6:12])
		return err == nil && mainlandProvinces[d[:2]]
	}
	return false
}

// Parse validates a document number of the given type and returns it
// normalised. today is the current date in the service's time zone; a birth
// date after it is refused. Errors are *fault.Error of KindInvalid with one
// of the fault.CodeDoc* codes and a message a citizen can act on.
func Parse(docType, number string, today time.Time) (Document, error) {
	t := Type(strings.TrimSpace(docType))
	n := NormalizeNumber(number)
	if n == "" {
		return Document{}, fault.Errorf(fault.KindInvalid, fault.CodeDocEmpty, "请填写证件号码")
	}
	doc := Document{Type: t, Number: n}
	var err error
	switch t {
	case ResidentID:
		doc.BirthDate, err = parseResidentID(n, today)
	case ResidencePermit:
		doc.BirthDate, err = parseResidencePermit(n, today)
	case ForeignPermanentID:
		doc.BirthDate, err = parseForeignPermanentID(n, today)
	case Passport:
		err = matchFormat(n, passportPattern, "护照号码应为5至17位字母或数字")
	case HKMacaoPermit:
		err = matchFormat(n, hkMacaoPattern, "港澳居民来往内地通行证号码应为H或M加8位数字")
	case TaiwanPermit:
		err = matchFormat(n, taiwanPattern, "台湾居民来往大陆通行证号码应为8位数字")
	case BirthCertificate:
		err = matchFormat(n, birthCertPattern, "出生医学证明编号应为1位字母加9位数字")
	default:
		return Document{}, fault.Errorf(fault.KindInvalid, fault.CodeDocType, "不支持的证件类型")
	}
	if err != nil {
		return Document{}, err
	}
	return doc, nil
}

// halfWidth reads a character of the full-width ASCII block (as Chinese
// input methods type digits and letters) as its ASCII one, and the
// ideographic space as a space.
func halfWidth(r rune) rune {
	switch {
	case r >= '！' && r <= '～':
		return r - ('！' - '!')
	case r == '\u3000':
		return ' '
	}
	return r
}

// NormalizeNumber turns full-width characters into half-width ones, drops
// spaces and upper-cases letters, so a number typed with a lower-case x, in
// full-width digits or in groups separated by spaces reads the same as the
// printed one.
func NormalizeNumber(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r = halfWidth(r); unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func matchFormat(n string, p *regexp.Regexp, message string) error {
	if !p.MatchString(n) {
		return fault.Errorf(fault.KindInvalid, fault.CodeDocFormat, "%s", message)
	}
	return nil
}

func parseResidentID(n string, today time.Time) (time.Time, error) {
	if err := checkEighteen(n, "身份证号码"); err != nil {
		return time.Time{}, err
	}
	if !mainlandProvinces[n[:2]] {
		return time.Time{}, fault.Errorf(fault.KindInvalid, fault.CodeDocRegion, "身份证号码的地区码不正确，请核对前两位")
	}
	birth, err := birthDate(n[6:14], "20060102", today)
	if err != nil {
		return time.Time{}, err
	}
	return birth, checkDigit(n, "身份证号码")
}

func parseResidencePermit(n string, today time.Time) (time.Time, error) {
	if err := checkEighteen(n, "居住证号码"); err != nil {
		return time.Time{}, err
	}
	if !residencePermitPrefixes[n[:6]] {
		return time.Time{}, fault.Errorf(fault.KindInvalid, fault.CodeDocRegion, "港澳台居民居住证号码应以810000、820000或830000开头")
	}
	birth, err := birthDate(n[6:14], "20060102", today)
	if err != nil {
		return time.Time{}, err
	}
	return birth, checkDigit(n, "居住证号码")
}

// parseForeignPermanentID accepts the 18-digit card issued since 2023
// (9, province, nationality, birth date, sequence, GB 11643 check digit) and
// the older 15-character card (nationality letters, office code, YYMMDD,
// sequence and check character).
func parseForeignPermanentID(n string, today time.Time) (time.Time, error) {
	switch len(n) {
	case 15:
		if !foreignOldPattern.MatchString(n) {
			return time.Time{}, fault.Errorf(fault.KindInvalid, fault.CodeDocCharacters, "旧版永久居留身份证号码应为3位字母加12位数字")
		}
		// The card carries a two-digit year: take the latest century that
		// does not put the birth date in the future.
		if birth, err := birthDate("20"+n[7:13], "20060102", today); err == nil {
			return birth, nil
		}
		return birthDate("19"+n[7:13], "20060102", today)
	case 18:
		if err := checkEighteen(n, "永久居留身份证号码"); err != nil {
			return time.Time{}, err
		}
		if n[0] != '9' || !mainlandProvinces[n[1:3]] {
			return time.Time{}, fault.Errorf(fault.KindInvalid, fault.CodeDocRegion, "新版永久居留身份证号码应以9和受理地省份代码开头")
		}
		birth, err := birthDate(n[6:14], "20060102", today)
		if err != nil {
			return time.Time{}, err
		}
		return birth, checkDigit(n, "永久居留身份证号码")
	default:
		return time.Time{}, fault.Errorf(fault.KindInvalid, fault.CodeDocLength, "永久居留身份证号码应为15位或18位")
	}
}

func checkEighteen(n, what string) error {
	if len(n) != 18 {
		return fault.Errorf(fault.KindInvalid, fault.CodeDocLength, "%s应为18位", what)
	}
	if !eighteenCharPattern.MatchString(n) {
		return fault.Errorf(fault.KindInvalid, fault.CodeDocCharacters, "%s前17位应为数字，最后一位为数字或X", what)
	}
	return nil
}

func birthDate(s, layout string, today time.Time) (time.Time, error) {
	d, err := time.Parse(layout, s)
	if err != nil || d.Format(layout) != s {
		return time.Time{}, fault.Errorf(fault.KindInvalid, fault.CodeDocBirthDate, "证件号码中的出生日期不是有效日期")
	}
	y, m, day := today.Date()
	if d.After(time.Date(y, m, day, 0, 0, 0, 0, time.UTC)) || d.Before(earliestBirth) {
		return time.Time{}, fault.Errorf(fault.KindInvalid, fault.CodeDocBirthDate, "证件号码中的出生日期不在合理范围内")
	}
	return d, nil
}

// gb11643Weights are the weights of the first 17 digits (2^(17-i) mod 11).
var gb11643Weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// CheckDigit returns the GB 11643 check character for the first 17 digits
// of n; n must hold at least 17 ASCII digits.
func CheckDigit(n string) byte {
	sum := 0
	for i, w := range gb11643Weights {
		sum += int(n[i]-'0') * w
	}
	return "10X98765432"[sum%11]
}

func checkDigit(n, what string) error {
	if CheckDigit(n) != n[17] {
		return fault.Errorf(fault.KindInvalid, fault.CodeDocCheckDigit, "%s校验位不正确，请核对后重新输入", what)
	}
	return nil
}

// ParseIdentity validates a name and a document together, as every form
// that names a person asks for both. Errors are those of NormalizeName and
// Parse.
func ParseIdentity(name, docType, number string, today time.Time) (string, Document, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return "", Document{}, err
	}
	doc, err := Parse(docType, number, today)
	if err != nil {
		return "", Document{}, err
	}
	return n, doc, nil
}
