package schemas

import (
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

func TestParseVerdicts(t *testing.T) {
	good := `{"room":"r1","items":[{"user":"u1","id":"e1","reason":"banned"},{"user":"u2","id":"e2","reason":"masked","text":"a ***"}]}`
	v, err := ParseVerdicts([]byte(good))
	if err != nil || v.Room != "r1" || len(v.Items) != 2 || v.Items[1].Text != "a ***" {
		t.Fatalf("good: %+v %v", v, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"room":"r1","items":[]}`, "no items"},
		{`{"room":"","items":[{"user":"u","id":"e","reason":"banned"}]}`, "room"},
		{`{"room":"r1","items":[{"user":"u","id":"e","reason":"closed"}]}`, `unknown reason "closed"`},
		{`{"room":"r1","items":[{"user":"u","id":"e","reason":"masked"}]}`, "masked text empty"},
		{`{"room":"r1","items":[{"user":"u","id":"e","reason":"banned","text":"x"}]}`, "text on a"},
		{`{"room":"r1","items":[{"user":"","id":"e","reason":"banned"}]}`, "item 0"},
		{`{"room":"r1","items":[{"user":"u","id":"","reason":"banned"}]}`, "item 0"},
		{`[`, "verdicts:"},
		{`{"room":"r1","items":[{"user":"u","id":"e","reason":"masked","text":"` + strings.Repeat("x", 501) + `"}]}`, "longer than"},
	} {
		if _, err := ParseVerdicts([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseVerdicts(make([]byte, MaxVerdictsBytes+1)); err == nil {
		t.Error("an oversized record was accepted")
	}
}

// FuzzParseVerdicts: whatever it accepts re-encodes to a record it accepts
// again, equal, and every item has a known reason.
func FuzzParseVerdicts(f *testing.F) {
	f.Add([]byte(`{"room":"r1","items":[{"user":"u1","id":"e1","reason":"banned"},{"user":"u2","id":"e2","reason":"masked","text":"a ***"}]}`))
	f.Add([]byte(`{"room":"r","items":[{"user":"u","id":"e","reason":"room_closed"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVerdicts(b)
		if err != nil {
			return
		}
		for _, it := range v.Items {
			if it.Reason != VerdictMasked && it.Reason != VerdictHeld && it.Reason != VerdictApproved && it.Reason != VerdictHidden && it.Reason != VerdictNoEffect && !IsVerdictReason(it.Reason) {
				t.Fatalf("accepted reason %q", it.Reason)
			}
		}
		again, _ := json.Marshal(&v)
		v2, err := ParseVerdicts(again)
		if err != nil {
			t.Fatalf("re-encoded %s refused: %v", again, err)
		}
		a, _ := json.Marshal(&v2)
		if string(a) != string(again) {
			t.Fatalf("round trip changed %s to %s", again, a)
		}
	})
}
