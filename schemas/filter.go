package schemas

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// ModFilters sets a room's word filter (docs/moderation.md): a list of
// words and what a chat line or question that contains one gets. The
// list is private: the processors keep it out of frames and snapshots.
const ModFilters Type = "mod.filters"

// Word filter limits and actions.
const (
	MaxFilterWords   = 200 // words in one room's filter
	MaxFilterWordLen = 50  // runes of one word
	// MaxFilterPatterns patterns of at most MaxFilterPatternLen bytes,
	// each compiling to at most MaxFilterPatternInsts RE2 instructions:
	// RE2 matches in time linear in the text, and these bound the
	// factor (a chat line of 500 characters costs at most about 2.5
	// million steps against a full list).
	MaxFilterPatterns     = 10
	MaxFilterPatternLen   = 100
	MaxFilterPatternInsts = 500
	FilterRefuse          = "refuse" // the line or question is ignored (reason filtered)
	FilterMask            = "mask"   // the matching words are replaced by asterisks
	FilterHold            = "hold"   // the line or question waits for a moderator (hold.go)
)

// ModFiltersData is the body of mod.filters: it replaces the room's
// filter; an empty list turns it off. Words match whole words of the
// text after both are normalised (FilterKey).
type ModFiltersData struct {
	Words []string `json:"words"`
	// Patterns are RE2 regular expressions, each matched against whole
	// words of the text in their folded form (FilterFold: lower case,
	// full width and marks gone, digit stand-ins mapped).
	Patterns []string `json:"patterns,omitempty"`
	Action   string   `json:"action"`
}

func (d *ModFiltersData) validate(f *fieldPath) error {
	if len(d.Words) > MaxFilterWords {
		return &ValidationError{Field: f.name("words"), Rule: RuleLength, Detail: fmt.Sprintf("%d words, the limit is %d", len(d.Words), MaxFilterWords)}
	}
	for i, w := range d.Words {
		field := fmt.Sprintf("%swords[%d]", f.prefix, i)
		if err := checkText(field, w, 1, MaxFilterWordLen, false); err != nil {
			return err
		}
		if strings.IndexFunc(w, unicode.IsSpace) >= 0 {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: "a filter word is one word: no white space"}
		}
		if len(filterTokens(w)) != 1 {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: "a filter word needs letters or digits"}
		}
	}
	if len(d.Patterns) > MaxFilterPatterns {
		return &ValidationError{Field: f.name("patterns"), Rule: RuleLength, Detail: fmt.Sprintf("%d patterns, the limit is %d", len(d.Patterns), MaxFilterPatterns)}
	}
	for i, p := range d.Patterns {
		field := fmt.Sprintf("%spatterns[%d]", f.prefix, i)
		if err := checkText(field, p, 1, MaxFilterPatternLen, true); err != nil {
			return err
		}
		if _, err := CompilePattern(p); err != nil {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: err.Error()}
		}
	}
	if d.Action != FilterRefuse && d.Action != FilterMask && d.Action != FilterHold {
		return &ValidationError{Field: f.name("action"), Rule: RuleEnum, Detail: `action is "refuse", "mask" or "hold"`}
	}
	return nil
}

var folder = cases.Fold()

// lookalikes maps characters that read as a Latin letter or digit to it,
// after NFKC and case folding: Cyrillic and Greek homoglyphs and the usual
// digit and symbol stand-ins. It is deliberately small; Unicode's full
// confusables table (UTS #39) is not in Go's x/text.
var lookalikes = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'ɡ': 'g', 'ո': 'n',
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	'0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', '$': 's',
}

// FilterKey normalises one word for matching a filter's words: its
// FilterFold form, then Unicode's confusable skeleton (UTS #39, from
// github.com/mtibben/confusables, which generates it from Unicode's
// confusables.txt), folded again: every character that reads as another
// becomes the same, so "rn" and "m", "іdіot" and "idiot" have one key.
func FilterKey(w string) string {
	return folder.String(confusables.Skeleton(FilterFold(w)))
}

// FilterFold normalises one word for a filter's patterns: NFKC
// (full-width and other compatibility forms), case folding, marks
// dropped (é is e), look-alike characters mapped (lookalikes: the usual
// Cyrillic and Greek homoglyphs and digit stand-ins), invisible
// characters dropped. It keeps letters as people write them (unlike the
// skeleton), so a pattern reads as the words it matches.
func FilterFold(w string) string {
	w = folder.String(norm.NFKC.String(w))
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if m, ok := lookalikes[r]; ok {
			r = m
		}
		b.WriteRune(r)
	}
	return b.String()
}

// filterTokens splits text into its words: runs of letters, digits and
// the stand-ins of lookalikes, with their byte ranges.
func filterTokens(text string) [][2]int {
	var out [][2]int
	start := -1
	for i, r := range text {
		in := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r) && start >= 0 || lookalikes[r] != 0
		switch {
		case in && start < 0:
			start = i
		case !in && start >= 0:
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, [2]int{start, len(text)})
	}
	return out
}

// CompilePattern compiles a filter pattern: RE2 syntax, matched against
// a whole folded word (anchored), and at most MaxFilterPatternInsts
// instructions once compiled.
func CompilePattern(p string) (*regexp.Regexp, error) {
	if len(p) > MaxFilterPatternLen {
		return nil, fmt.Errorf("%d bytes, the limit is %d", len(p), MaxFilterPatternLen)
	}
	re, err := syntax.Parse(`^(?:`+p+`)$`, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("not an RE2 pattern: %v", err.(*syntax.Error).Code)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil || len(prog.Inst) > MaxFilterPatternInsts {
		return nil, fmt.Errorf("the pattern compiles to more than %d instructions", MaxFilterPatternInsts)
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// FilterText applies a word filter of keys (FilterKey forms, sorted) to
// text: matched reports whether a word of text matched, and masked is
// text with each matching word replaced by as many asterisks as it has
// characters.
func FilterText(text string, keys []string) (masked string, matched bool) {
	return FilterMatch(text, keys, nil)
}

// FilterMatch is FilterText with patterns too (CompilePattern): a word
// matches when its FilterKey is one of keys or its FilterFold matches a
// pattern.
func FilterMatch(text string, keys []string, patterns []*regexp.Regexp) (masked string, matched bool) {
	if len(keys) == 0 && len(patterns) == 0 {
		return text, false
	}
	var b strings.Builder
	last := 0
	for _, t := range filterTokens(text) {
		w := text[t[0]:t[1]]
		if !wordMatches(w, keys, patterns) {
			continue
		}
		matched = true
		b.WriteString(text[last:t[0]])
		b.WriteString(strings.Repeat("*", len([]rune(w))))
		last = t[1]
	}
	if !matched {
		return text, false
	}
	b.WriteString(text[last:])
	return b.String(), true
}

func wordMatches(w string, keys []string, patterns []*regexp.Regexp) bool {
	if len(keys) > 0 {
		if _, ok := slices.BinarySearch(keys, FilterKey(w)); ok {
			return true
		}
	}
	if len(patterns) > 0 {
		f := FilterFold(w)
		for _, re := range patterns {
			if re.MatchString(f) {
				return true
			}
		}
	}
	return false
}
