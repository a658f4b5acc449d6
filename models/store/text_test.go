package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateCutsOnCharacters(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"密接", 2, "密接"},
		{"密切接触者", 2, "密切"},
		{"a密切", 2, "a密"},
		{"😷口罩", 1, "😷"},
		{strings.Repeat("a", 255) + "密接", 256, strings.Repeat("a", 255) + "密"},
		{strings.Repeat("密", 300), 256, strings.Repeat("密", 256)},
		{"e\u0301\u0301x", 2, "e\u0301"},
		// Bytes that are not UTF-8 never survive a cut.
		{"ab\xffc", 10, "ab\uFFFDc"},
		{"\xe5\xaf", 5, "\uFFFD"},
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > tt.n {
			t.Errorf("truncate(%q, %d) = %q: not valid UTF-8 of at most %d characters", tt.in, tt.n, got, tt.n)
		}
	}
}
