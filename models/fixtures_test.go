package models

import (
	"time"

	"healthcode/models/document"
)

// today is the fixed date the tests validate documents against.
var today = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// withCheck appends the GB 11643 check digit to 17 digits.
func withCheck(first17 string) string { return first17 + string(document.CheckDigit(first17)) }
