package processors

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// modStep is one event of a moderation script and what the fold must do
// with it.
type modStep struct {
	user   string
	typ    schemas.Type
	ts     int64
	data   any
	out    Outcome
	reason Reason
}

// TestModerationFold runs sanctions and controls through the fold, with
// frames cut at every step, after every other step or only at the end:
// each event gets the same outcome, the fold of the frames equals the
// state and the snapshot, a restore from the changelog continues with the
// same decisions (slow mode included), and a rebuild of the history into
// a new epoch gives the same state.
func TestModerationFold(t *testing.T) {
	chat := func(text string) any { return schemas.ChatMessageData{Text: text} }
	clap := schemas.ReactionData{Emoji: "👏"}
	steps := []modStep{
		{"ann", schemas.ChatMessage, 1000, chat("hi"), Applied, ""},
		{"bob", schemas.ChatMessage, 1001, chat("spam"), Applied, ""},
		{"bob", schemas.QAAsk, 1002, schemas.QAAskData{Text: "buy now?"}, Applied, ""},
		{"bob", schemas.Reaction, 1003, clap, Applied, ""},
		{"bob", schemas.ChatMessage, 1004, chat("more spam"), Applied, ""},
		// bob is banned, and what he wrote leaves the room.
		{"mod", schemas.ModBan, 2000, schemas.ModBanData{Target: "bob", Reason: "spam", Hide: true}, Applied, ""},
		{"bob", schemas.ChatMessage, 2001, chat("let me in"), Ignored, ReasonBanned},
		{"bob", schemas.Reaction, 2002, clap, Ignored, ReasonBanned},
		{"bob", schemas.QAAsk, 2003, schemas.QAAskData{Text: "why?"}, Ignored, ReasonBanned},
		{"mod", schemas.ModUnban, 2004, schemas.ModUnbanData{Target: "cat"}, Ignored, ReasonAlreadyClosed},
		// cat is timed out for 60 s: refused until ts 63000, by the event's ts.
		{"mod", schemas.ModTimeout, 3000, schemas.ModTimeoutData{Target: "cat", Seconds: 60}, Applied, ""},
		{"cat", schemas.ChatMessage, 3500, chat("hello?"), Ignored, ReasonTimedOut},
		{"cat", schemas.ChatMessage, 62999, chat("now?"), Ignored, ReasonTimedOut},
		{"cat", schemas.ChatMessage, 63000, chat("back"), Applied, ""},
		{"mod", schemas.ModUnban, 63001, schemas.ModUnbanData{Target: "bob"}, Applied, ""},
		{"bob", schemas.ChatMessage, 63002, chat("sorry"), Applied, ""},
		// Slow mode, 10 s, by event ts.
		{"mod", schemas.RoomControls, 70000, schemas.Controls{SlowMode: 10}, Applied, ""},
		{"ann", schemas.ChatMessage, 70001, chat("one"), Applied, ""},
		{"ann", schemas.ChatMessage, 75000, chat("two"), Ignored, ReasonSlowMode},
		{"bob", schemas.ChatMessage, 75001, chat("mine"), Applied, ""},
		{"ann", schemas.Reaction, 75002, clap, Applied, ""},
		{"ann", schemas.ChatMessage, 80001, chat("three"), Applied, ""},
		{"ann", schemas.ChatMessage, 80002, chat("four"), Ignored, ReasonSlowMode},
		// Chat off, reactions off, questions off.
		{"mod", schemas.RoomControls, 90000, schemas.Controls{ChatOff: true, ReactionsOff: true, QuestionsOff: true}, Applied, ""},
		{"ann", schemas.ChatMessage, 90001, chat("x"), Ignored, ReasonChatOff},
		{"ann", schemas.Reaction, 90002, clap, Ignored, ReasonReactionsOff},
		{"ann", schemas.QAAsk, 90003, schemas.QAAskData{Text: "q?"}, Ignored, ReasonQuestionsOff},
		{"ann", schemas.PollOpen, 90004, schemas.PollOpenData{PollID: "p1", Question: "Q", Options: []string{"a", "b"}}, Applied, ""},
		{"ann", schemas.PollVote, 90005, schemas.PollVoteData{PollID: "p1", Option: 1}, Applied, ""},
		// Emote-only.
		{"mod", schemas.RoomControls, 91000, schemas.Controls{EmoteOnly: true}, Applied, ""},
		{"ann", schemas.ChatMessage, 91001, chat("words"), Ignored, ReasonEmoteOnly},
		{"ann", schemas.ChatMessage, 91002, chat("👏 🎉👍🏽"), Applied, ""},
		{"mod", schemas.RoomControls, 92000, schemas.Controls{SlowMode: 30}, Applied, ""},
		{"dan", schemas.ChatMessage, 92001, chat("first"), Applied, ""},
		// A timeout that ended leaves the state at the next sanction.
		{"mod", schemas.ModTimeout, 93000, schemas.ModTimeoutData{Target: "eve", Seconds: 1}, Applied, ""},
		{"mod", schemas.ModBan, 95000, schemas.ModBanData{Target: "cat"}, Applied, ""},
		// A sanctioned moderator is sanctioned too.
		{"cat", schemas.ModBan, 95001, schemas.ModBanData{Target: "ann"}, Ignored, ReasonBanned},
	}
	for _, every := range []int{1, 2, 1000} {
		t.Run(fmt.Sprintf("flush every %d", every), func(t *testing.T) {
			h := newHarness(t, nil)
			var hist []*schemas.Event
			for i, s := range steps {
				e := ev(t, fmt.Sprintf("e%d", i), "r", s.user, s.typ, s.ts, s.data)
				hist = append(hist, e)
				out, reason := h.apply(e)
				if out != s.out || reason != s.reason {
					t.Fatalf("step %d (%s %s at %d): %v %q, want %v %q", i, s.user, s.typ, s.ts, out, reason, s.out, s.reason)
				}
				if i%every == 0 {
					h.flush()
				}
			}
			h.flush()
			h.checkFold()
			st, _, _, _ := h.p.RoomState("r")
			// bob's lines from before the ban are gone, his line after the
			// unban is there; no refused event is counted.
			var lines []string
			for _, l := range st.Chat {
				lines = append(lines, l.User+":"+l.Text)
			}
			want := []string{"ann:hi", "cat:back", "bob:sorry", "ann:one", "bob:mine", "ann:three", "ann:👏 🎉👍🏽", "dan:first"}
			if !slices.Equal(lines, want) {
				t.Fatalf("chat %q, want %q", lines, want)
			}
			if len(st.Questions) != 0 || st.Totals.Chat != 10 || st.Totals.Reactions != 2 || st.Totals.Questions != 1 || st.Reactions["👏"] != 2 {
				t.Fatalf("questions %d, totals %+v, reactions %v", len(st.Questions), st.Totals, st.Reactions)
			}
			if st.Mod == nil || st.Mod.Controls != (schemas.Controls{SlowMode: 30}) {
				t.Fatalf("mod %+v", st.Mod)
			}
			if len(st.Mod.Sanctions) != 1 || st.Mod.Sanctions["cat"].Kind != schemas.SanctionBan || st.Mod.Sanctions["cat"].By != "mod" {
				t.Fatalf("sanctions %+v (eve's ended timeout must have left)", st.Mod.Sanctions)
			}

			// A restore decides the same: dan is still inside slow mode,
			// cat still banned.
			p := h.restored()
			for _, c := range []struct {
				user   string
				ts     int64
				reason Reason
			}{{"dan", 100000, ReasonSlowMode}, {"cat", 100001, ReasonBanned}, {"dan", 122001, ""}} {
				out, reason := p.Apply(ev(t, fmt.Sprint("after-", c.ts), "r", c.user, schemas.ChatMessage, c.ts, chat("again")), &Batch{})
				if reason != c.reason || (reason == "") != (out == Applied) {
					t.Fatalf("restored: %s at %d: %v %q, want %q", c.user, c.ts, out, reason, c.reason)
				}
			}

			// A rebuild into a new epoch gives the same moderated state.
			h.p.Rebuild("r", "rebuilt", slices.Values(hist), &h.batch)
			h.collect()
			h.flush()
			rb, epoch, _, _ := h.p.RoomState("r")
			if epoch != "rebuilt" || !equalState(rb, st) {
				t.Fatalf("rebuilt state differs:\n%s", diffState(rb, st))
			}
			h.checkFold()
		})
	}
}

