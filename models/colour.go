package models

import "strings"

// Colour is a health-code colour.
type Colour string

// The colours, from best to worst.
const (
	Green  Colour = "green"
	Yellow Colour = "yellow"
	Red    Colour = "red"
)

// Text is what the code page says for the colour.
func (c Colour) Text() string {
	switch c {
	case Red:
		return "集中观察"
	case Yellow:
		return "居家观察"
	default:
		return "未见异常"
	}
}

// rank orders colours: a higher rank is worse.
func (c Colour) rank() int {
	switch c {
	case Red:
		return 2
	case Yellow:
		return 1
	default:
		return 0
	}
}

// Worse reports whether c is worse than d.
func (c Colour) Worse(d Colour) bool { return c.rank() > d.rank() }

// ParseColour reads a colour as lists write it: green/yellow/red, or
// 绿/黄/红 with or without 码/色.
func ParseColour(s string) (Colour, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "码"), "色")
	switch s {
	case "green", "绿":
		return Green, true
	case "yellow", "黄":
		return Yellow, true
	case "red", "红":
		return Red, true
	}
	return "", false
}

// Status sources: where a colour comes from.
const (
	SourceCDC         = "cdc"          // the disease-control list
	SourceCommunity   = "community"    // community lists
	SourceNucleicAcid = "nucleic_acid" // nucleic-acid results
	SourceOperator    = "operator"     // manual corrections by an operator
)

// StatusSources lists every source.
var StatusSources = []string{SourceCDC, SourceCommunity, SourceNucleicAcid, SourceOperator}

// ValidSource reports whether s is a known source.
func ValidSource(s string) bool {
	for _, v := range StatusSources {
		if v == s {
			return true
		}
	}
	return false
}
