package schemas

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// ModFilters sets a room's word filter (docs/moderation.md): a list of
// words and what a chat line or question that contains one gets. The
// list is private: the processors keep it out of frames and snapshots.
const ModFilters Type = "mod.filters"

// Word filter limits and actions.
const (
	MaxFilterWords   = 200      // words in one room's filter
	MaxFilterWordLen = 50       // runes of one word
	FilterRefuse     = "refuse" // the line or question is ignored (reason filtered)
	FilterMask       = "mask"   // the matching words are replaced by asterisks
	FilterHold       = "hold"   // the line or question waits for a moderator (hold.go)
)

// ModFiltersData is the body of mod.filters: it replaces the room's
// filter; an empty list turns it off. Words match whole words of the
// text after both are normalised (FilterKey).
type ModFiltersData struct {
	Words  []string `json:"words"`
	Action string   `json:"action"`
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

// FilterKey normalises one word for matching: NFKC (full-width and other
// compatibility forms), case folding, marks dropped (é is e), look-alike
// characters mapped (lookalikes), invisible characters dropped.
func FilterKey(w string) string {
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

// FilterText applies a word filter of keys (FilterKey forms) to text:
// matched reports whether a word of text matched, and masked is text with
// each matching word replaced by as many asterisks as it has characters.
func FilterText(text string, keys []string) (masked string, matched bool) {
	if len(keys) == 0 {
		return text, false
	}
	var b strings.Builder
	last := 0
	for _, t := range filterTokens(text) {
		w := text[t[0]:t[1]]
		if !slices.Contains(keys, FilterKey(w)) {
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