// TestSanctionLimit: a room holds at most MaxSanctionsPerRoom sanctions;
// one more is dead-lettered, and ended timeouts make room.
func TestSanctionLimit(t *testing.T) {
	h := newHarness(t, nil)
	for i := range schemas.MaxSanctionsPerRoom {
		if out, r := h.apply(ev(t, fmt.Sprint("b", i), "r", "mod", schemas.ModTimeout, int64(1000+i), schemas.ModTimeoutData{Target: fmt.Sprint("u", i), Seconds: 10})); out != Applied {
			t.Fatalf("sanction %d: %v %s", i, out, r)
		}
	}
	if out, r := h.apply(ev(t, "over", "r", "mod", schemas.ModBan, 2000, schemas.ModBanData{Target: "one-more"})); out != DeadLettered || r != ReasonLimit {
		t.Fatalf("sanction over the limit: %v %s", out, r)
	}
	// Every timeout has ended by ts 20000: the ban fits, and the state
	// holds only it.
	if out, r := h.apply(ev(t, "later", "r", "mod", schemas.ModBan, 20000, schemas.ModBanData{Target: "one-more"})); out != Applied {
		t.Fatalf("sanction after the timeouts ended: %v %s", out, r)
	}
	h.flush()
	h.checkFold()
	st, _, _, _ := h.p.RoomState("r")
	if len(st.Mod.Sanctions) != 1 {
		t.Fatalf("%d sanctions in the state", len(st.Mod.Sanctions))
	}
}

