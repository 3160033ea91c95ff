package schemas

import (
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// Fuzz targets for every decoder of the package. Run one with
//   go test ./schemas -run '^$' -fuzz '^FuzzParseEvent$' -fuzztime 60s
// (make fuzz runs them all). Without -fuzz they run their seeds as tests.

var knownRules = map[Rule]bool{
	RuleJSON: true, RuleType: true, RuleUnknown: true, RuleRequired: true, RuleVersion: true, RuleEnum: true,
	RuleUTF8: true, RuleChars: true, RuleLength: true, RuleRange: true, RuleSize: true, RuleEmoji: true, RuleUnique: true,
}

// checkRejection asserts the shape every decoder error must have: a
// *ValidationError with a known rule, a detail, and valid UTF-8 (errors
// go into HTTP bodies and Kafka headers).
func checkRejection(t *testing.T, err error) {
	t.Helper()
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("error %T is not a *ValidationError: %v", err, err)
	}
	if !knownRules[ve.Rule] {
		t.Fatalf("unknown rule %q: %v", ve.Rule, ve)
	}
	if ve.Detail == "" || !utf8.ValidString(ve.Detail) || !utf8.ValidString(ve.Field) || len(ve.Field) > 200 || len(ve.Detail) > 300 {
		t.Fatalf("bad error text: field %q detail %q", ve.Field, ve.Detail)
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, v := range readVectors[validVector](f, "valid.json") {
		f.Add([]byte(v.Event))
	}
	for _, v := range readVectors[invalidVector](f, "invalid.json") {
		f.Add(v.raw())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := ParseEvent(in)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if ev.Body == nil || newPayload(ev.Type) == nil {
			t.Fatalf("accepted without a body: %+v", ev)
		}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > len(in) {
			t.Fatalf("re-encoding grew the event from %d to %d bytes:\n%s", len(in), len(b), b)
		}
		ev2, err := ParseEvent(b)
		if err != nil {
			t.Fatalf("re-encoded event rejected: %v\nin:  %q\nout: %q", err, in, b)
		}
		if !sameEvent(ev, ev2) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, ev2)
		}
		if b2, _ := ev2.Marshal(); string(b2) != string(b) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b, b2)
		}
	})
}

func frameSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, c := range frameCases() {
		for i := range c.Frames {
			b, err := MarshalFrame(&c.Frames[i])
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return append(out,
		[]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"delta":{"polls":{"p":null}}}`),
		[]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"delta":{"polls":{"p":{"options":[],"votes":[1,-1]}},"leaderboard":[]}}`),
		[]byte(`{"room":"r","epoch":"e","seq":0,"ts":1,"delta":{}}`),
		[]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"delta":{"quizzes":{"z":{"revealed":true,"correct":null}}}}`),
	)
}

func FuzzUnmarshalFrame(f *testing.F) {
	for _, b := range frameSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := UnmarshalFrame(in)
		if err != nil {
			checkRejection(t, err)
			return
		}
		s := NewRoomState()
		s.Apply(&fr.Delta)
		b, err := MarshalFrame(&fr)
		if err != nil {
			t.Fatal(err)
		}
		fr2, err := UnmarshalFrame(b)
		if err != nil {
			t.Fatalf("re-encoded frame rejected: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, fr2)
		}
		s2 := NewRoomState()
		s2.Apply(&fr2.Delta)
		if stateJSON(t, s) != stateJSON(t, s2) {
			t.Fatalf("re-decoded frame folds differently")
		}
	})
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	for _, c := range frameCases() {
		b, err := MarshalSnapshot(&Snapshot{Room: "room-1", Epoch: "e", Seq: uint64(len(c.Frames)), TS: 1, State: c.State})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{"polls":{"p":null}}}`))
	f.Add([]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{}}`))
	f.Add([]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{"polls":{"p":{"question":"q","options":null,"votes":[1],"closed":false}},"quizzes":{"z":{"correct":3}}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := UnmarshalSnapshot(in)
		if err != nil {
			checkRejection(t, err)
			return
		}
		c := s.State.Clone()
		c.Apply(&Delta{})
		if stateJSON(t, c) != stateJSON(t, s.State) {
			t.Fatalf("Clone or an empty delta changed the state")
		}
		b, err := MarshalSnapshot(&s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := UnmarshalSnapshot(b)
		if err != nil {
			t.Fatalf("re-encoded snapshot rejected: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the snapshot:\n%+v\n%+v", s, s2)
		}
	})
}

// fuzzBase is the room state FuzzMerge merges on top of: chat, open
// polls, questions and quizzes from the room model.
func fuzzBase() RoomState {
	m := newRoomModel(1)
	s := NewRoomState()
	for range 20 {
		d := m.delta()
		s.Apply(&d)
	}
	return s
}

// lawful reports whether a then b on s keep the guarantees under which
// Merge(a, b) means a then b (see Delta): unique chat ids, no line deleted
// before it is posted, the history never over ChatHistory without an
// eviction listed, options and question text set once.
func lawful(s *RoomState, a, b *Delta) bool {
	ids := map[string]bool{}
	chat := []string{}
	for _, l := range s.Chat {
		if ids[l.ID] {
			return false
		}
		ids[l.ID] = true
		chat = append(chat, l.ID)
	}
	for _, d := range []*Delta{a, b} {
		for _, l := range d.Chat {
			if ids[l.ID] {
				return false
			}
			ids[l.ID] = true
			chat = append(chat, l.ID)
		}
		chat = slices.DeleteFunc(chat, func(id string) bool { return slices.Contains(d.ChatDeleted, id) })
		if len(chat) > ChatHistory {
			return false
		}
	}
	for _, id := range a.ChatDeleted {
		if slices.ContainsFunc(b.Chat, func(l ChatLine) bool { return l.ID == id }) {
			return false
		}
	}
	once := func(inState bool, inA, inB bool) bool { return btoi(inState)+btoi(inA)+btoi(inB) <= 1 }
	for id := range union(a.Polls, b.Polls) {
		p := s.Polls[id]
		if !once(p != nil && p.Options != nil, a.Polls[id] != nil && a.Polls[id].Options != nil, b.Polls[id] != nil && b.Polls[id].Options != nil) {
			return false
		}
	}
	for id := range union(a.Quizzes, b.Quizzes) {
		z := s.Quizzes[id]
		if !once(z != nil && z.Options != nil, a.Quizzes[id] != nil && a.Quizzes[id].Options != nil, b.Quizzes[id] != nil && b.Quizzes[id].Options != nil) {
			return false
		}
	}
	for id := range union(a.Questions, b.Questions) {
		q := s.Questions[id]
		if !once(q != nil && q.Text != "", a.Questions[id] != nil && a.Questions[id].Text != "", b.Questions[id] != nil && b.Questions[id].Text != "") {
			return false
		}
	}
	return true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func union[V any](a, b map[string]V) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// decodeDelta decodes a delta as UnmarshalFrame does.
func decodeDelta(b []byte) (Delta, bool) {
	var d Delta
	if decodeStrict(b, &d, "delta") != nil || d.normalize() != nil {
		return d, false
	}
	return d, true
}

func FuzzMerge(f *testing.F) {
	m := newRoomModel(1)
	for range 20 {
		m.delta() // the state fuzzBase builds
	}
	for range 10 {
		a, b := m.delta(), m.delta()
		ab, _ := json.Marshal(&a)
		bb, _ := json.Marshal(&b)
		f.Add(ab, bb)
	}
	f.Add([]byte(`{"chat":[{"id":"n","user":"u","text":"t","ts":1}]}`), []byte(`{"chat_deleted":["n"],"polls":{"p":{"options":["a","b"],"votes":[0,0,5]}}}`))
	base := fuzzBase()
	f.Fuzz(func(t *testing.T, ab, bb []byte) {
		a, ok1 := decodeDelta(ab)
		b, ok2 := decodeDelta(bb)
		if !ok1 || !ok2 {
			return
		}
		aj, bj := deltaJSON(t, &a), deltaJSON(t, &b)
		merged := Merge(&a, &b)
		if deltaJSON(t, &a) != aj || deltaJSON(t, &b) != bj {
			t.Fatal("Merge modified its inputs")
		}
		for _, s := range []RoomState{NewRoomState(), base} {
			seq := s.Clone()
			seq.Apply(&a) // must not panic, lawful or not
			seq.Apply(&b)
			if !lawful(&s, &a, &b) {
				continue
			}
			got := s.Clone()
			got.Apply(&merged)
			if stateJSON(t, got) != stateJSON(t, seq) {
				t.Fatalf("Apply(Merge(a,b)) differs from Apply(a);Apply(b)\n got %s\nwant %s", stateJSON(t, got), stateJSON(t, seq))
			}
		}
	})
}
