package document

import "testing"

// TestCreditCodeCheckDigit holds the GB 32100 check to codes of real
// organisations, the standard's example, codes whose check digit fails
// (pending review) and malformed ones.
func TestCreditCodeCheckDigit(t *testing.T) {
	for _, c := range []struct {
		code, normal string
		want         int
	}{
		{"91350100M000100Y43", "91350100M000100Y43", CreditCodeValid}, // GB 32100-2015's example
		{"914403001922038216", "914403001922038216", CreditCodeValid}, // Huawei Technologies
		{"9144030071526726XG", "9144030071526726XG", CreditCodeValid}, // Tencent (Shenzhen)
		{"91110000802100433B", "91110000802100433B", CreditCodeValid}, // Baidu (Beijing)
		{"91330100799655058B", "91330100799655058B", CreditCodeValid}, // Alibaba (China)
		{"91110108551385082Q", "91110108551385082Q", CreditCodeValid}, // Xiaomi
		{" 9144030071526726xg ", "9144030071526726XG", CreditCodeValid},
		// The right shape, a check digit that fails: an operator reviews.
		{"91350100M000100Y44", "91350100M000100Y44", CreditCodeCheckDigit},
		{"914403001922038210", "914403001922038210", CreditCodeCheckDigit},
		{"9144030071526726X0", "9144030071526726X0", CreditCodeCheckDigit},
		{"91310000MA1FL0Q08U", "91310000MA1FL0Q08U", CreditCodeCheckDigit},
		// Not a credit code.
		{"", "", CreditCodeMalformed},
		{"91350100M000100Y4", "91350100M000100Y4", CreditCodeMalformed},
		{"91350100M000100Y433", "91350100M000100Y433", CreditCodeMalformed},
		{"91350100M0001O0Y43", "91350100M0001O0Y43", CreditCodeMalformed}, // O is not used
		{"91350100M000100YI3", "91350100M000100YI3", CreditCodeMalformed}, // nor I
		{"9135010OS000100Y43", "9135010OS000100Y43", CreditCodeMalformed},
		{"91350100M000100Y4Z", "91350100M000100Y4Z", CreditCodeMalformed},
		{"９１３５０１００Ｍ０００１００Ｙ４３", "９１３５０１００Ｍ０００１００Ｙ４３", CreditCodeMalformed},
	} {
		normal, got := CheckCreditCode(c.code)
		if got != c.want || normal != c.normal {
			t.Errorf("CheckCreditCode(%q) = %q %d, want %q %d", c.code, normal, got, c.normal, c.want)
		}
	}
}
