package schemas

import "unicode"

// runeRange is an inclusive range of code points.
type runeRange struct{ lo, hi rune }

// bidiControls are the bidirectional formatting characters: the Arabic
// letter mark, the left-to-right and right-to-left marks, the embeddings
// and overrides U+202A–U+202E and the isolates U+2066–U+2069. They reorder
// the text around them, so text holding them can show something other than
// what it says (a name that reads backwards, a link that hides its end).
// Free text refuses them (rule chars).
var bidiControls = []runeRange{{0x061C, 0x061C}, {0x200E, 0x200F}, {0x202A, 0x202E}, {0x2066, 0x2069}}

// invisibles are characters that show nothing (or a blank) on their own:
// soft hyphen, the combining grapheme joiner, Hangul and braille fillers,
// zero-width spaces and joiners, word joiners and invisible operators,
// variation selectors, the byte order mark. (All in the BMP, so a JSON
// Schema pattern can name them; tags and the supplementary variation
// selectors are not counted.) Text made only of these
// and white space is blank (rule required), like text of spaces: U+200B or
// U+3164 alone would post an empty-looking message. They stay allowed
// inside visible text, where emoji sequences and many scripts need them.
var invisibles = []runeRange{
	{0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x061C, 0x061C}, {0x115F, 0x1160},
	{0x17B4, 0x17B5}, {0x180B, 0x180F}, {0x200B, 0x200F}, {0x202A, 0x202E},
	{0x2060, 0x206F}, {0x2800, 0x2800}, {0x3164, 0x3164}, {0xFE00, 0xFE0F},
	{0xFEFF, 0xFEFF}, {0xFFA0, 0xFFA0},
}

// MaxCombiningMarks bounds the combining marks (general categories Mn and
// Me) on one character: a run of them, format characters (Cf, such as the
// zero-width joiner) in between not ending it. Real text needs a few
// (Vietnamese two, pointed Hebrew four or five); floods of hundreds
// ("Zalgo" text) draw over the lines around them.
const MaxCombiningMarks = 8

func inRanges(r rune, rs []runeRange) bool {
	for _, x := range rs {
		if r >= x.lo && r <= x.hi {
			return true
		}
	}
	return false
}

func isBidiControl(r rune) bool { return inRanges(r, bidiControls) }

func isInvisible(r rune) bool { return r > 0x7f && inRanges(r, invisibles) }

func isCombiningMark(r rune) bool {
	return r >= 0x300 && unicode.In(r, unicode.Mn, unicode.Me)
}

// isBlank reports whether s holds only white space and invisible
// characters.
func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) && !isInvisible(r) {
			return false
		}
	}
	return true
}
