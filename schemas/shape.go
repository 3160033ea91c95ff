package schemas

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// ShapeLimits bound the structure of JSON text before anything decodes it:
// a decoder's cost grows with nesting and with the number of values, not
// only with bytes (a 1 MB body of "[[[[…" cost the decoder ~250 MB), so
// every edge runs CheckShape or CheckBatchShape first. The check itself is
// one pass over the bytes with no allocation, and it validates the JSON
// grammar on the way (but not UTF-8, which the decoders name more
// precisely).
type ShapeLimits struct {
	// MaxDepth bounds the nesting of objects and arrays; the outermost
	// value is level 1. At most 64.
	MaxDepth int
	// MaxTokens bounds the values (of any kind, containers included) plus
	// the object keys.
	MaxTokens int
	// MaxTokenBytes bounds one string (quotes and escapes included) or
	// number literal, in bytes.
	MaxTokenBytes int
}

// EventShape is the shape of one event, envelope included. v1 events nest
// four levels (event, data, options, one option) and hold at most ~40
// tokens (a poll with ten options); the limits leave room for new types
// without letting a decoder do more than a few hundred steps per event. No
// token can be larger than an event.
var EventShape = ShapeLimits{MaxDepth: 8, MaxTokens: 256, MaxTokenBytes: MaxEventBytes}

// Around returns the limits of a message that carries a value of shape l
// levels deeper and adds tokens of its own, such as a WebSocket message
// {"op":"publish","room":…,"event":{…}}: Around(1, 16).
func (l ShapeLimits) Around(levels, tokens int) ShapeLimits {
	return ShapeLimits{MaxDepth: min(l.MaxDepth+levels, maxShapeDepth), MaxTokens: l.MaxTokens + tokens, MaxTokenBytes: l.MaxTokenBytes}
}

// maxShapeDepth is the most nesting the checker tracks: the kind of each
// open level is one bit of a uint64, so the check never allocates.
const maxShapeDepth = 64

// CheckShape checks that b is exactly one JSON value within lim. The error
// is a *ValidationError with rule json naming the problem and its byte
// offset; callers answer it as malformed JSON (ingest: invalid_json).
func CheckShape(b []byte, lim ShapeLimits) error {
	_, err := scanShape(b, lim, 0, nil)
	return err
}

// CheckBatchShape checks that b is one JSON value within lim or an array
// of them (a batch), the limits applying to each element. It returns how
// many events b holds (1 for a single value). It stops as soon as the
// array has more than maxEvents elements and returns maxEvents+1 with a
// nil error, so the caller can answer "batch too large" having read no
// further.
func CheckBatchShape(b []byte, lim ShapeLimits, maxEvents int) (int, error) {
	return scanShape(b, lim, max(maxEvents, 1), nil)
}

// BatchEvent is one event of a body, as SplitBatch finds it.
type BatchEvent struct {
	// Text is the event: an element of a batch, or the whole body when
	// it is a single value, as a slice of the body without the space
	// around it.
	Text []byte
	// RepeatedKey is set when an object of the event repeats a key
	// (compared decoded): CheckDuplicateKeys(Text, …) refuses exactly
	// these events, and names the key.
	RepeatedKey bool
}

// SplitBatch is CheckBatchShape that also returns the events, appended to
// events[:0], and finds the ones that repeat a key. It saves the caller
// two more passes over a body the check has just read: decoding the
// array, and looking for repeated keys in every event. When the count is
// over maxEvents or the error is not nil, the events are not all there.
func SplitBatch(b []byte, lim ShapeLimits, maxEvents int, events []BatchEvent) ([]BatchEvent, int, error) {
	sp := splitter{events: events[:0], plainKeys: bytes.IndexByte(b, '\\') < 0}
	n, err := scanShape(b, lim, max(maxEvents, 1), &sp)
	return sp.events, n, err
}

// splitter is what scanShape keeps for SplitBatch.
type splitter struct {
	events   []BatchEvent
	keys     []keyRef               // the keys of the current event's open objects
	first    [maxShapeDepth + 1]int // per open object: its first key's index in keys
	repeated bool                   // the current event repeats a key
	// plainKeys: the text holds no backslash, so no key has an escape
	// (one look at the whole text instead of one per key).
	plainKeys bool
	keyBuf    [16]keyRef // keys' first storage
}

