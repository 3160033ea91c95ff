package pushers

import (
	"testing"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// FuzzParseClientMsg: any bytes a client sends are classified as exactly
// one of: not an object (close 4400), a bad_request naming a field, or a
// message whose id fits the limit — never a panic.
func FuzzParseClientMsg(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","id":"1","room":"r","epoch":"e","seq":3}`,
		`{"op":"publish","room":"r","event":{"type":"reaction","data":{"emoji":"👍"}}}`,
		`{"op":"ping","id":7}`, `{"seq":-1}`, `[]`, `{`, `"x"`, ``, `{"id":"` + string(make([]byte, 70)) + `"}`,
		`{"op":"subscribe","epoch":null,"seq":null}`, "{\"op\":\"\xff\"}",
		`{"op":"refresh","id":"t1","token":"eyJhbGciOiJub25lIn0.e30."}`, `{"op":"refresh","token":7}`,
		`{"op":"ping","x":[[[[[[[[[[[[1]]]]]]]]]]]]}`, `{"op":"ping","x":[1,2,3,4,5,6,7,8,9]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, we, err := parseClientMsg(b)
		switch {
		case err != nil:
			if we != nil {
				t.Fatal("both an error and a wire error")
			}
		case we != nil:
			if we.Code != CodeBadRequest {
				t.Fatalf("code %q", we.Code)
			}
			out, err := json.Marshal(we)
			if err != nil || !utf8.Valid(out) {
				t.Fatalf("error reply does not encode: %v", err)
			}
		default:
			if len(m.ID) > maxReqIDLen {
				t.Fatalf("id of %d bytes accepted", len(m.ID))
			}
		}
	})
}
