package store

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// CheckText refuses text a person could not have meant to send: invalid UTF-8, control characters (C0, DEL, C1),
// bidirectional overrides and isolates (which make a line read differently from what it holds), zero-width
// characters (which hide inside what looks like another word), and text outside
// minLen..maxLen characters. The error names the field.
func CheckText(field, v string, minLen, maxLen int) error {
	if !utf8.ValidString(v) {
		return invalid(field + " is not valid UTF-8")
	}
	n := utf8.RuneCountInString(v)
	if n < minLen || n > maxLen {
		if minLen == 0 {
			return invalid(fmt.Sprintf("%s must be at most %d characters", field, maxLen))
		}
		return invalid(fmt.Sprintf("%s must be %d-%d characters", field, minLen, maxLen))
	}
	for _, r := range v {
		if forbiddenRune(r) {
			return invalid(fmt.Sprintf("%s must not contain control or bidirectional formatting characters (U+%04X)", field, r))
		}
	}
	return nil
}

func forbiddenRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0: // C0, DEL, C1
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // Arabic letter mark, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // embeddings, overrides, isolates
		return true
	case r == 0xfeff, r == utf8.RuneError: // BOM / zero-width no-break space, replacement character
		return true
	case r >= 0x200b && r <= 0x200d, r >= 0x2060 && r <= 0x2064: // zero-width space, (non-)joiner, word joiner, invisible operators
		return true
	}
	return unicode.Is(unicode.Co, r) // private use
}
