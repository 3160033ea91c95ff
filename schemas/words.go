package schemas

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Word clouds (issue 16): a poll of kind "cloud" takes poll.text answers,
// splits them into normalised words and counts each word once per user;
// the public state holds the top CloudTop words with their counts.

// PollCloud is the kind of a word-cloud poll.
const PollCloud = "cloud"

// Word cloud limits.
const (
	CloudTop          = 50     // words with counts in a cloud poll's state
	MaxWordRunes      = 32     // longer words are cut to this many characters
	MaxCloudAnswers   = 5      // poll.text answers one user may give to a cloud poll
	MaxCloudWords     = 50_000 // distinct words a cloud poll counts; later new words are not counted
	MaxStopLanguages  = 4
	maxStopWordLength = 16
)

// WordCount is one word of a cloud with the number of users who wrote it.
type WordCount struct {
	Word  string `json:"word"`
	Count int64  `json:"count"`
}

// StopLanguages are the languages whose stop words a host can drop from a
// cloud (poll.open stop_words).
var StopLanguages = []string{"de", "en", "es", "fr"}

var stopWords = map[string][]string{
	"en": strings.Fields("a an and are as at be but by for from has have he her his i in is it its me my no not of on or our she so than that the their them they this to us was we were what when which who will with you your"),
	"de": strings.Fields("aber als am an auch auf aus bei bin bis das dass dem den der des die du ein eine einem einen einer er es für hat ich ihr im in ist ja mit nicht noch nur oder sie sind so und uns von war wir wie zu zum zur"),
	"fr": strings.Fields("au aux avec ce ces dans de des du elle en est et il ils je la le les leur lui ma mais me mes moi mon ne nous on ou par pas pour qu que qui sa se ses son sur ta te tu un une vous"),
	"es": strings.Fields("a al como con de del el ella en es esta este la las lo los me mi no nos o para pero por que se si su sus te tu un una y ya yo"),
}

// WordFolder normalises cloud words. It is not safe for concurrent use
// (cases.Caser keeps state); each processor partition has its own.
type WordFolder struct {
	fold cases.Caser
}

// NewWordFolder returns a WordFolder.
func NewWordFolder() *WordFolder { return &WordFolder{fold: cases.Fold()} }

// Words splits an answer into its cloud words: width and compatibility
// forms unified (NFKC: "Ｗｏｗ" is "wow"), case folded (Unicode full case
// folding: "STRASSE" and "straße" are one word), split at every
// character that is not a letter, mark or digit (spaces, punctuation,
// symbols, emoji), cut to MaxWordRunes, stop words of the given
// languages dropped, each word once, in order of first appearance.
func (w *WordFolder) Words(text string, stop []string) []string {
	return w.words(w.normal(text), stop)
}

// normal is NFKC then full case folding. ASCII text, most answers, is
// its own NFKC form and folds to its lower case: that path skips both
// transformers (FuzzWordFolderASCII checks it against them).
func (w *WordFolder) normal(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			return w.fold.String(norm.NFKC.String(text))
		}
	}
	return strings.ToLower(text)
}

func (w *WordFolder) words(s string, stop []string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	}) {
		if n := 0; len(f) > MaxWordRunes {
			for i := range f {
				if n == MaxWordRunes {
					f = f[:i]
					break
				}
				n++
			}
		}
		if isStopWord(f, stop) || slices.Contains(out, f) {
			continue
		}
		out = append(out, f)
	}
	return out
}

func isStopWord(w string, langs []string) bool {
	if len(w) > maxStopWordLength {
		return false
	}
	for _, l := range langs {
		if _, ok := stopSets[l][w]; ok {
			return true
		}
	}
	return false
}

// stopSets are the stopWords as sets: a cloud looks every word up.
var stopSets = func() map[string]map[string]struct{} {
	m := make(map[string]map[string]struct{}, len(stopWords))
	for l, ws := range stopWords {
		m[l] = make(map[string]struct{}, len(ws))
		for _, w := range ws {
			m[l][w] = struct{}{}
		}
	}
	return m
}()

func checkStopWords(f *fieldPath, langs []string, kind string) error {
	if langs == nil {
		return nil
	}
	field := f.name("stop_words")
	if kind != PollCloud {
		return &ValidationError{Field: field, Rule: RuleUnknown, Detail: "stop_words is only for cloud polls"}
	}
	if len(langs) < 1 || len(langs) > MaxStopLanguages {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d languages, allowed are 1 to %d", len(langs), MaxStopLanguages)}
	}
	for i, l := range langs {
		fi := fmt.Sprintf("%s[%d]", field, i)
		if !slices.Contains(StopLanguages, l) {
			return &ValidationError{Field: fi, Rule: RuleEnum, Detail: fmt.Sprintf("no stop words for language %q (known: de, en, es, fr)", truncate(l, 20))}
		}
		if slices.Contains(langs[:i], l) {
			return &ValidationError{Field: fi, Rule: RuleUnique, Detail: "language listed twice"}
		}
	}
	return nil
}