// TestModerationAgainstModel folds a random stream with bans, timeouts,
// unbans and room controls (slow mode, chat off, emote-only …), cutting
// frames at random and restoring from the changelog now and then, and
// compares every room with the model's naive fold: the same state,
// moderation included, so no refused event was counted or shown.
func TestModerationAgainstModel(t *testing.T) {
	h := newHarness(t, nil)
	g := newGen(14, 3)
	g.moderation = true
	m := newModel()
	for i := range 12000 {
		e := g.next(t, int64(1_000_000+i))
		m.apply(e)
		h.apply(e)
		if i%23 == 0 {
			h.flush()
		}
		if i%3000 == 2999 {
			h.flush()
			h.p = h.restored()
		}
	}
	h.flush()
	h.checkFold()
	refused := map[string]int{}
	for id, mr := range m.rooms {
		st, _, _, _ := h.p.RoomState(id)
		want := mr.st.Clone()
		want.Viewers = st.Viewers
		if !equalState(st, want) {
			t.Fatalf("room %s differs from the model:\n%s", id, diffState(st, want))
		}
		for k, n := range mr.refused {
			refused[k] += n
		}
	}
	for _, k := range []string{"banned", "timed_out", "slow_mode", "chat_off", "emote_only"} {
		if refused[k] == 0 {
			t.Errorf("the stream never exercised %s (refusals %v)", k, refused)
		}
	}
	t.Logf("moderation refusals: %v", refused)
}

// TestPinFold: chat.pin pins a copy of a line in the history; deleting
// the line or hiding its writer takes it down; the fold of frames, a
// restore and a rebuild all agree, whatever the frame cuts.
func TestPinFold(t *testing.T) {
	chat := func(text string) any { return schemas.ChatMessageData{Text: text} }
	steps := []modStep{
		{"ann", schemas.ChatMessage, 1000, chat("welcome"), Applied, ""},
		{"bob", schemas.ChatMessage, 1001, chat("buy now"), Applied, ""},
		{"mod", schemas.ChatPin, 1002, schemas.ChatPinData{MessageID: "e0"}, Applied, ""},
		{"mod", schemas.ChatPin, 1003, schemas.ChatPinData{MessageID: "nope"}, Ignored, ReasonUnknownChat},
		{"mod", schemas.ChatDelete, 1004, schemas.ChatDeleteData{MessageID: "e0"}, Applied, ""},
		{"mod", schemas.ChatUnpin, 1005, schemas.ChatUnpinData{}, Ignored, ReasonAlreadyClosed},
		{"mod", schemas.ChatPin, 1006, schemas.ChatPinData{MessageID: "e1"}, Applied, ""},
		{"mod", schemas.ModBan, 1007, schemas.ModBanData{Target: "bob", Hide: true}, Applied, ""},
		{"cat", schemas.ChatMessage, 1008, chat("hello"), Applied, ""},
		{"mod", schemas.ChatPin, 1009, schemas.ChatPinData{MessageID: "e8"}, Applied, ""},
		{"mod", schemas.ChatUnpin, 1010, schemas.ChatUnpinData{}, Applied, ""},
		{"mod", schemas.ChatPin, 1011, schemas.ChatPinData{MessageID: "e8"}, Applied, ""},
	}
	for _, every := range []int{1, 3, 1000} {
		t.Run(fmt.Sprintf("flush every %d", every), func(t *testing.T) {
			h := newHarness(t, nil)
			var hist []*schemas.Event
			for i, s := range steps {
				e := ev(t, fmt.Sprintf("e%d", i), "r", s.user, s.typ, s.ts, s.data)
				hist = append(hist, e)
				if out, reason := h.apply(e); out != s.out || reason != s.reason {
					t.Fatalf("step %d (%s): %v %q, want %v %q", i, s.typ, out, reason, s.out, s.reason)
				}
				if i%every == 0 {
					h.flush()
				}
			}
			h.flush()
			h.checkFold()
			st, _, _, _ := h.p.RoomState("r")
			if st.Pinned == nil || st.Pinned.ID != "e8" || st.Pinned.Text != "hello" {
				t.Fatalf("pinned %+v", st.Pinned)
			}
			rp := h.restored()
			if rst, _, _, _ := rp.RoomState("r"); !equalState(rst, st) {
				t.Fatalf("restored state differs:\n%s", diffState(rst, st))
			}
			h.p.Rebuild("r", "rebuilt", slices.Values(hist), &h.batch)
			h.collect()
			h.flush()
			if rb, _, _, _ := h.p.RoomState("r"); !equalState(rb, st) {
				t.Fatalf("rebuilt state differs:\n%s", diffState(rb, st))
			}
			h.checkFold()
		})
	}
}

