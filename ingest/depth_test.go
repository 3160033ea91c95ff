package ingest

import (
	"bytes"
	stdjson "encoding/json"
	"strings"
	"testing"
)

// FuzzDepthWatch checks the nesting watch of the body reader: fed in two
// pieces it finds what it finds fed at once, and on valid JSON it refuses
// exactly the texts nested deeper than an event (one more for a batch).
func FuzzDepthWatch(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"[[[["}]}`, `[{"t":"\\\"[["},{"x":[[[[[[[[[]]]]]]]]]}]`, strings.Repeat("[", 20), `{"a":"\"{{{{{{{{{{"}`} {
		f.Add([]byte(s), uint16(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		whole := depthWatch{limit: 8}
		want := whole.scan(b)
		k := int(cut) % (len(b) + 1)
		split := depthWatch{limit: 8}
		got := split.scan(b[:k])
		if got < 0 {
			if got = split.scan(b[k:]); got >= 0 {
				got += k
			}
		}
		if got != want {
			t.Fatalf("%q cut at %d: %d, at once %d", b, k, got, want)
		}
		ref := refDepthWatch{limit: 8}
		if r := ref.scan(b); r != want {
			t.Fatalf("%q: %d, the IndexByte watch %d", b, want, r)
		}
		if !stdjson.Valid(b) {
			return
		}
		depth, deepest := 0, 0
		d := stdjson.NewDecoder(strings.NewReader(string(b)))
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			switch tok {
			case stdjson.Delim('{'), stdjson.Delim('['):
				depth++
				deepest = max(deepest, depth)
			case stdjson.Delim('}'), stdjson.Delim(']'):
				depth--
			}
		}
		limit := 8
		if s := strings.TrimLeft(string(b), " \t\r\n"); strings.HasPrefix(s, "[") {
			limit = 9
		}
		if (want >= 0) != (deepest > limit) {
			t.Fatalf("%q: nesting %d, limit %d, watch says %d", b, deepest, limit, want)
		}
	})
}

// refDepthWatch is depthWatch.scan as it was before its string skipping
// read eight bytes at a time: the reference FuzzDepthWatch holds it to.
type refDepthWatch struct {
	limit    int
	started  bool
	depth    int
	inString bool
	escaped  bool
}

func (d *refDepthWatch) scan(b []byte) int {
	for i := 0; i < len(b); i++ {
		if d.escaped {
			d.escaped = false
			continue
		}
		if d.inString {
			q := bytes.IndexByte(b[i:], '"')
			if q < 0 {
				q = len(b) - i
			}
			if e := bytes.IndexByte(b[i:i+q], '\\'); e >= 0 {
				i += e
				d.escaped = true
				continue
			}
			i += q
			if i < len(b) {
				d.inString = false
			}
			continue
		}
		switch c := b[i]; {
		case c == '"':
			d.inString = true
		case c == '{' || c == '[':
			if !d.started && c == '[' {
				d.limit++
			}
			d.started = true
			if d.depth++; d.depth > d.limit {
				return i
			}
		case c == '}' || c == ']':
			d.depth--
		case c > ' ':
			d.started = true
		}
	}
	return -1
}
