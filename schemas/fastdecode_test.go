package schemas

import (
	"errors"
	"reflect"
	"testing"
)

// fastSeeds are bodies at the edges of the fast path: what it takes, and
// what it must leave to the codec (escapes, null, floats, "-0", long
// numbers, other cases of a key, nesting, space, trailing data, bad UTF-8,
// control characters, repeated keys).
var fastSeeds = []string{
	`{"text":"hi"}`, `{"text":"hi","name":"Zoë"}`, ` { "name" : "a" , "text" : "b" } `,
	`{"emoji":"🔥"}`, `{"poll_id":"p-1","option":2}`, `{"poll_id":"p-1","option":-3}`,
	`{"poll_id":"p","option":-0}`, `{"poll_id":"p","option":0}`, `{"poll_id":"p","option":00}`,
	`{"poll_id":"p","option":1.0}`, `{"poll_id":"p","option":1e0}`, `{"poll_id":"p","option":123456789}`,
	`{"poll_id":"p","option":1234567890}`, `{"poll_id":"p","option":99999999999999999999}`,
	`{"poll_id":"p","option":"1"}`, `{"poll_id":"p","option":null}`, `{"poll_id":"p"}`,
	`{"question_id":"q"}`, `{"message_id":"m"}`, `{"quiz_id":"z","option":1}`,
	`{"text":"a\"b"}`, `{"text":"\u0041"}`, `{"text":null}`, `{"Text":"a"}`, `{"TEXT":"a"}`,
	`{"text":"a","extra":1}`, `{"text":["a"]}`, `{"text":{"a":1}}`, `{"text":true}`,
	`{"text":"a"} x`, `{"text":"a"}}`, `{"text":"a",}`, `{"text" "a"}`, `{"text":"a""name":"b"}`,
	`{}`, `{ }`, `[]`, `null`, `"x"`, `{"text":"a","text":"b"}`, "{\"text\":\"a\tb\"}",
	"{\"text\":\"\xff\"}", "{\"text\":\"a\x00\"}", `{"text":"a"`, `{"text":`, `{"text"`, `{`, ``,
	`{"option":1,"poll_id":"p","option":2}`, `{"poll_id":"p","option":-}`, `{"poll_id":"p","option":1-2}`,
}

// fastTypes are the types with a fast path, and some without (they must
// go to the codec and still agree).
var fastTypes = []Type{ChatMessage, Reaction, PollVote, QAUpvote, ChatDelete, QuizAnswer, QAAsk,
	PollClose, QuizReveal, QAAnswered, ReactionRemove, QARemove, PollOpen, Presence, QuizAsk}

// FuzzFastBody is the differential test of the fast body decoder: on every
// input and type, when decodeFast takes a body, the codec (decodeChecked)
// takes it with no error and decodes the same values; and validating a
// body with the fast path gives the same error (field, rule, detail) or
// the same body as the codec alone.
func FuzzFastBody(f *testing.F) {
	for i, s := range fastSeeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		typ := fastTypes[int(which)%len(fastTypes)]
		for _, borrow := range []bool{false, true} {
			p := newPayload(typ)
			if decodeFast(p, data, borrow) {
				ref := newPayload(typ)
				flags := parseFlags
				if err := decodeChecked(data, ref, "data", false, flags); err != nil {
					t.Fatalf("%s %q: the fast path took what the codec refuses: %v", typ, data, err)
				}
				if !reflect.DeepEqual(p, ref) {
					t.Fatalf("%s %q: fast %+v, codec %+v", typ, data, p, ref)
				}
			}
		}
		// Inside an event (NextWithBody): the body decoded while the
		// event is read is the one decodeFast decodes from the value on
		// its own (what follows the value is the envelope's to check).
		wrapped := append(append([]byte(`{"type":"x","data":`), data...), '}')
		var m Members
		if m.Begin(wrapped, true) {
			m.NextWithBody(typ, nil, true) // "type"
			if _, val, body, _, ok := m.NextWithBody(typ, nil, true); ok && body != nil {
				alone := newPayload(typ)
				if !decodeFast(alone, val, true) || !reflect.DeepEqual(body, alone) {
					t.Fatalf("%s %q: decoded inside the event %+v, alone %+v", typ, val, body, alone)
				}
				ev := Event{Type: typ, Data: val}
				ref := Event{Type: typ, Data: val}
				sameError(t, ev.ValidateDecodedBody(body), ref.ValidateBodyReflect(nil))
				if !reflect.DeepEqual(ev.Body, ref.Body) {
					t.Fatalf("%s %q: bodies differ: %+v vs %+v", typ, data, ev.Body, ref.Body)
				}
			}
		}
		fast := Event{Type: typ, Data: data}
		ref := Event{Type: typ, Data: data}
		ef, er := fast.ValidateBodyBorrowing(nil, &Bodies{Hint: 2}), ref.ValidateBodyReflect(nil)
		sameError(t, ef, er)
		if !reflect.DeepEqual(fast.Body, ref.Body) {
			t.Fatalf("%s %q: bodies differ: %+v vs %+v", typ, data, fast.Body, ref.Body)
		}
		fast, ref = Event{Type: typ, Data: data}, Event{Type: typ, Data: data}
		ef = fast.validateBodyFlags(nil, parseFlags, true, nil)
		er = ref.validateBodyFlags(nil, parseFlags, false, nil)
		sameError(t, ef, er)
		if !reflect.DeepEqual(fast.Body, ref.Body) {
			t.Fatalf("%s %q: copied bodies differ: %+v vs %+v", typ, data, fast.Body, ref.Body)
		}
	})
}