// open notes an object opened at depth.
func (sp *splitter) open(depth int) { sp.first[depth] = len(sp.keys) }

// close forgets the keys of the object closed at depth.
func (sp *splitter) close(depth int) { sp.keys = sp.keys[:sp.first[depth]] }

// key notes the key b[start:end] (between its quotes) of the object open
// at depth: a key is compared with the earlier keys of its own object
// only, as duplicateKeyAt does.
func (sp *splitter) key(b []byte, depth, start, end int) {
	if sp.repeated {
		return
	}
	// Keys without a backslash (almost all) are equal when their bytes
	// are: whether a key has one is looked up once, not per comparison.
	k := keyRef{start: start, end: end}
	if !sp.plainKeys {
		k.esc = bytes.IndexByte(b[start:end], '\\') >= 0
	}
	for _, p := range sp.keys[sp.first[depth]:] {
		if p.esc || k.esc {
			if keyEqual(b[p.start:p.end], b[start:end]) {
				sp.repeated = true
				return
			}
		} else if string(b[p.start:p.end]) == string(b[start:end]) {
			sp.repeated = true
			return
		}
	}
	if sp.keys == nil {
		sp.keys = sp.keyBuf[:0]
	}
	sp.keys = append(sp.keys, k)
}

// event ends the current event, b[first:end].
func (sp *splitter) event(b []byte, first, end int) {
	sp.events = append(sp.events, BatchEvent{Text: b[first:end], RepeatedKey: sp.repeated})
	sp.repeated = false
	sp.keys = sp.keys[:0]
}

func shapeError(format string, args ...any) error {
	return &ValidationError{Rule: RuleJSON, Detail: fmt.Sprintf(format, args...)}
}

// scanShape is the single pass of CheckShape and CheckBatchShape. With
// batch > 0 a top-level array is a batch: its elements are counted, and
// depth and tokens are measured per element.
func scanShape(b []byte, lim ShapeLimits, batch int, split *splitter) (int, error) {
	maxDepth := min(lim.MaxDepth, maxShapeDepth)
	var (
		objects uint64 // bit d-1 is set when open level d is an object
		depth   int
		tokens  int
		base    int // depth of the batch array (1), or 0
		events  = 1 // elements of a batch so far
		i       = skipSpace(b, 0)
		first   = i // where the current element of a batch starts
		end     int // where the last value ended
	)
	if batch > 0 && i < len(b) && b[i] == '[' {
		base, depth, events = 1, 1, 0
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			if i = skipSpace(b, i+1); i != len(b) {
				return 0, shapeError("malformed JSON: trailing data at byte %d", i)
			}
			return 0, nil
		}
		events, first = 1, i
	}
	for {
		// A value starts at i.
		if i >= len(b) {
			return 0, shapeError("malformed JSON: unexpected end of input")
		}
		tokens++
		if tokens > lim.MaxTokens {
			return 0, shapeError("more than %d values and keys in one event (at byte %d)", lim.MaxTokens, i)
		}
		switch c := b[i]; c {
		case '{', '[':
			depth++
			if depth-base > maxDepth {
				return 0, shapeError("nested deeper than %d levels at byte %d", maxDepth, i)
			}
			if c == '{' {
				objects |= 1 << (depth - 1)
			} else {
				objects &^= 1 << (depth - 1)
			}
			i = skipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				depth--
				i++
				break
			}
			if c == '{' {
				if split != nil {
					split.open(depth)
				}
				key := i
				var end int
				var err error
				if i, tokens, end, err = scanKey(b, i, tokens, lim); err != nil {
					return 0, err
				}
				if split != nil {
					split.key(b, depth, key+1, end)
				}
			}
			continue
		case '"':
			j, err := scanString(b, i, lim.MaxTokenBytes)
			if err != nil {
				return 0, err
			}
			i = j
		case 't':
			if !hasPrefixAt(b, i, "true") {
				return 0, shapeError("malformed JSON: invalid literal at byte %d", i)
			}
			i += 4
		case 'f':
			if !hasPrefixAt(b, i, "false") {
				return 0, shapeError("malformed JSON: invalid literal at byte %d", i)
			}
			i += 5
		case 'n':
			if !hasPrefixAt(b, i, "null") {
				return 0, shapeError("malformed JSON: invalid literal at byte %d", i)
			}
			i += 4
		default:
			if c != '-' && (c < '0' || c > '9') {
				return 0, shapeError("malformed JSON: invalid character at byte %d looking for a value", i)
			}
			j, err := scanNumber(b, i, lim.MaxTokenBytes)
			if err != nil {
				return 0, err
			}
			i = j
		}
		// A value ended before i: close containers and find the next one.
	after:
		for {
			end = i
			i = skipSpace(b, i)
			if depth == 0 {
				if i != len(b) {
					return 0, shapeError("malformed JSON: trailing data at byte %d", i)
				}
				if split != nil && base == 0 {
					split.event(b, first, end)
				}
				return events, nil
			}
			if i >= len(b) {
				return 0, shapeError("malformed JSON: unexpected end of input")
			}
			inObject := objects>>(depth-1)&1 == 1
			switch b[i] {
			case ',':
				if depth == base {
					// The next event of a batch: limits start again.
					if split != nil {
						split.event(b, first, end)
					}
					events++
					if events > batch {
						return events, nil
					}
					tokens = 0
					first = skipSpace(b, i+1)
				}
				i = skipSpace(b, i+1)
				if inObject {
					key := i
					var end int
					var err error
					if i, tokens, end, err = scanKey(b, i, tokens, lim); err != nil {
						return 0, err
					}
					if split != nil {
						split.key(b, depth, key+1, end)
					}
				}
				break after
			case '}', ']':
				if (b[i] == '}') != inObject {
					return 0, shapeError("malformed JSON: mismatched %q at byte %d", b[i], i)
				}
				if split != nil {
					if inObject {
						split.close(depth)
					}
					if depth == base {
						split.event(b, first, end) // the batch's last event
					}
				}
				depth--
				i++
			default:
				return 0, shapeError("malformed JSON: invalid character at byte %d after a value", i)
			}
		}
	}
}

