package schemas

import (
	"bytes"
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"io"
	"math/bits"
	"strings"
	"testing"
	"time"
)

var wide = ShapeLimits{MaxDepth: 64, MaxTokens: 1 << 30, MaxTokenBytes: 1 << 30}

func TestCheckShape(t *testing.T) {
	small := ShapeLimits{MaxDepth: 3, MaxTokens: 10, MaxTokenBytes: 8}
	cases := []struct {
		in     string
		lim    ShapeLimits
		detail string // "" when accepted
	}{
		{`{"a":[1,2,{"b":null}]}`, small, ""},
		{` [ ] `, small, ""},
		{`"abcdef"`, small, ""}, // 8 bytes with the quotes
		{`"abcdefg"`, small, "a string over 8 bytes at byte 0"},
		{`-1234567`, small, ""},
		{`-12345678`, small, "a number over 8 bytes at byte 0"},
		{`[[[1]]]`, small, ""},
		{`[[[[1]]]]`, small, "nested deeper than 3 levels at byte 3"},
		{`{"a":{"b":{"c":{}}}}`, small, "nested deeper than 3 levels at byte 15"},
		{`[1,2,3,4,5,6,7,8,9]`, small, ""}, // 10 values: the array and nine numbers
		{`[1,2,3,4,5,6,7,8,9,0]`, small, "more than 10 values and keys in one event (at byte 19)"},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5}`, small, "more than 10 values and keys in one event (at byte 29)"},
		{``, small, "malformed JSON: unexpected end of input"},
		{`[1,]`, small, "malformed JSON: invalid character at byte 3 looking for a value"},
		{`{"a":1,}`, wide, "malformed JSON: expected a key at byte 7"},
		{`{"a" 1}`, wide, "malformed JSON: expected a colon at byte 5"},
		{`[1}`, wide, `malformed JSON: mismatched '}' at byte 2`},
		{`{"a":1]`, wide, `malformed JSON: mismatched ']' at byte 6`},
		{`[1 2]`, wide, "malformed JSON: invalid character at byte 3 after a value"},
		{`{} {}`, wide, "malformed JSON: trailing data at byte 3"},
		{`nul`, wide, "malformed JSON: invalid literal at byte 0"},
		{`01`, wide, "malformed JSON: trailing data at byte 1"},
		{`1.`, wide, "malformed JSON: invalid number at byte 0"},
		{`1e+`, wide, "malformed JSON: invalid number at byte 0"},
		{`-`, wide, "malformed JSON: invalid number at byte 0"},
		{`"a\x"`, wide, `malformed JSON: invalid escape at byte 2`},
		{`"\u12g4"`, wide, `malformed JSON: invalid \u escape at byte 1`},
		{"\"a\tb\"", wide, "malformed JSON: control character in a string at byte 2"},
		{`"abc`, wide, "malformed JSON: unterminated string at byte 0"},
		{"\"\xff\xfe\"", wide, ""}, // UTF-8 is the decoder's to name
		{"\ufeff{}", wide, "malformed JSON: invalid character at byte 0 looking for a value"},
	}
	for _, c := range cases {
		err := CheckShape([]byte(c.in), c.lim)
		got := ""
		if err != nil {
			ve, ok := AsValidationError(err)
			if !ok || ve.Rule != RuleJSON || ve.Field != "" {
				t.Errorf("%q: error %#v, want a json ValidationError", c.in, err)
				continue
			}
			got = ve.Detail
		}
		if got != c.detail {
			t.Errorf("%q: got %q, want %q", c.in, got, c.detail)
		}
	}
}

