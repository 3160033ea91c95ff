package schemas

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// keyRef is an object key in the text being checked: the bytes between its
// quotes.
// esc (set by SplitBatch only) says whether the key holds a backslash.
type keyRef struct {
	start, end int
	esc        bool
}

// duplicateKeyAt returns the offset of the first object key in b that
// repeats an earlier key of the same object (compared after unescaping, as
// a decoder sees them) and the offset of that object, or -1, -1. Objects deeper than maxDepth are not
// checked. A decoder keeps the last of two equal keys while a reader such
// as ClickHouse's visitParamExtractString takes the first, so an event
// with a repeated key means different things to different readers and is
// refused.
//
// b must be valid JSON (it already decoded) within ShapeLimits, so every
// object has a bounded number of keys: a key is compared with the earlier
// keys of its own object only.
func duplicateKeyAt(b []byte, maxDepth int) (key, object int) {
	keys := make([]keyRef, 0, 32)
	type level struct {
		object bool
		start  int // offset of the '{'
		first  int // index in keys of this object's first key
	}
	var open [maxShapeDepth + 1]level
	depth := 0
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			j := stringEnd(b, i)
			if expectKey && depth <= maxDepth {
				k := keyRef{start: i + 1, end: min(j, len(b))}
				for _, p := range keys[open[depth].first:] {
					if keyEqual(b[p.start:p.end], b[k.start:k.end]) {
						return i, open[depth].start
					}
				}
				keys = append(keys, k)
			}
			expectKey = false
			i = j
		case '{', '[':
			if depth == maxShapeDepth {
				return -1, -1 // deeper than any checked text; never reached after CheckShape
			}
			depth++
			open[depth] = level{object: b[i] == '{', start: i, first: len(keys)}
			expectKey = b[i] == '{'
		case '}', ']':
			if depth > 0 {
				keys = keys[:open[depth].first]
				depth--
			}
		case ',':
			expectKey = open[depth].object
		}
	}
	return -1, -1
}

// stringEnd returns the offset of the closing quote of the string that
// starts at b[i], or len(b).
func stringEnd(b []byte, i int) int {
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		j += k
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for n < j-i-1 && b[j-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return j
		}
		j++
	}
}

// keyEqual compares two JSON string contents as the strings they decode to.
func keyEqual(a, b []byte) bool {
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return bytes.Equal(a, b)
	}
	for len(a) > 0 && len(b) > 0 {
		ra, na := nextStringRune(a)
		rb, nb := nextStringRune(b)
		if ra != rb {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == 0 && len(b) == 0
}

// nextStringRune decodes the first character of JSON string content s
// (valid JSON) and returns it and how many bytes it took.
func nextStringRune(s []byte) (rune, int) {
	if s[0] != '\\' {
		if s[0] < utf8.RuneSelf {
			return rune(s[0]), 1
		}
		return utf8.DecodeRune(s)
	}
	if len(s) < 2 {
		return utf8.RuneError, len(s)
	}
	switch s[1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, ok := hex4At(s, 0)
		if !ok {
			return utf8.RuneError, len(s)
		}
		if r >= 0xD800 && r <= 0xDBFF {
			if lo, ok := hex4At(s, 6); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				return (r-0xD800)<<10 | (lo - 0xDC00) + 0x10000, 12
			}
		}
		return r, 6
	}
	return rune(s[1]), 2 // \" \\ \/
}

// hex4At reads the \uXXXX escape at s[i:].
func hex4At(s []byte, i int) (rune, bool) {
	if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range s[i+2 : i+6] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// CheckDuplicateKeys refuses JSON text b (valid, within EventShape) in
// which an object repeats a key, looking at most depth levels deep (1: the
// outermost object only). The error has rule json and names the repeated
// key's path, such as "data.text".
func CheckDuplicateKeys(b []byte, depth int) error {
	off, obj := duplicateKeyAt(b, depth)
	if off < 0 {
		return nil
	}
	// The field names the key as decoded (a repeat may be spelled with
	// escapes), under the path of its object.
	var name []byte
	for s := b[off+1:]; len(s) > 0 && s[0] != '"'; {
		r, n := nextStringRune(s)
		name = utf8.AppendRune(name, r)
		s = s[n:]
	}
	field := joinPath(jsonPathAt(b, obj), truncate(string(name), 40))
	return &ValidationError{Field: field, Rule: RuleJSON, Detail: fmt.Sprintf("duplicate key at byte %d: a key may appear once per object", off)}
}
