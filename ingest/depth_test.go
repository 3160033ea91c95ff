package ingest

import (
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
