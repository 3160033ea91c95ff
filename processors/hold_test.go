package processors

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// TestHoldFold runs hold for review through the fold with frames cut at
// every step, every other step or once: held lines and questions stay out
// of the room (and its totals) until approved, appear at the approval's
// position, never when rejected; the moderator view's frames fold to its
// state and snapshot; a restore and a rebuild into a new epoch decide the
// same.
func TestHoldFold(t *testing.T) {
	chat := func(text string) any { return schemas.ChatMessageData{Text: text} }
	ask := func(text string) any { return schemas.QAAskData{Text: text} }
	approve := func(id string) any { return schemas.ModApproveData{ID: id} }
	reject := func(id string) any { return schemas.ModRejectData{ID: id} }
	type step struct {
		id     string
		user   string
		typ    schemas.Type
		data   any
		out    Outcome
		reason Reason
	}
	steps := []step{
		{"a1", "ann", schemas.ChatMessage, chat("before"), Applied, ""},
		{"c1", "mod", schemas.RoomControls, schemas.Controls{HoldChat: true, HoldQuestions: true}, Applied, ""},
		{"h1", "ann", schemas.ChatMessage, chat("held one"), Applied, ""},
		{"h2", "bob", schemas.ChatMessage, chat("held two"), Applied, ""},
		{"h1", "bob", schemas.ChatMessage, chat("bob's h1"), Applied, ""}, // ann's id, another user: another key
		{"h1", "ann", schemas.ChatMessage, chat("retry"), Ignored, ReasonDuplicate},
		{"q1", "cat", schemas.QAAsk, ask("held question?"), Applied, ""},
		{"a2", "ann", schemas.ChatMessage, chat("after"), Applied, ""}, // held too
		{"m1", "mod", schemas.ModApprove, approve("h2"), Applied, ""},
		{"m2", "mod", schemas.ModApprove, approve("h2"), Ignored, ReasonUnknownHeld},
		{"m3", "mod", schemas.ModReject, reject("h1"), Applied, ""},
		{"m4", "mod", schemas.ModApprove, approve(scopedID("bob", "h1")), Applied, ""},
		{"m5", "mod", schemas.ModApprove, approve("q1"), Applied, ""},
		{"m6", "mod", schemas.ModReject, reject("nope"), Ignored, ReasonUnknownHeld},
		// A ban that hides drops the user's held items.
		{"h3", "eve", schemas.ChatMessage, chat("eve's line"), Applied, ""},
		{"q2", "eve", schemas.QAAsk, ask("eve's question?"), Applied, ""},
		{"h4", "dan", schemas.ChatMessage, chat("dan waits"), Applied, ""},
		{"b1", "mod", schemas.ModBan, schemas.ModBanData{Target: "eve", Hide: true}, Applied, ""},
		{"m7", "mod", schemas.ModApprove, approve("h3"), Ignored, ReasonUnknownHeld},
		// A holding filter holds only what matches, even with the
		// controls off; the held text is as written.
		{"c2", "mod", schemas.RoomControls, schemas.Controls{}, Applied, ""},
		{"f1", "mod", schemas.ModFilters, schemas.ModFiltersData{Words: []string{"spoiler"}, Action: schemas.FilterHold}, Applied, ""},
		{"h5", "ann", schemas.ChatMessage, chat("a ＳＰＯＩＬＥＲ here"), Applied, ""},
		{"a3", "ann", schemas.ChatMessage, chat("clean"), Applied, ""},
		{"m8", "mod", schemas.ModApprove, approve("h5"), Applied, ""},
		{"z1", "mod", schemas.ModReject, reject("h4"), Applied, ""},
		{"z2", "mod", schemas.ModReject, reject("a2"), Applied, ""},
	}
	for _, every := range []int{1, 2, 1000} {
		t.Run(fmt.Sprintf("flush every %d", every), func(t *testing.T) {
			h := newHarness(t, nil)
			var hist []*schemas.Event
			for i, s := range steps {
				e := ev(t, s.id, "r", s.user, s.typ, int64(1000+i), s.data)
				hist = append(hist, e)
				out, reason := h.apply(e)
				if out != s.out || reason != s.reason {
					t.Fatalf("step %d (%s %s %s): %v %q, want %v %q", i, s.user, s.typ, s.id, out, reason, s.out, s.reason)
				}
				if i%every == 0 {
					h.flush()
				}
			}
			h.flush()
			h.checkFold()
			st, _, _, _ := h.p.RoomState("r")
			var lines []string
			for _, l := range st.Chat {
				lines = append(lines, l.ID+" "+l.User+":"+l.Text)
			}
			// bob's line takes its own id: ann's h1 never entered the room.
			want := []string{"a1 ann:before", "h2 bob:held two", "h1 bob:bob's h1", "a3 ann:clean", "h5 ann:a ＳＰＯＩＬＥＲ here"}
			if !slices.Equal(lines, want) {
				t.Fatalf("chat %q, want %q", lines, want)
			}
			if q := st.Questions["q1"]; q == nil || q.User != "cat" || len(st.Questions) != 1 {
				t.Fatalf("questions %s", js(st.Questions))
			}
			if st.Totals.Chat != 5 || st.Totals.Questions != 1 {
				t.Fatalf("totals %+v: a held item counts only once approved", st.Totals)
			}
			v, _, _, ok := h.p.ViewState("r")
			if !ok || len(v.Held) != 0 {
				t.Fatalf("view %v, held %s; want an empty queue", ok, js(v.Held))
			}
			// No frame of the room ever carried a held item before its
			// approval: the only lines are the approved ones, and the
			// view's frames carried every held item.
			seen := map[string]bool{}
			for _, f := range h.frames {
				if f.Room == schemas.ModView("r") {
					for k := range f.Delta.Held {
						seen[k] = true
					}
				}
				for _, l := range f.Delta.Chat {
					if l.Text == "eve's line" || l.Text == "held one" || l.Text == "dan waits" || l.Text == "after" {
						t.Fatalf("frame %d shows a held line that was never approved: %+v", f.Seq, l)
					}
				}
			}
			if every == 1 {
				keys := slices.Sorted(maps.Keys(seen))
				wantKeys := []string{"a2", "h1", "h2", "h3", "h4", "h5", "q1", "q2", scopedID("bob", "h1")}
				slices.Sort(wantKeys)
				if !slices.Equal(keys, wantKeys) {
					t.Fatalf("view frames held %q, want %q", keys, wantKeys)
				}
			}

			// A restore continues with the same queue: hold again, approve.
			for _, e := range []*schemas.Event{
				ev(t, "f2", "r", "mod", schemas.ModFilters, 5000, schemas.ModFiltersData{Words: []string{}, Action: schemas.FilterRefuse}),
				ev(t, "c3", "r", "mod", schemas.RoomControls, 5001, schemas.Controls{HoldQuestions: true}),
				ev(t, "q3", "r", "ann", schemas.QAAsk, 5002, ask("after restore?")),
			} {
				if out, reason := h.apply(e); out != Applied {
					t.Fatalf("%s: %v %s", e.ID, out, reason)
				}
				hist = append(hist, e)
			}
			h.flush()
			p := h.restored()
			if out, reason := p.Apply(ev(t, "m9", "r", "mod", schemas.ModApprove, 5003, approve("q3")), &Batch{}); out != Applied {
				t.Fatalf("restored: approve q3: %v %s", out, reason)
			}
			if out, reason := p.Apply(ev(t, "q3", "r", "ann", schemas.QAAsk, 5004, ask("after restore?")), &Batch{}); reason != ReasonDuplicate {
				t.Fatalf("restored: q3 again: %v %s, want duplicate", out, reason)
			}

			// A rebuild into a new epoch gives the same room and queue.
			st, _, _, _ = h.p.RoomState("r")
			v, _, _, _ = h.p.ViewState("r")
			h.p.Rebuild("r", "rebuilt", slices.Values(hist), &h.batch)
			h.collect()
			h.flush()
			rb, epoch, _, _ := h.p.RoomState("r")
			rv, vepoch, vseq, ok := h.p.ViewState("r")
			if epoch != "rebuilt" || !equalState(rb, st) {
				t.Fatalf("rebuilt state differs:\n%s", diffState(rb, st))
			}
			if !ok || vepoch != "rebuilt" || vseq != 1 || js(rv.Held) != js(v.Held) || len(rv.Held) != 1 {
				t.Fatalf("rebuilt view %v %s/%d %s, want %s", ok, vepoch, vseq, js(rv.Held), js(v.Held))
			}
			h.checkFold()
		})
	}
}