// TestFilterFold: a refusing word filter ignores matching lines and
// questions (normalised: width, case, look-alikes), a masking one stars
// the words out; the list never reaches a frame or snapshot; a restore
// and a rebuild go on filtering the same way.
func TestFilterFold(t *testing.T) {
	chat := func(text string) any { return schemas.ChatMessageData{Text: text} }
	steps := []modStep{
		{"ann", schemas.ChatMessage, 1000, chat("you idiot"), Applied, ""},
		{"mod", schemas.ModFilters, 1001, schemas.ModFiltersData{Words: []string{"Idiot", "spam"}, Action: schemas.FilterRefuse}, Applied, ""},
		{"ann", schemas.ChatMessage, 1002, chat("you IDIOT"), Ignored, ReasonFiltered},
		{"ann", schemas.ChatMessage, 1003, chat("ｉｄｉｏｔ"), Ignored, ReasonFiltered},
		{"ann", schemas.ChatMessage, 1004, chat("іd1ot!"), Ignored, ReasonFiltered},
		{"ann", schemas.QAAsk, 1005, schemas.QAAskData{Text: "why the spam?"}, Ignored, ReasonFiltered},
		{"ann", schemas.ChatMessage, 1006, chat("idiotic but fine"), Applied, ""},
		{"mod", schemas.ModFilters, 1007, schemas.ModFiltersData{Words: []string{"idiot", "spam"}, Action: schemas.FilterMask}, Applied, ""},
		{"bob", schemas.ChatMessage, 1008, chat("what an Idiot, spam!"), Applied, ""},
		{"bob", schemas.QAAsk, 1009, schemas.QAAskData{Text: "spam?"}, Applied, ""},
	}
	for _, every := range []int{1, 4, 1000} {
		t.Run(fmt.Sprintf("flush every %d", every), func(t *testing.T) {
			h := newHarness(t, nil)
			var hist []*schemas.Event
			for i, s := range steps {
				e := ev(t, fmt.Sprintf("e%d", i), "r", s.user, s.typ, s.ts, s.data)
				hist = append(hist, e)
				if out, reason := h.apply(e); out != s.out || reason != s.reason {
					t.Fatalf("step %d (%s): %v %q, want %v %q", i, s.typ, out, reason, s.out, s.reason)
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
				lines = append(lines, l.Text)
			}
			if want := []string{"you idiot", "idiotic but fine", "what an *****, ****!"}; !slices.Equal(lines, want) {
				t.Fatalf("chat %q, want %q", lines, want)
			}
			if q := st.Questions["e9"]; q == nil || q.Text != "****?" || len(st.Questions) != 1 {
				t.Fatalf("questions %s", js(st.Questions))
			}
			// The list is private: no frame or snapshot names it.
			for _, f := range h.frames {
				if b := js(f); strings.Contains(b, `"spam"`) || strings.Contains(b, "refuse") {
					t.Fatalf("a frame shows the filter: %s", b)
				}
			}
			if b := js(h.snapshots["r"]); strings.Contains(b, `"spam"`) {
				t.Fatalf("the snapshot shows the filter: %s", b)
			}
			// A restore keeps masking.
			p := h.restored()
			b := &Batch{}
			if out, _ := p.Apply(ev(t, "after", "r", "cat", schemas.ChatMessage, 2000, chat("spam")), b); out != Applied {
				t.Fatal("restored room refused a maskable line")
			}
			p.Flush(3000, b)
			if rst, _, _, _ := p.RoomState("r"); rst.Chat[len(rst.Chat)-1].Text != "****" {
				t.Fatalf("restored room did not mask: %q", rst.Chat[len(rst.Chat)-1].Text)
			}
			h.p.Rebuild("r", "rebuilt", slices.Values(hist), &h.batch)
			h.collect()
			h.flush()
			if rb, _, _, _ := h.p.RoomState("r"); !equalState(rb, st) {
				t.Fatalf("rebuilt state differs:\n%s", diffState(rb, st))
			}
		})
	}
}

// TestFilterPatternsFold: a filter's patterns refuse, mask or hold like
// its words; they and the words stay out of frames and snapshots; a
// restore recompiles them and decides the same; keys written before the
// confusable skeleton are re-keyed on restore.
func TestFilterPatternsFold(t *testing.T) {
	chat := func(text string) any { return schemas.ChatMessageData{Text: text} }
	h := newHarness(t, nil)
	steps := []modStep{
		{"mod", schemas.ModFilters, 1000, schemas.ModFiltersData{Words: []string{"moron"}, Patterns: []string{"f+r+e+e+", "(buy|cheap)[a-z]*"}, Action: schemas.FilterRefuse}, Applied, ""},
		{"ann", schemas.ChatMessage, 1001, chat("FREEEE followers"), Ignored, ReasonFiltered},
		{"ann", schemas.ChatMessage, 1002, chat("cheapest deal"), Ignored, ReasonFiltered},
		{"ann", schemas.ChatMessage, 1003, chat("what a rnoron"), Ignored, ReasonFiltered}, // rn reads as m
		{"ann", schemas.ChatMessage, 1004, chat("carefree talk"), Applied, ""},
		{"mod", schemas.ModFilters, 1005, schemas.ModFiltersData{Words: []string{}, Patterns: []string{"f+r+e+e+"}, Action: schemas.FilterHold}, Applied, ""},
		{"bob", schemas.ChatMessage, 1006, chat("fr33 stuff"), Applied, ""}, // held
		{"bob", schemas.ChatMessage, 1007, chat("moron"), Applied, ""},      // the words are gone
	}
	for i, s := range steps {
		if out, reason := h.apply(ev(t, fmt.Sprintf("e%d", i), "r", s.user, s.typ, s.ts, s.data)); out != s.out || reason != s.reason {
			t.Fatalf("step %d: %v %q, want %v %q", i, out, reason, s.out, s.reason)
		}
	}
	h.flush()
	h.checkFold()
	st, _, _, _ := h.p.RoomState("r")
	v, _, _, _ := h.p.ViewState("r")
	if len(st.Chat) != 2 || st.Chat[0].Text != "carefree talk" || st.Chat[1].Text != "moron" || len(v.Held) != 1 || v.Held["e6"] == nil || !v.Held["e6"].Filtered {
		t.Fatalf("chat %s, held %s", js(st.Chat), js(v.Held))
	}
	for _, f := range h.frames {
		if b := js(f); strings.Contains(b, "f+r+e+e+") || strings.Contains(b, "cheap)") {
			t.Fatalf("a frame shows the filter: %s", b)
		}
	}
	p := h.restored()
	if out, reason := p.Apply(ev(t, "after", "r", "cat", schemas.ChatMessage, 2000, chat("FREE")), &Batch{}); out != Applied || p.rooms["r"].mv.n != 2 {
		t.Fatalf("restored: %v %s, %d held", out, reason, p.rooms["r"].mv.n)
	}
	if got := rekeyFilter([]string{"spam", "idiot", "m"}); !slices.Equal(got, []string{"idiot", "rn", "sparn"}) {
		t.Fatalf("re-keyed %q", got)
	}
}