func TestCheckBatchShape(t *testing.T) {
	lim := ShapeLimits{MaxDepth: 2, MaxTokens: 5, MaxTokenBytes: 100}
	cases := []struct {
		in     string
		n      int
		detail string
	}{
		{`{"a":[1]}`, 1, ""},
		{`[]`, 0, ""},
		{` [ {"a":[1]} , {"b":[2]} ] `, 2, ""}, // depth and tokens per event
		{`[{"a":[[1]]}]`, 0, "nested deeper than 2 levels at byte 7"},
		{`[{"a":1,"b":2,"c":3}]`, 0, "more than 5 values and keys in one event (at byte 14)"},
		{`[1,2,3]`, 3, ""},
		{`[1,2,3,4]`, 4, ""}, // over maxEvents 3: 4 is reported, nothing after it read
		{`[1,2,3,4,{{{{`, 4, ""},
		{`[1,2,3`, 0, "malformed JSON: unexpected end of input"},
		{`[1,2]x`, 0, "malformed JSON: trailing data at byte 5"},
		{`[] x`, 0, "malformed JSON: trailing data at byte 3"},
	}
	for _, c := range cases {
		n, err := CheckBatchShape([]byte(c.in), lim, 3)
		got := ""
		if err != nil {
			got = err.(*ValidationError).Detail
		}
		if got != c.detail || n != c.n {
			t.Errorf("%q: got %d, %q; want %d, %q", c.in, n, got, c.n, c.detail)
		}
	}
}

// TestCheckShapeCostIsBytes shows the pre-check's cost: no allocation
// whatever the input, and a 1 MB body of "[[[[…" refused after reading a
// few bytes, a 1 MB body of small values in one linear pass.
func TestCheckShapeCostIsBytes(t *testing.T) {
	nested := bytes.Repeat([]byte("["), 1<<20)
	flat := append(append([]byte("["), bytes.Repeat([]byte(`"abc",`), 1<<20/6)...), `"x"]`...)
	event := []byte(`{"v":1,"id":"evt-0001","room":"room-1","user":"u","type":"poll.open","ts":1,"data":{"poll_id":"p","question":"q","options":["a","b"]}}`)
	// Accepting allocates nothing; refusing allocates the error only.
	for name, in := range map[string][]byte{"flat": flat, "event": event} {
		if allocs := testing.AllocsPerRun(20, func() { _ = CheckShape(in, wide) }); allocs != 0 {
			t.Errorf("%s: %.0f allocations per check, want 0", name, allocs)
		}
	}
	if allocs := testing.AllocsPerRun(20, func() { _, _ = CheckBatchShape(event, EventShape, 500) }); allocs != 0 {
		t.Errorf("event: %.0f allocations per check, want 0", allocs)
	}
	// A refusal allocates its error, as much for 1 MB as for 10 bytes
	// (give or take boxing the larger numbers in its message).
	// AllocsPerRun counts the whole process's mallocs, so a goroutine an
	// earlier test left running can only add to a count: the least of a
	// few measurements is the check's own.
	leastAllocs := func(f func()) float64 {
		least := testing.AllocsPerRun(20, f)
		for range 4 {
			least = min(least, testing.AllocsPerRun(20, f))
		}
		return least
	}
	tiny := leastAllocs(func() { _ = CheckShape([]byte("[[[[[[[[[["), EventShape) })
	for name, in := range map[string][]byte{"nested": nested, "flat": flat} {
		if allocs := leastAllocs(func() { _ = CheckShape(in, EventShape) }); allocs > tiny+2 {
			t.Errorf("%s: %.0f allocations per refusal, %.0f for 10 bytes", name, allocs, tiny)
		}
	}
	// Time: a 1 MB flat array read to its end with wide limits, side by
	// side with encoding/json's validator on the same bytes (a single-pass
	// scanner too): anything quadratic, or a pass per level, would be far
	// slower. The best of three runs of each evens out a busy machine.
	best := func(f func()) time.Duration {
		d := time.Duration(1 << 62)
		for i := 0; i < 3; i++ {
			start := time.Now()
			f()
			d = min(d, time.Since(start))
		}
		return d
	}
	ours := best(func() {
		if err := CheckShape(flat, wide); err != nil {
			t.Fatal(err)
		}
	})
	std := best(func() { stdjson.Valid(flat) })
	if ours > 2*std+5*time.Millisecond {
		t.Errorf("1 MB flat array: CheckShape %v, encoding/json.Valid %v", ours, std)
	}
	t.Logf("1 MB flat array: CheckShape %v, encoding/json.Valid %v", ours, std)
	if err := CheckShape(nested, EventShape); err == nil || !strings.Contains(err.Error(), "nested deeper than 8 levels at byte 8") {
		t.Errorf("nested: %v", err)
	}
}

