package ingest

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// TestEncodeEventMatchesMarshal checks the hand-written encoder against the
// schema's own Marshal: both must decode to the same event, for users that
// need escaping and data with spacing and HTML characters.
func TestEncodeEventMatchesMarshal(t *testing.T) {
	users := []string{"alice", `a"b\c`, "Zoë 🎉", "<script>&", "tab\there"}
	datas := []string{`{"text":"hi"}`, "{ \"text\" : \"a <b> & c\" ,\n \"name\":\"N\" }", `{"text":"\u00e9\ud83d\ude00"}`}
	for _, u := range users {
		for _, d := range datas {
			ev := schemas.Event{V: 1, ID: "id-1:x.y_z", Room: "room.1", User: u, Type: schemas.ChatMessage, TS: 1767225600123, Data: json.RawMessage(d)}
			quoted, _ := json.Marshal(u)
			mine := encodeEvent(nil, &ev, quoted)
			theirs, err := ev.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			a, errA := schemas.ParseEvent(mine)
			b, errB := schemas.ParseEvent(theirs)
			if u == "tab\there" {
				// A control character in a user id is refused by CheckUser
				// either way; both encodings must say so.
				if errA == nil || errB == nil || errA.Error() != errB.Error() {
					t.Fatalf("user %q: %v vs %v", u, errA, errB)
				}
				continue
			}
			if errA != nil || errB != nil {
				t.Fatalf("user %q data %q: %v / %v\n%s", u, d, errA, errB, mine)
			}
			a.Data, b.Data = nil, nil // spacing may differ; the decoded bodies must not
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("user %q data %q:\n%+v\n%+v", u, d, a, b)
			}
		}
	}
}

// TestBatchAnswerEncoding checks the hand-written batch answer against the
// codec's encoding of the same BatchResponse.
func TestBatchAnswerEncoding(t *testing.T) {
	items := []*item{
		{index: 0, id: "019a2565-18a1-7803-9426-e4868d71ddfb"},
		{index: 1, id: "bad \"id\"", err: errInvalidEvent(&schemas.ValidationError{Field: "id", Rule: schemas.RuleChars, Detail: `byte 3 is ' '`})},
		{index: 2, err: errRateLimited("user", 3)},
		{index: 3, id: "a:b.c_d-e"},
	}
	want := BatchResponse{Accepted: 2, Rejected: 2}
	for _, it := range items {
		want.Results = append(want.Results, result(it))
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := appendBatch(nil, 2, items)
	if string(got) != string(wantJSON) {
		t.Fatalf("hand-encoded:\n%s\ncodec:\n%s", got, wantJSON)
	}
}

// FuzzAppendBody: the hand-written encodings of chat and reaction bodies
// are byte for byte the codec's, whatever the strings hold (quotes,
// backslashes, control characters, invalid UTF-8, U+2028, HTML).
func FuzzAppendBody(f *testing.F) {
	for _, s := range [][2]string{{"hello", "Ann"}, {"", ""}, {`a "quoted" \ line`, "\t\n\x00"}, {"<b>&</b> \u2028\u2029", "Zoë 🎉"}, {"\xff\xfe bad", "x\x7f"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, text, name string) {
		for _, body := range []schemas.Payload{&schemas.ChatMessageData{Text: text, Name: name}, &schemas.ReactionData{Emoji: text}} {
			ev := schemas.Event{Body: body}
			want, err := json.Append(nil, body, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendBody(nil, &ev); !bytes.Equal(got, want) {
				t.Fatalf("%T %q %q: hand-written %s, codec %s", body, text, name, got, want)
			}
		}
	})
}
