package processors

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// TestVerdicts: every event the moderation fold ignores (and any after
// room.close) gets a verdict with its reason, a masked line one with its
// masked text, an ignored event of another kind (a duplicate id) none;
// the records carry them per room, parse back, and split below the
// record bound.
func TestVerdicts(t *testing.T) {
	chat := func(text string) any { return schemas.ChatMessageData{Text: text} }
	h := newHarness(t, nil)
	steps := []struct {
		user string
		typ  schemas.Type
		data any
	}{
		{"ann", schemas.ChatMessage, chat("hi")},
		{"mod", schemas.ModBan, schemas.ModBanData{Target: "bob"}},
		{"bob", schemas.ChatMessage, chat("let me in")},
		{"bob", schemas.Reaction, schemas.ReactionData{Emoji: "👏"}},
		{"mod", schemas.ModFilters, schemas.ModFiltersData{Words: []string{"spam"}, Action: schemas.FilterMask}},
		{"ann", schemas.ChatMessage, chat("no spam here")},
		{"mod", schemas.RoomControls, schemas.Controls{ReactionsOff: true}},
		{"ann", schemas.Reaction, schemas.ReactionData{Emoji: "🔥"}},
		{"mod", schemas.RoomClose, schemas.RoomCloseData{}},
		{"cat", schemas.ChatMessage, chat("late")},
	}
	for i, s := range steps {
		h.apply(ev(t, fmt.Sprintf("e%d", i), "r", s.user, s.typ, int64(1000+i), s.data))
	}
	h.apply(ev(t, "e0", "r", "ann", schemas.ChatMessage, 2000, chat("hi"))) // a duplicate: no verdict
	var got []string
	for _, v := range h.verdicts {
		got = append(got, v.Room+"/"+v.User+"/"+v.ID+"/"+v.Reason+"/"+v.Text)
	}
	want := []string{"r/bob/e2/banned/", "r/bob/e3/banned/", "r/ann/e5/masked/no **** here", "r/ann/e7/reactions_off/", "r/cat/e9/room_closed/"}
	if !slices.Equal(got, want) {
		t.Fatalf("verdicts\n%q\nwant\n%q", got, want)
	}
	recs := verdictRecords("ev", 3, h.verdicts)
	if len(recs) != 1 || recs[0].Partition != 3 || string(recs[0].Key) != "r" || recs[0].Headers[0].Key != HeaderControl {
		t.Fatalf("records %+v", recs)
	}
	v, err := schemas.ParseVerdicts(recs[0].Value)
	if err != nil || len(v.Items) != len(want) {
		t.Fatalf("record does not parse back: %+v %v", v, err)
	}
	// Many verdicts of one room split into records that each parse.
	var many []RoomVerdict
	for i := range 5000 {
		many = append(many, RoomVerdict{"r2", schemas.Verdict{User: strings.Repeat("u", 60), ID: fmt.Sprintf("%s%d", strings.Repeat("x", 50), i), Reason: "banned"}})
	}
	recs = verdictRecords("ev", 0, many)
	n := 0
	for _, r := range recs {
		v, err := schemas.ParseVerdicts(r.Value)
		if err != nil {
			t.Fatalf("split record: %v", err)
		}
		n += len(v.Items)
	}
	if len(recs) < 2 || n != 5000 {
		t.Fatalf("%d records with %d verdicts", len(recs), n)
	}
}