// refShape computes what CheckShape measures with encoding/json's token
// stream: whether b is one JSON value, its deepest nesting and its number
// of values plus keys.
func refShape(b []byte) (ok bool, depth, tokens int) {
	if !stdjson.Valid(b) {
		return false, 0, 0
	}
	d := stdjson.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	cur := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return true, depth, tokens
		}
		if err != nil {
			return false, 0, 0
		}
		switch tok {
		case stdjson.Delim('{'), stdjson.Delim('['):
			cur++
			depth = max(depth, cur)
			tokens++
		case stdjson.Delim('}'), stdjson.Delim(']'):
			cur--
		default:
			tokens++
		}
	}
}

// FuzzCheckShape compares CheckShape with encoding/json: the same texts
// are JSON, and a limit refuses exactly the texts that go over it.
func FuzzCheckShape(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `[[[[]]]]`, `"\u00e9"`, `-0.5e+3`, `{"a":1,}`, `[1 2]`, `tru`, "\"\xff\""} {
		f.Add([]byte(s), uint8(3), uint16(6))
	}
	f.Fuzz(func(t *testing.T, b []byte, depth uint8, tokens uint16) {
		ok, d, n := refShape(b)
		if err := CheckShape(b, wide); (err == nil) != ok {
			t.Fatalf("%q: CheckShape says %v, encoding/json valid %v", b, err, ok)
		}
		if !ok {
			return
		}
		lim := ShapeLimits{MaxDepth: int(depth%64) + 1, MaxTokens: int(tokens) + 1, MaxTokenBytes: 1 << 30}
		err := CheckShape(b, lim)
		if want := d <= lim.MaxDepth && n <= lim.MaxTokens; (err == nil) != want {
			t.Fatalf("%q (depth %d, %d tokens) with %+v: %v", b, d, n, lim, err)
		}
	})
}

func TestDuplicateKeys(t *testing.T) {
	cases := []struct{ in, field string }{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":{"x":1},"b":{"x":1}}`, ""},             // equal keys in different objects
		{`{"a":{"x":1,"y":{"x":2}},"x":3}`, ""},       // nor at different depths
		{`{"a":{"x":1,"x":2},"a":3}`, "a.x"},          // the first in the text wins
		{`{"d":[{"k":1},{"k":2,"k":3}]}`, "d[1].k"},   // inside arrays
		{`{"text":"a","t\u0065xt":"b"}`, "text"},      // escapes are compared decoded
		{`{"a\/b":1,"a/b":2}`, "a/b"},                 //
		{`{"\ud83d\ude00":1,"😀":2}`, "😀"},             // a surrogate pair is its character
		{`{"a\"":1,"a":2,"a\\":3,"a\u0022":4}`, `a"`}, // quotes inside keys
		{`{"é":1,"e\u0301":2}`, ""},                   // no normalization: a decoder keeps both
		{`[{"a":1},{"a":1}]`, ""},
	}
	for _, c := range cases {
		err := CheckDuplicateKeys([]byte(c.in), 64)
		got := ""
		if err != nil {
			ve := err.(*ValidationError)
			if ve.Rule != RuleJSON || ve.Detail == "" {
				t.Errorf("%s: %#v", c.in, ve)
			}
			got = ve.Field
		}
		if got != c.field {
			t.Errorf("%s: field %q, want %q", c.in, got, c.field)
		}
	}
	// depth 1 looks at the outermost object only.
	if err := CheckDuplicateKeys([]byte(`{"a":{"x":1,"x":2}}`), 1); err != nil {
		t.Errorf("depth 1: %v", err)
	}
	if err := CheckDuplicateKeys([]byte(`{"a":{"x":1},"a":2}`), 1); err == nil {
		t.Error("depth 1 missed a repeat at depth 1")
	}
}

// refDuplicate reports whether valid JSON b repeats a key in an object,
// comparing keys as encoding/json decodes them.
func refDuplicate(b []byte) bool {
	d := stdjson.NewDecoder(bytes.NewReader(b))
	type level struct {
		object bool
		keys   map[string]bool
		key    bool // the next token is a key
	}
	var stack []*level
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case stdjson.Delim('{'):
			stack = append(stack, &level{object: true, keys: map[string]bool{}, key: true})
			continue
		case stdjson.Delim('['):
			stack = append(stack, &level{})
			continue
		case stdjson.Delim('}'), stdjson.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}

