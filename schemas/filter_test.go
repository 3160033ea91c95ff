package schemas

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFilterText(t *testing.T) {
	keys := []string{FilterKey("idiot"), FilterKey("Spam")}
	cases := []struct{ in, want string }{
		{"you are an idiot", "you are an *****"},
		{"You Are An IDIOT!", "You Are An *****!"},
		{"ｉｄｉｏｔ", "*****"},                   // full width
		{"іdіot", "*****"},                   // Cyrillic і
		{"id1ot and 5pam", "***** and ****"}, // digit stand-ins
		{"ídìöt", "*****"},                   // marks
		{"id\u200biot", "******"},            // an invisible character inside the word
		{"idiots are fine, idiotic too", ""}, // whole words only
		{"spam-spam", "****-****"},           // punctuation separates words
		{"no match here", ""},
	}
	for _, c := range cases {
		got, matched := FilterText(c.in, keys)
		if c.want == "" {
			if matched || got != c.in {
				t.Errorf("%q: matched %v, %q", c.in, matched, got)
			}
			continue
		}
		if !matched || got != c.want {
			t.Errorf("%q: matched %v, %q, want %q", c.in, matched, got, c.want)
		}
		if utf8.RuneCountInString(got) != utf8.RuneCountInString(c.in) {
			t.Errorf("%q: masking changed the length: %q", c.in, got)
		}
	}
}

func FuzzFilterText(f *testing.F) {
	f.Add("you are an idiot", "idiot")
	f.Add("ｉｄｉｏｔ іdіot", "IDIOT")
	f.Fuzz(func(t *testing.T, text, word string) {
		if !utf8.ValidString(text) {
			return
		}
		masked, matched := FilterText(text, []string{FilterKey(word)})
		if utf8.RuneCountInString(masked) != utf8.RuneCountInString(text) {
			t.Fatalf("masking %q changed its length: %q", text, masked)
		}
		if !matched && masked != text {
			t.Fatalf("no match, but %q became %q", text, masked)
		}
	})
}

// TestFilterSkeleton: keys use Unicode's confusable skeleton, so letters
// that read alike match (rn for m, Cherokee and Cyrillic look-alikes),
// and only whole words do.
func TestFilterSkeleton(t *testing.T) {
	keys := []string{FilterKey("moron"), FilterKey("scam")}
	slices.Sort(keys)
	for in, want := range map[string]bool{
		"rnoron":      true, // rn reads as m
		"ꮪcam":        true, // Cherokee S
		"ѕсаm":        true, // Cyrillic s, c, a
		"SCAM":        true,
		"ＭＯＲＯＮ":       true,
		"moronic":     false,
		"a scam here": true,
		"scamp":       false,
	} {
		if _, got := FilterText(in, keys); got != want {
			t.Errorf("%q: matched %v, want %v", in, got, want)
		}
	}
}

// TestFilterPatterns: a pattern matches whole folded words; a pattern
// that is not RE2, too long or too large compiles to an error naming
// it, and the event that carries it is refused.
func TestFilterPatterns(t *testing.T) {
	var res []*regexp.Regexp
	for _, p := range []string{"f+r+e+e+", "(buy|cheap)[a-z]*"} {
		re, err := CompilePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, re)
	}
	for in, want := range map[string]string{
		"FREEEE stuff":        "****** stuff",
		"fr33 stuff":          "**** stuff", // digit stand-ins fold
		"buying cheapest now": "****** ******** now",
		"carefree":            "",
		"ｂｕｙ":                 "***",
	} {
		got, matched := FilterMatch(in, nil, res)
		if want == "" {
			if matched {
				t.Errorf("%q matched: %q", in, got)
			}
			continue
		}
		if !matched || got != want {
			t.Errorf("%q: %v %q, want %q", in, matched, got, want)
		}
	}
	for _, bad := range []string{"(", "a{2,1}", "(abcd|efgh|ijkl){60}", strings.Repeat("x", MaxFilterPatternLen+1), "((((a{100}){10}){10}))"} {
		if _, err := CompilePattern(bad); err == nil {
			t.Errorf("pattern %q compiled", bad)
		}
		d := ModFiltersData{Words: []string{}, Patterns: []string{bad}, Action: FilterRefuse}
		if err := d.validate(&fieldPath{prefix: "data."}); err == nil || err.(*ValidationError).Field != "data.patterns[0]" {
			t.Errorf("pattern %q: %v", bad, err)
		}
	}
}

// FuzzCompilePattern: any pattern either is refused with an error or
// compiles within the bounds, and matching a long text with it neither
// panics nor masks a word that FilterFold does not match.
func FuzzCompilePattern(f *testing.F) {
	f.Add("f+r+e+e+", "FREEEE stuff")
	f.Add("(buy|cheap)[a-z]*", "buying cheapest")
	f.Add("((a{100}){10})", "aaaa")
	f.Fuzz(func(t *testing.T, p, text string) {
		if !utf8.ValidString(text) {
			return
		}
		re, err := CompilePattern(p)
		if err != nil {
			return
		}
		if len(p) > MaxFilterPatternLen {
			t.Fatalf("a %d-byte pattern compiled", len(p))
		}
		masked, matched := FilterMatch(text, nil, []*regexp.Regexp{re})
		if utf8.RuneCountInString(masked) != utf8.RuneCountInString(text) || !matched && masked != text {
			t.Fatalf("%q on %q: %v %q", p, text, matched, masked)
		}
	})
}
