package store

import (
	"strings"
	"unicode/utf8"
)

// truncate returns s cut to at most n characters, always on a character
// boundary, so the result fits a column of n characters on every database
// (MySQL and MariaDB count VARCHAR lengths in characters). Bytes that are
// not UTF-8 are replaced with U+FFFD first: the databases refuse them.
func truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s // n bytes are at most n characters
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}