// FuzzDuplicateKeys compares CheckDuplicateKeys with encoding/json's view
// of the keys on valid JSON without lone surrogates (which decodeStrict
// refuses before this check runs).
func FuzzDuplicateKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":1},"b":2}`, `{"t\u0065xt":1,"text":2}`, `[{"x":[{"y":1,"y":2}]}]`, `{"\/":1,"/":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckShape(b, wide) != nil || !stdjson.Valid(b) || loneSurrogateAt(b) >= 0 || invalidUTF8At(b) < len(b) {
			return
		}
		err := CheckDuplicateKeys(b, maxShapeDepth)
		if want := refDuplicate(b); (err != nil) != want {
			t.Fatalf("%s: CheckDuplicateKeys %v, encoding/json sees a repeat: %v", b, err, want)
		}
	})
}

// FuzzHasValue compares hasValue, which checkPresent uses, with decoding
// the object into a map.
func FuzzHasValue(f *testing.F) {
	for _, s := range []string{`{"option":1}`, `{"option":null}`, `{"a":{"option":1}}`, `{"opt\u0069on":0}`, `{"x":[{"option":2}],"option" : 3}`, `{"b":"option","option":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m map[string]stdjson.RawMessage
		if CheckShape(b, wide) != nil || stdjson.Unmarshal(b, &m) != nil || loneSurrogateAt(b) >= 0 || CheckDuplicateKeys(b, maxShapeDepth) != nil || invalidUTF8At(b) < len(b) {
			return
		}
		for _, k := range []string{"option", "a", "viewers", ""} {
			v, ok := m[k]
			if want := ok && string(v) != "null"; hasValue(b, k) != want {
				t.Fatalf("%s: hasValue(%q) = %v, a map says %v", b, k, !want, want)
			}
		}
	})
}

// refScanString is scanString as it was before its eight-byte fast path:
// one byte at a time.
func refScanString(b []byte, i, maxBytes int) (int, error) {
	start := i
	i++
	for {
		if i-start >= maxBytes {
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

// FuzzScanString: the string scanner with its eight-byte fast path ends
// every string, and refuses every bad or oversized one, exactly where
// and how the byte-at-a-time scanner does, for every byte (each byte
// value in every position of a word is in the seeds) and every limit.
func FuzzScanString(f *testing.F) {
	f.Add([]byte(`"a chat message of a typical length, with a name"`), uint16(16384))
	f.Add([]byte(`"exactly sixteen!"`), uint16(18))
	f.Add([]byte(`"exactly sixteen!"`), uint16(17))
	f.Add([]byte(`"0123456789abcdef0123456789abcdef"`), uint16(9))
	f.Add([]byte(`"Zoë 🔥 and more text after it"`), uint16(64))
	f.Add([]byte(`"tab	inside a long enough string"`), uint16(64))
	f.Add([]byte(`"escaped \" quote in the middle of it"`), uint16(64))
	f.Add([]byte(`"escaped \\" backslash, then a quote"`), uint16(64))
	f.Add([]byte(`"a \u00e9 and a \ud83d\ude00 and a bad \u12"`), uint16(64))
	f.Add([]byte(`"unterminated and long enough to take the fast path`), uint16(100))
	for c := 0; c < 256; c++ {
		b := []byte(`"0123456789abcdefghij"`)
		b[1+c%16] = byte(c)
		f.Add(b, uint16(30))
	}
	f.Fuzz(func(t *testing.T, b []byte, limit uint16) {
		if len(b) == 0 || b[0] != '"' {
			b = append([]byte{'"'}, b...)
		}
		maxBytes := int(limit)%(len(b)+9) + 1
		got, gotErr := scanString(b, 0, maxBytes)
		want, wantErr := refScanString(b, 0, maxBytes)
		if got != want || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("%q, limit %d: scanString = %d, %v; byte at a time = %d, %v", b, maxBytes, got, gotErr, want, wantErr)
		}
	})
}

