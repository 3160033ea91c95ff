package schemas

import (
	"slices"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// TestCloudWords: case, width and punctuation fold away; stop words of
// the configured languages go; each word once; long words are cut.
func TestCloudWords(t *testing.T) {
	long := "Donaudampfschifffahrtsgesellschaftskapitän"
	cases := []struct {
		in   string
		stop []string
		want []string
	}{
		{"Great talk!", nil, []string{"great", "talk"}},
		{"GREAT, great; Great...", nil, []string{"great"}},
		{"Ｆｕｌｌ　ｗｉｄｔｈ", nil, []string{"full", "width"}},
		{"STRASSE straße", nil, []string{"strasse"}},
		{"the best of the day", []string{"en"}, []string{"best", "day"}},
		{"the best of the day", nil, []string{"the", "best", "of", "day"}},
		{"das ist super und toll", []string{"de", "en"}, []string{"super", "toll"}},
		{"🎉🎉 party 🎉", nil, []string{"party"}},
		{"C'est très bien", []string{"fr"}, []string{"c", "très", "bien"}},
		{"naïve café", nil, []string{"naïve", "café"}},
		{"über-cool 2026", nil, []string{"über", "cool", "2026"}},
		{long, nil, []string{string([]rune("donaudampfschifffahrtsgesellschaftskapitän")[:MaxWordRunes])}},
		{"   ", nil, nil},
	}
	f := NewWordFolder()
	for _, c := range cases {
		if got := f.Words(c.in, c.stop); !slices.Equal(got, c.want) {
			t.Errorf("Words(%q, %v) = %q, want %q", c.in, c.stop, got, c.want)
		}
	}
}

// FuzzWordFolderASCII: the ASCII fast path of WordFolder gives what NFKC
// and full case folding give.
func FuzzWordFolderASCII(f *testing.F) {
	for _, s := range []string{"Hello, WORLD!", "the Talk", "ABC-def_12 3", "\x7f\x01 Zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return
			}
		}
		w := NewWordFolder()
		if got, want := w.normal(s), w.fold.String(norm.NFKC.String(s)); got != want {
			t.Fatalf("%q: fast %q, NFKC+fold %q", s, got, want)
		}
	})
}