// TestHeldQueueRecord checks where the pending queue lives: in the room's
// h/ record, written only by a transaction that changed the moderator
// view, so a room with a full queue does not rewrite it with every chat
// line; a restore, an eviction and load, and a core record written
// before h/ records (the queue in its "mv") all give the same queue back.
func TestHeldQueueRecord(t *testing.T) {
	h := newHarness(t, nil)
	ts := int64(1000)
	send := func(id, user string, typ schemas.Type, data any) {
		t.Helper()
		ts++
		if out, reason := h.apply(ev(t, id, "r", user, typ, ts, data)); out != Applied {
			t.Fatalf("%s: %v %s", id, out, reason)
		}
		h.flush()
	}
	views := func() (n int, bytes int) {
		for _, r := range h.changelog {
			if string(r.Key) == "h/r" {
				n++
				bytes = len(r.Value)
			}
		}
		return n, bytes
	}
	send("c1", "mod", schemas.RoomControls, schemas.Controls{HoldQuestions: true})
	for i := range 50 {
		send(fmt.Sprintf("q%d", i), fmt.Sprintf("u%d", i), schemas.QAAsk, schemas.QAAskData{Text: fmt.Sprintf("question %d, %s?", i, strings.Repeat("long ", 40))})
	}
	n0, size := views()
	// One per transaction that held a question, and one more where only
	// the view's snapshot seq moved (with the room's snapshot).
	if n0 < 50 || n0 > 52 || size < 50*200 {
		t.Fatalf("%d h/ records (last %d bytes) for 50 held questions; want one per transaction that held one", n0, size)
	}
	for _, r := range h.changelog {
		if string(r.Key) == "s/r" && bytes.Contains(r.Value, []byte(`"held"`)) {
			t.Fatalf("core record holds the queue: %.200s", r.Value)
		}
	}
	// Chat lines change the room, not the view: no h/ record.
	for i := range 20 {
		send(fmt.Sprintf("c%d", i+2), "ann", schemas.ChatMessage, schemas.ChatMessageData{Text: "hi"})
	}
	if n, _ := views(); n != n0 {
		t.Fatalf("%d h/ records after 20 chat lines that held nothing; want %d", n, n0)
	}
	send("m1", "mod", schemas.ModApprove, schemas.ModApproveData{ID: "q7"})
	if n, _ := views(); n != n0+1 {
		t.Fatalf("an approval wrote %d h/ records; want 1", n-n0)
	}
	held := func(p *Partition) []string {
		st, _, _, ok := p.ViewState("r")
		if !ok {
			t.Fatal("no moderator view")
		}
		return slices.Sorted(maps.Keys(st.Held))
	}
	want := held(h.p)
	if len(want) != 49 {
		t.Fatalf("%d held, want 49", len(want))
	}
	if got := held(h.restored()); !slices.Equal(got, want) {
		t.Fatalf("restored queue %v, want %v", got, want)
	}
	// Eviction writes the view into the room's group; a load reads it.
	h.now += int64(h.cfg.RoomIdle.Milliseconds()) * 2
	h.flush()
	h.now += int64(h.cfg.RoomIdle.Milliseconds()) * 2
	if h.evict() != 1 {
		t.Fatal("the room was not evicted")
	}
	send("q99", "zed", schemas.QAAsk, schemas.QAAskData{Text: "after the load?"})
	if h.loads != 1 {
		t.Fatalf("%d loads", h.loads)
	}
	if got := held(h.p); len(got) != 50 || !slices.Contains(got, "q99") {
		t.Fatalf("after eviction and load: %v", got)
	}
	h.checkFold()
	// A core record from before h/ records: the queue in its "mv".
	r := h.p.rooms["r"]
	oldCore := bytes.TrimSuffix(r.coreRecord(0), []byte("}"))
	oldCore = append(append(oldCore, `,"mv":`...), encodeJSON(r.viewRecord())...)
	oldCore = append(oldCore, '}')
	var cl []Rec
	for _, rec := range h.changelog {
		if string(rec.Key) != "h/r" && string(rec.Key) != "s/r" {
			cl = append(cl, rec)
		}
	}
	h.changelog = append(cl, Rec{Key: coreKey("r"), Value: oldCore})
	h.p = h.restored()
	if got := held(h.p); !slices.Equal(got, held(h.restored())) || len(got) != 50 {
		t.Fatalf("the old core record's queue read back as %v", got)
	}
	send("c99", "ann", schemas.ChatMessage, schemas.ChatMessageData{Text: "first line after the upgrade"})
	if n, _ := views(); n != 1 {
		t.Fatalf("%d h/ records after the first change since an old core record; want 1", n)
	}
	if got := held(h.restored()); len(got) != 50 {
		t.Fatalf("restored after the upgrade: %d held", len(got))
	}
}
