package schemas

import (
	"fmt"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCheckText holds checkText, which reads printable ASCII eight bytes
// at a time, equal to refCheckText, the rune-at-a-time version before it:
// the same error (field, rule, detail with its byte offset) on every text.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"hello", "hello there, a chat line", "abcdefgh\x01", "abcdefghi\u202e", "abcdefg\u0301\u0301", "        ", "\u200b", "ascii then é and more ascii", "abcdefgh\x7f", "abcdefgh\xff"} {
		f.Add(s, uint8(0))
	}
	fields := []string{"data.text", "data.name", "data.question", "user"}
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		field := fields[int(which)%len(fields)]
		for _, lim := range [][2]int{{1, 500}, {0, 64}, {1, 10}} {
			for _, bytesLimit := range []bool{false, true} {
				got, want := checkText(field, s, lim[0], lim[1], bytesLimit), refCheckText(field, s, lim[0], lim[1], bytesLimit)
				ga, _ := got.(*ValidationError)
				wa, _ := want.(*ValidationError)
				if (ga == nil) != (wa == nil) || ga != nil && *ga != *wa || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%q: %v, rune at a time: %v", s, got, want)
				}
			}
		}
	})
}

func refCheckText(field, v string, min, max int, bytesLimit bool) error {
	if v == "" && min > 0 {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is missing"}
	}
	if !utf8.ValidString(v) {
		return &ValidationError{Field: field, Rule: RuleUTF8, Detail: "not valid UTF-8"}
	}
	n, marks := 0, 0
	for i, r := range v {
		if r >= 0x20 && r < 0x7f {
			// Printable ASCII, most of most text: none of the rules below.
			marks = 0
			n++
			continue
		}
		if unicode.IsControl(r) && !(field == "data.text" && (r == '\n' || r == '\t')) {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("control character U+%04X at byte %d", r, i)}
		}
		if r == '\u2028' || r == '\u2029' {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("character U+%04X at byte %d is not allowed", r, i)}
		}
		if isBidiControl(r) {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("bidirectional control character U+%04X at byte %d is not allowed", r, i)}
		}
		switch {
		case isCombiningMark(r):
			if marks++; marks > MaxCombiningMarks {
				return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("more than %d combining marks on one character at byte %d", MaxCombiningMarks, i)}
			}
		case r >= 0x80 && unicode.Is(unicode.Cf, r):
			// A joiner inside a run of marks does not end it.
		default:
			marks = 0
		}
		n++
	}
	if bytesLimit {
		n = len(v)
	}
	if n < min {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("too short: %d, the minimum is %d", n, min)}
	}
	if n > max {
		unit := "characters"
		if bytesLimit {
			unit = "bytes"
		}
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d %s, the limit is %d", n, unit, max)}
	}
	if min > 0 && isBlank(v) {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is blank"}
	}
	return nil
}

var _ = unicode.IsControl
var _ = utf8.ValidString
