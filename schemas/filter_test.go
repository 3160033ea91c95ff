package schemas

import (
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