// scanKey reads an object key and its colon at b[i:] and returns where the
// value starts, the token count, and where the key's closing quote is.
func scanKey(b []byte, i, tokens int, lim ShapeLimits) (int, int, int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, 0, shapeError("malformed JSON: expected a key at byte %d", i)
	}
	tokens++
	if tokens > lim.MaxTokens {
		return 0, 0, 0, shapeError("more than %d values and keys in one event (at byte %d)", lim.MaxTokens, i)
	}
	j, err := scanString(b, i, lim.MaxTokenBytes)
	if err != nil {
		return 0, 0, 0, err
	}
	end := j - 1
	j = skipSpace(b, j)
	if j >= len(b) || b[j] != ':' {
		return 0, 0, 0, shapeError("malformed JSON: expected a colon at byte %d", j)
	}
	return skipSpace(b, j+1), tokens, end, nil
}

// scanString returns the offset after the string starting at b[i] ('"').
func scanString(b []byte, i, maxBytes int) (int, error) {
	start := i
	i++
	// Plain bytes (no quote, backslash or control character: most of a
	// string) are skipped eight at a time while the string stays within
	// maxBytes, and from a word that holds a byte that is not plain
	// straight to that byte (specialMask's lowest flagged byte is
	// exact); the switch below takes it, and the bytes one at a time
	// where fewer than eight are left or the limit is near.
	for {
		for len(b)-i >= 8 && i+8-start <= maxBytes {
			if m := specialMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i-start >= maxBytes {
			// Even if the string ended here it would be too long: stop
			// reading it.
			return 0, shapeError("a string over %d bytes at byte %d", maxBytes, start)
		}
		if i >= len(b) {
			return 0, shapeError("malformed JSON: unterminated string at byte %d", start)
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return 0, shapeError("malformed JSON: unterminated string at byte %d", start)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, shapeError("malformed JSON: invalid \\u escape at byte %d", i)
				}
				i += 6
			default:
				return 0, shapeError("malformed JSON: invalid escape at byte %d", i)
			}
		case c < 0x20:
			return 0, shapeError("malformed JSON: control character in a string at byte %d", i)
		default:
			i++
		}
	}
}

// scanNumber returns the offset after the number starting at b[i], which
// must follow JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i, maxBytes int) (int, error) {
	start := i
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return 0, shapeError("malformed JSON: invalid number at byte %d", start)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, shapeError("malformed JSON: invalid number at byte %d", start)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, shapeError("malformed JSON: invalid number at byte %d", start)
		}
	}
	if i-start > maxBytes {
		return 0, shapeError("a number over %d bytes at byte %d", maxBytes, start)
	}
	return i, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
