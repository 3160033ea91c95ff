package schemas

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Emoji limits: the longest RGI emoji of Emoji 15.0 is 10 code points and
// 35 bytes (a kiss with two skin tones); the limits leave room for longer
// sequences of later versions and are checked before any lookup, so an
// over-long string costs nothing. TestEmojiTable checks that every emoji
// of the table fits.
const (
	MaxEmojiBytes      = 48 // one reaction emoji, in bytes of UTF-8
	MaxEmojiCodePoints = 12 // one reaction emoji, in code points
)

// IsEmoji reports whether s is exactly one emoji of the RGI set of Unicode
// Technical Standard #51 (basic emoji, keycap, flag, tag, modifier and ZWJ
// sequences), in its fully-qualified form. See CheckEmoji for the reason
// a string is not one.
func IsEmoji(s string) bool { return CheckEmoji(s) == nil }

// CheckEmoji validates a reaction emoji: one grapheme (rivo/uniseg, UAX
// #29) that is a fully-qualified RGI emoji (emojiTable, generated from
// Unicode's emoji-sequences.txt and emoji-zwj-sequences.txt). The error
// names field data.emoji.
func CheckEmoji(s string) error { return checkEmoji("data.emoji", s) }

func checkEmoji(field, s string) error {
	if s == "" {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is missing"}
	}
	if !utf8.ValidString(s) {
		return &ValidationError{Field: field, Rule: RuleUTF8, Detail: "not valid UTF-8"}
	}
	if len(s) > MaxEmojiBytes {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d bytes, the limit is %d", len(s), MaxEmojiBytes)}
	}
	if n := utf8.RuneCountInString(s); n > MaxEmojiCodePoints {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d code points, the limit is %d", n, MaxEmojiCodePoints)}
	}
	if n := uniseg.GraphemeClusterCount(s); n != 1 {
		return &ValidationError{Field: field, Rule: RuleEmoji, Detail: fmt.Sprintf("%d characters (grapheme clusters); a reaction is exactly one emoji", n)}
	}
	if inEmojiTable(s) {
		return nil
	}
	// The form without U+FE0F, as keyboards sometimes send (U+2764 for
	// ❤️), is refused with a hint rather than counted in a second slot.
	if inEmojiTable(s+"\uFE0F") || inEmojiTable(addFE0F(s)) {
		return &ValidationError{Field: field, Rule: RuleEmoji, Detail: "not fully qualified: add U+FE0F (emoji presentation) after the symbol"}
	}
	return &ValidationError{Field: field, Rule: RuleEmoji, Detail: "not a Unicode emoji (RGI emoji set of Emoji " + EmojiVersion + ")"}
}

// addFE0F inserts U+FE0F after the first code point, the usual spot where
// a minimally-qualified sequence lacks it (U+1F441 U+200D U+1F5E8 …).
func addFE0F(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	if strings.HasPrefix(s[n:], "\uFE0F") {
		return s
	}
	return s[:n] + "\uFE0F" + s[n:]
}

func inEmojiTable(s string) bool {
	i := sort.SearchStrings(emojiTable[:], s)
	return i < len(emojiTable) && emojiTable[i] == s
}

// Emojis returns every emoji IsEmoji accepts, in byte order. The slice is
// a copy.
func Emojis() []string { return append([]string(nil), emojiTable[:]...) }
