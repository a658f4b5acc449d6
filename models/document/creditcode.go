package document

import (
	"strings"
)

// creditAlphabet is the characters of a unified social credit code (GB
// 32100-2015) in the order of their values 0–30: digits, then the capital
// letters without I, O, S, V and Z.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditWeights are the weights of the first 17 characters: 3^i mod 31.
var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// Outcomes of checking a credit code.
const (
	// CreditCodeValid: the check digit holds.
	CreditCodeValid = iota
	// CreditCodeCheckDigit: the code has the right shape but its check
	// digit fails (some early pilot-region codes are legal yet fail it): an
	// operator reviews it.
	CreditCodeCheckDigit
	// CreditCodeMalformed: not a credit code at all.
	CreditCodeMalformed
)

// CheckCreditCode normalises a unified social credit code (trimmed, upper
// case) and says whether it is valid, of the right shape with a failing
// check digit, or malformed: 18 characters from 0-9A-HJ-NPQRTUWXY, the last
// one 31 − (Σ value×weight mod 31), with 31 written 0.
func CheckCreditCode(code string) (string, int) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 18 {
		return code, CreditCodeMalformed
	}
	sum := 0
	for i := range 18 {
		v := strings.IndexByte(creditAlphabet, code[i])
		if v < 0 {
			return code, CreditCodeMalformed
		}
		if i < 17 {
			sum += v * creditWeights[i]
		}
	}
	check := (31 - sum%31) % 31
	if creditAlphabet[check] != code[17] {
		return code, CreditCodeCheckDigit
	}
	return code, CreditCodeValid
}