func sameError(t *testing.T, a, b error) {
	t.Helper()
	if (a == nil) != (b == nil) {
		t.Fatalf("fast path: %v, codec: %v", a, b)
	}
	if a == nil {
		return
	}
	var va, vb *ValidationError
	if !errors.As(a, &va) || !errors.As(b, &vb) {
		if a.Error() != b.Error() {
			t.Fatalf("fast path: %v, codec: %v", a, b)
		}
		return
	}
	if *va != *vb {
		t.Fatalf("fast path: %+v, codec: %+v", *va, *vb)
	}
}

// TestFastBodyTakesPlainBodies checks that the fast path is taken where it
// should be (a fast path that always gave up would pass the differential
// test and win nothing) and left where it must be.
func TestFastBodyTakesPlainBodies(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		data string
		fast bool
	}{
		{ChatMessage, `{"text":"hello","name":"Zoë"}`, true},
		{ChatMessage, ` {"text" : "hello"} `, true},
		{Reaction, `{"emoji":"🔥"}`, true},
		{PollVote, `{"poll_id":"p","option":3}`, true},
		{QAUpvote, `{"question_id":"q-1"}`, true},
		{QuizAnswer, `{"quiz_id":"z","option":0}`, true},
		{ChatMessage, `{"text":"a\nb"}`, false},
		{ChatMessage, `{"text":"a","name":null}`, false},
		{ChatMessage, `{"Text":"a"}`, false},
		{PollVote, `{"poll_id":"p","option":1.5}`, false},
		{PollVote, `{"poll_id":"p","option":-0}`, false},
		{PollOpen, `{"poll_id":"p","question":"q","options":["a","b"]}`, false},
		{ChatMessage, "{\"text\":\"\xff\"}", false},
	} {
		if got := decodeFast(newPayload(c.typ), []byte(c.data), true); got != c.fast {
			t.Errorf("%s %s: fast path %v, want %v", c.typ, c.data, got, c.fast)
		}
	}
}

func TestPlainInt(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "7": 7, "-7": -7, "123456789": 123456789, "-123456789": -123456789} {
		if got, ok := PlainInt([]byte(in)); !ok || got != want {
			t.Errorf("%s: %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-", "-0", "01", "1234567890", "1.0", "1e1", "+1", "1-", "--1", "0x1"} {
		if _, ok := PlainInt([]byte(in)); ok {
			t.Errorf("%q taken", in)
		}
	}
}

// FuzzPlainStringEnd holds plainStringEnd, which reads eight bytes at a
// time, to the byte-at-a-time reading: the same end or the same refusal.
func FuzzPlainStringEnd(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a chat line longer than eight"x`, `"tab	"`, `"back\slash"`, `"unterminated`, `"é🔥\u00e9"`, `"12345678"`, `"1234567"`, "\"12345678\x1f\"", `x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		wantEnd, wantOK := 0, false
		if len(b) > 0 && b[0] == '"' {
			for j := 1; j < len(b); j++ {
				if c := b[j]; c == '"' {
					wantEnd, wantOK = j+1, true
					break
				} else if c < 0x20 || c == '\\' {
					break
				}
			}
		}
		end, ok := plainStringEnd(b, 0)
		if ok != wantOK || ok && end != wantEnd {
			t.Fatalf("%q: %d %v, byte at a time %d %v", b, end, ok, wantEnd, wantOK)
		}
	})
}
