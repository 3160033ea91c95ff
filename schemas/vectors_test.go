package schemas

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

func readVectors[T any](t testing.TB, name string) []T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	var list []T
	if _, err := json.Parse(b, &list, json.DisallowUnknownFields); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return list
}

// TestInvalidVectors runs every invalid golden vector through ParseEvent
// and checks the exact field and rule of the rejection.
func TestInvalidVectors(t *testing.T) {
	list := readVectors[invalidVector](t, "invalid.json")
	if len(list) < 60 {
		t.Fatalf("invalid.json has %d vectors, want at least 60", len(list))
	}
	names := map[string]bool{}
	for _, v := range list {
		if names[v.Name] {
			t.Errorf("duplicate vector name %q", v.Name)
		}
		names[v.Name] = true
		if (v.Input == nil) == (v.InputB64 == "") {
			t.Errorf("%s: exactly one of input and input_b64 must be set", v.Name)
			continue
		}
		_, err := ParseEvent(v.raw())
		if err == nil {
			t.Errorf("%s: accepted, want field %q rule %s", v.Name, v.Field, v.Rule)
			continue
		}
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Errorf("%s: error %T %v is not a *ValidationError", v.Name, err, err)
			continue
		}
		if ve.Field != v.Field || ve.Rule != v.Rule {
			t.Errorf("%s: got field %q rule %s (%s), want field %q rule %s", v.Name, ve.Field, ve.Rule, ve.Detail, v.Field, v.Rule)
		}
		if ve.Detail == "" {
			t.Errorf("%s: empty detail", v.Name)
		}
	}
	// Every rule is exercised by some vector.
	seen := map[Rule]bool{}
	for _, v := range list {
		seen[v.Rule] = true
	}
	for _, r := range []Rule{RuleJSON, RuleType, RuleUnknown, RuleRequired, RuleVersion, RuleEnum, RuleUTF8, RuleChars, RuleLength, RuleRange, RuleSize} {
		if !seen[r] {
			t.Errorf("no invalid vector for rule %s", r)
		}
	}
}

// TestValidVectors checks that every valid vector is accepted, covers every
// type at least twice, and round-trips: decode, Marshal, decode gives the
// same event, and a second Marshal gives the same bytes.
func TestValidVectors(t *testing.T) {
	list := readVectors[validVector](t, "valid.json")
	perType := map[Type]int{}
	for _, v := range list {
		ev, err := ParseEvent(v.Event)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		perType[ev.Type]++
		b, err := ev.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		ev2, err := ParseEvent(b)
		if err != nil {
			t.Errorf("%s: re-encoded event rejected: %v\n%s", v.Name, err, b)
			continue
		}
		if !sameEvent(ev, ev2) {
			t.Errorf("%s: round trip changed the event:\n%+v\n%+v", v.Name, ev, ev2)
		}
		b2, _ := ev2.Marshal()
		if string(b) != string(b2) {
			t.Errorf("%s: second encoding differs:\n%s\n%s", v.Name, b, b2)
		}
	}
	for _, ty := range Types {
		if perType[ty] < 2 {
			t.Errorf("type %s has %d valid vectors, want at least 2", ty, perType[ty])
		}
	}
}

// sameEvent compares the decoded meaning of two events (Data may differ
// in spelling, e.g. escapes and white space).
func sameEvent(a, b Event) bool {
	return a.V == b.V && a.ID == b.ID && a.Room == b.Room && a.User == b.User &&
		a.Type == b.Type && a.TS == b.TS && reflect.DeepEqual(a.Body, b.Body)
}