// TestSpecialMask: the lowest byte specialMask flags in a word is exactly
// its first quote, backslash or control character, for every byte value
// in every position, alone or after any other byte; a word with none of
// them is not flagged. scanString and plainStringEnd jump there.
func TestSpecialMask(t *testing.T) {
	special := func(c int) bool { return c < 0x20 || c == '"' || c == '\\' }
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			m := specialMask(binary.LittleEndian.Uint64(w))
			if !special(c) && m != 0 || special(c) && bits.TrailingZeros64(m)/8 != pos {
				t.Fatalf("byte %#x at %d: mask %#x", c, pos, m)
			}
			for d := 0; d < 256; d++ {
				for later := pos + 1; later < 8; later++ {
					w[later] = byte(d)
					m := specialMask(binary.LittleEndian.Uint64(w))
					want := 8
					if special(c) {
						want = pos
					} else if special(d) {
						want = later
					}
					if got := bits.TrailingZeros64(m) / 8; got != want && !(want == 8 && m == 0) {
						t.Fatalf("%q: lowest flagged byte %d, want %d (mask %#x)", w, got, want, m)
					}
					w[later] = "abcdefgh"[later]
				}
			}
		}
	}
}

// FuzzSplitBatch: SplitBatch answers what CheckBatchShape answers, its
// events are exactly the elements encoding/json finds in a batch (or the
// whole value, space trimmed, when it is not an array), and it marks
// exactly the events CheckDuplicateKeys refuses.
func FuzzSplitBatch(f *testing.F) {
	for _, s := range []string{
		`[{"type":"chat.message","data":{"text":"hi"}},{"type":"reaction","data":{"emoji":"🔥"}}]`,
		` [ {"a":1} , {"b":[1,2,{"c":"]"}]} ,"x", 3 , null ] `,
		`{"type":"chat.message","data":{"text":"one event"}}`, ` 12 `, `[]`, `[ ]`, `[[]]`, `[[],[1]]`,
		`[{"a":1},]`, `[{"a":1} {"b":2}]`, `[{"a":"\"],["}]`, `[1,2,3,4,5,6]`, "[\"\xff\"]",
		`[{"a":1,"a":2},{"a":1},{"b":{"x":1,"y":{"x":2}},"x":3},{"d":[{"k":1},{"k":2,"k":3}]}]`,
		`[{"text":"a","t\u0065xt":"b"},{"a\/b":1,"a/b":2},{"\ud83d\ude00":1,"😀":2},{"é":1,"e\u0301":2}]`,
		`{"a":{"x":1,"x":2},"a":3}`, `[{"a":{}, "b":{}, "a":[]}, {"a":{"a":{"a":1}}}]`, `[{"k":1,"k":1}, {"k":1}]`,
	} {
		f.Add([]byte(s), uint8(4))
	}
	f.Fuzz(func(t *testing.T, b []byte, maxEvents uint8) {
		lim := ShapeLimits{MaxDepth: 16, MaxTokens: 1 << 20, MaxTokenBytes: 1 << 30}
		m := int(maxEvents%8) + 1
		events, n, err := SplitBatch(b, lim, m, make([]BatchEvent, 3))
		wantN, wantErr := CheckBatchShape(b, lim, m)
		if n != wantN || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("%q: SplitBatch = %d, %v; CheckBatchShape = %d, %v", b, n, err, wantN, wantErr)
		}
		if err != nil || n > m {
			return
		}
		var want [][]byte
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '[' {
			var raws []stdjson.RawMessage
			if err := stdjson.Unmarshal(b, &raws); err != nil {
				return // deeper than encoding/json goes, or not UTF-8 it likes
			}
			for _, r := range raws {
				want = append(want, r)
			}
		} else {
			want = [][]byte{bytes.Trim(b, " \t\r\n")}
		}
		if len(events) != n || len(want) != n {
			t.Fatalf("%q: %d events split, %d counted, encoding/json finds %d", b, len(events), n, len(want))
		}
		for i := range want {
			if !bytes.Equal(events[i].Text, want[i]) {
				t.Fatalf("%q: event %d = %q, encoding/json: %q", b, i, events[i].Text, want[i])
			}
			dup := CheckDuplicateKeys(want[i], maxShapeDepth)
			if events[i].RepeatedKey != (dup != nil) {
				t.Fatalf("%q: event %d: RepeatedKey %v, CheckDuplicateKeys: %v", b, i, events[i].RepeatedKey, dup)
			}
		}
	})
}