// TestFrameVectors folds the frames of frames.json into an empty state
// and compares with the hand-written expected state, through JSON as a
// client reads them.
func TestFrameVectors(t *testing.T) {
	list := readVectors[json.RawMessage](t, "frames.json")
	if len(list) != len(frameCases()) {
		t.Fatalf("frames.json has %d cases", len(list))
	}
	for _, raw := range list {
		var c struct {
			Name   string            `json:"name"`
			Frames []json.RawMessage `json:"frames"`
			State  json.RawMessage   `json:"state"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		s := NewRoomState()
		var seq uint64
		for _, fb := range c.Frames {
			f, err := UnmarshalFrame(fb)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if f.Seq != seq+1 {
				t.Fatalf("%s: seq %d after %d", c.Name, f.Seq, seq)
			}
			seq = f.Seq
			s.Apply(&f.Delta)
		}
		var want RoomState
		if err := json.Unmarshal(c.State, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, want) {
			got, _ := json.Marshal(s)
			t.Errorf("%s: folded state\n%s\nwant\n%s", c.Name, got, c.State)
		}
	}
}

// TestDetailCarriesNoInput checks that error details never repeat the
// input, since they reach logs, DLQ headers and HTTP bodies.
func TestDetailCarriesNoInput(t *testing.T) {
	const secret = "SECRETSECRET"
	for _, in := range []string{
		`{"v":1,"id":"evt-1","room":"room-1","user":"u","type":"chat.message","ts":1,"data":{"text":"` + secret + `",}}`,
		`{"v":1,"id":"evt-1","room":"room-1","user":"u","type":"chat.message","ts":1,"data":{"text":1` + secret + `}}`,
		`{"v":1,"id":"evt-1","room":"room-1","user":"u","type":"chat.message","ts":1,"data":{"text":["` + secret + `"]}}`,
		`{"v":"` + secret + `"}`,
		`{"v":1e5` + secret + `}`,
		`{"v":123456789012345678901234567890` + secret + `}`,
		`[` + secret + `]`,
		`{"v":1}` + secret,
	} {
		_, err := ParseEvent([]byte(in))
		if err == nil {
			t.Fatalf("accepted %s", in)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error repeats the input: %v", err)
		}
	}
}

// TestIndexPath checks the field names of type errors inside arrays, which
// must equal the names the validators use ("options[1]").
func TestIndexPath(t *testing.T) {
	for in, want := range map[string]string{"": "", "v": "v", "options.1": "options[1]", "a.2.b": "a[2].b", "1": "1"} {
		if got := indexPath(in); got != want {
			t.Errorf("indexPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJSONPathAt checks the field named for an encoding error at each
// offset of a nested document.
func TestJSONPathAt(t *testing.T) {
	doc := []byte(`{"a":"x","b":{"c":["y","z"],"d":1},"e":"w"}`)
	for _, c := range []struct {
		at   string
		want string
	}{{`"x"`, "a"}, {`"y"`, "b.c[0]"}, {`"z"`, "b.c[1]"}, {`"w"`, "e"}, {`"d"`, "b.d"}} {
		i := strings.Index(string(doc), c.at) + 1
		if got := jsonPathAt(doc, i); got != c.want {
			t.Errorf("at %s: %q, want %q", c.at, got, c.want)
		}
	}
}

// TestUnmarshalFrameRejectsNullEntries: a null poll, question or quiz in a
// frame or snapshot would crash every client that folds it.
func TestUnmarshalFrameRejectsNullEntries(t *testing.T) {
	for _, c := range []struct{ in, field string }{
		{`{"room":"r","epoch":"e","seq":1,"ts":1,"delta":{"polls":{"p":null}}}`, "delta.polls.p"},
		{`{"room":"r","epoch":"e","seq":1,"ts":1,"delta":{"questions":{"q":null}}}`, "delta.questions.q"},
		{`{"room":"r","epoch":"e","seq":1,"ts":1,"delta":{"quizzes":{"z":null}}}`, "delta.quizzes.z"},
	} {
		_, err := UnmarshalFrame([]byte(c.in))
		ve, ok := AsValidationError(err)
		if !ok || ve.Field != c.field || ve.Rule != RuleType {
			t.Errorf("%s: %v, want field %s rule type", c.in, err, c.field)
		}
	}
	for _, c := range []struct{ in, field string }{
		{`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{"polls":{"p":null}}}`, "state.polls.p"},
		{`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{"questions":{"q":null}}}`, "state.questions.q"},
		{`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{"quizzes":{"z":null}}}`, "state.quizzes.z"},
	} {
		_, err := UnmarshalSnapshot([]byte(c.in))
		ve, ok := AsValidationError(err)
		if !ok || ve.Field != c.field || ve.Rule != RuleType {
			t.Errorf("%s: %v, want field %s rule type", c.in, err, c.field)
		}
	}
}

// TestUnmarshalFrameEmptyIsAbsent: the encoder omits empty collections, so
// a decoded frame must mean the same with or without them; an empty options
// list must not reset a poll, an empty leaderboard must not clear it.
func TestUnmarshalFrameEmptyIsAbsent(t *testing.T) {
	f, err := UnmarshalFrame([]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"delta":{"reactions":{},"chat":[],"leaderboard":[],"polls":{"p":{"options":[],"votes":[1]}},"quizzes":{"z":{"options":[]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := NewRoomState()
	s.Polls["p"] = &Poll{Question: "q", Options: []string{"a", "b"}, Votes: []int64{0, 0}}
	s.Quizzes["z"] = &Quiz{Question: "q", Options: []string{"a", "b"}, Points: 1}
	s.Leaderboard = []LeaderEntry{{User: "u", Score: 1}}
	s.Apply(&f.Delta)
	if p := s.Polls["p"]; p.Question != "q" || !slices.Equal(p.Options, []string{"a", "b"}) || !slices.Equal(p.Votes, []int64{1, 0}) {
		t.Errorf("poll changed: %+v", p)
	}
	if z := s.Quizzes["z"]; z.Question != "q" || len(z.Options) != 2 || z.Points != 1 {
		t.Errorf("quiz changed: %+v", z)
	}
	if len(s.Leaderboard) != 1 {
		t.Errorf("leaderboard cleared: %+v", s.Leaderboard)
	}
}
