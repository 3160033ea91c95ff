package processors

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

type step struct {
	id, user string
	typ      schemas.Type
	data     any
	ts       int64 // 0: previous + 1
	want     Outcome
	reason   Reason
	flush    bool // flush after this step
}

func ok(id, user string, typ schemas.Type, data any) step {
	return step{id: id, user: user, typ: typ, data: data}
}
func ign(id, user string, typ schemas.Type, data any, r Reason) step {
	return step{id: id, user: user, typ: typ, data: data, want: Ignored, reason: r}
}
func dlq(id, user string, typ schemas.Type, data any, r Reason) step {
	return step{id: id, user: user, typ: typ, data: data, want: DeadLettered, reason: r}
}
func (s step) then() step { s.flush = true; return s }

var (
	open3 = schemas.PollOpenData{PollID: "p1", Question: "Best?", Options: []string{"a", "b", "c"}}
	vote  = func(o int) schemas.PollVoteData { return schemas.PollVoteData{PollID: "p1", Option: o} }
	quiz  = schemas.QuizAskData{QuizID: "z1", Question: "2+2?", Options: []string{"3", "4"}, Correct: 1, Points: 5}
	ans   = func(o int) schemas.QuizAnswerData { return schemas.QuizAnswerData{QuizID: "z1", Option: o} }
)

// TestApplyTable runs every event type and edge through the core and
// checks each event's outcome and the room's final public state, and that
// the state equals the fold of the frames.
func TestApplyTable(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		check func(t *testing.T, s schemas.RoomState, frames []schemas.Frame)
	}{
		{"chat passes through in order", []step{
			ok("m1", "u1", schemas.ChatMessage, schemas.ChatMessageData{Text: "hi", Name: "Ann"}),
			ok("m2", "u2", schemas.ChatMessage, schemas.ChatMessageData{Text: "yo"}),
			ok("m3", "u1", schemas.ChatMessage, schemas.ChatMessageData{Text: "ok"}),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if ids := chatIDs(s.Chat); !slices.Equal(ids, []string{"m1", "m2", "m3"}) {
				t.Fatalf("chat %v", ids)
			}
			if s.Chat[0].Name != "Ann" || s.Chat[0].User != "u1" || s.Totals.Chat != 3 {
				t.Fatalf("chat %+v totals %+v", s.Chat[0], s.Totals)
			}
		}},
		{"chat delete: known, unknown, twice", []step{
			ok("m1", "u1", schemas.ChatMessage, schemas.ChatMessageData{Text: "bad"}),
			ok("m2", "u1", schemas.ChatMessage, schemas.ChatMessageData{Text: "good"}).then(),
			ok("d1", "mod", schemas.ChatDelete, schemas.ChatDeleteData{MessageID: "m1"}),
			ign("d2", "mod", schemas.ChatDelete, schemas.ChatDeleteData{MessageID: "m1"}, ReasonUnknownChat),
			ign("d3", "mod", schemas.ChatDelete, schemas.ChatDeleteData{MessageID: "nope"}, ReasonUnknownChat),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if ids := chatIDs(s.Chat); !slices.Equal(ids, []string{"m2"}) {
				t.Fatalf("chat %v", ids)
			}
			if d := f[len(f)-1].Delta.ChatDeleted; !slices.Equal(d, []string{"m1"}) {
				t.Fatalf("last frame deletes %v", d)
			}
		}},
		{"chat delete in the same frame as the message", []step{
			ok("m1", "u1", schemas.ChatMessage, schemas.ChatMessageData{Text: "oops"}),
			ok("d1", "mod", schemas.ChatDelete, schemas.ChatDeleteData{MessageID: "m1"}),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if len(s.Chat) != 0 || s.Totals.Chat != 1 {
				t.Fatalf("chat %v totals %+v", s.Chat, s.Totals)
			}
		}},
		{"reactions count every event per emoji", []step{
			ok("r1", "u1", schemas.Reaction, schemas.ReactionData{Emoji: "👏"}),
			ok("r2", "u1", schemas.Reaction, schemas.ReactionData{Emoji: "👏"}),
			ok("r3", "u2", schemas.Reaction, schemas.ReactionData{Emoji: "🔥"}).then(),
			ok("r4", "u3", schemas.Reaction, schemas.ReactionData{Emoji: "👏"}),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if s.Reactions["👏"] != 3 || s.Reactions["🔥"] != 1 || s.Totals.Reactions != 4 {
				t.Fatalf("reactions %v totals %+v", s.Reactions, s.Totals)
			}
			if d := f[1].Delta.Reactions; len(d) != 1 || d["👏"] != 1 {
				t.Fatalf("second frame carries %v, want only 👏 +1", d)
			}
		}},
		{"vote, vote change moves it, same vote, closed poll", []step{
			ok("o1", "host", schemas.PollOpen, open3),
			ok("v1", "u1", schemas.PollVote, vote(0)),
			ok("v2", "u2", schemas.PollVote, vote(0)).then(),
			ok("v3", "u1", schemas.PollVote, vote(2)),
			ign("v4", "u2", schemas.PollVote, vote(0), ReasonSameVote).then(),
			ok("c1", "host", schemas.PollClose, schemas.PollCloseData{PollID: "p1"}),
			ign("v5", "u3", schemas.PollVote, vote(1), ReasonClosed),
			ign("v6", "u1", schemas.PollVote, vote(0), ReasonClosed),
			ign("c2", "host", schemas.PollClose, schemas.PollCloseData{PollID: "p1"}, ReasonAlreadyClosed),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			p := s.Polls["p1"]
			if !slices.Equal(p.Votes, []int64{1, 0, 1}) || !p.Closed || s.Totals.Votes != 3 {
				t.Fatalf("poll %+v totals %+v", p, s.Totals)
			}
			if d := f[1].Delta.Polls["p1"]; !slices.Equal(d.Votes, []int64{-1, 0, 1}) || d.Options != nil {
				t.Fatalf("vote-change frame carries %+v, want votes [-1 0 +1] and no options", d)
			}
		}},
		{"vote for unknown poll, out-of-range option, reopened poll id", []step{
			dlq("v0", "u1", schemas.PollVote, vote(0), ReasonUnknownPoll),
			ok("o1", "host", schemas.PollOpen, open3),
			dlq("v1", "u1", schemas.PollVote, vote(3), ReasonBadOption),
			dlq("o2", "host", schemas.PollOpen, open3, ReasonExists),
			dlq("c0", "host", schemas.PollClose, schemas.PollCloseData{PollID: "p9"}, ReasonUnknownPoll),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if p := s.Polls["p1"]; !slices.Equal(p.Votes, []int64{0, 0, 0}) || s.Totals.Votes != 0 {
				t.Fatalf("poll %+v", p)
			}
		}},
		{"Q&A: ask, upvote once per user, answered", []step{
			ok("q1", "u1", schemas.QAAsk, schemas.QAAskData{Text: "When?"}),
			ok("up1", "u2", schemas.QAUpvote, schemas.QAUpvoteData{QuestionID: "q1"}),
			ign("up2", "u2", schemas.QAUpvote, schemas.QAUpvoteData{QuestionID: "q1"}, ReasonUpvoted),
			ok("up3", "u3", schemas.QAUpvote, schemas.QAUpvoteData{QuestionID: "q1"}),
			dlq("up4", "u3", schemas.QAUpvote, schemas.QAUpvoteData{QuestionID: "q9"}, ReasonUnknownQ),
			ok("a1", "host", schemas.QAAnswered, schemas.QAAnsweredData{QuestionID: "q1"}),
			ign("a2", "host", schemas.QAAnswered, schemas.QAAnsweredData{QuestionID: "q1"}, ReasonAlreadyClosed),
			dlq("a3", "host", schemas.QAAnswered, schemas.QAAnsweredData{QuestionID: "q9"}, ReasonUnknownQ),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			q := s.Questions["q1"]
			if q.Upvotes != 2 || !q.Answered || q.User != "u1" || q.Text != "When?" || s.Totals.Questions != 1 || s.Totals.Upvotes != 2 {
				t.Fatalf("question %+v totals %+v", q, s.Totals)
			}
		}},
		{"quiz: one answer per user, after reveal, leaderboard order", []step{
			ok("z", "host", schemas.QuizAsk, quiz),
			ok("x1", "carol", schemas.QuizAnswer, ans(1)),
			ok("x2", "bob", schemas.QuizAnswer, ans(1)),
			ok("x3", "al", schemas.QuizAnswer, ans(0)),
			ign("x4", "al", schemas.QuizAnswer, ans(1), ReasonAnswered),
			dlq("x5", "dan", schemas.QuizAnswer, ans(2), ReasonBadOption),
			dlq("x6", "dan", schemas.QuizAnswer, schemas.QuizAnswerData{QuizID: "z9"}, ReasonUnknownQuiz),
			ok("rv", "host", schemas.QuizReveal, schemas.QuizRevealData{QuizID: "z1"}),
			ign("x7", "dan", schemas.QuizAnswer, ans(1), ReasonRevealed),
			ign("rv2", "host", schemas.QuizReveal, schemas.QuizRevealData{QuizID: "z1"}, ReasonAlreadyClosed),
			dlq("z2", "host", schemas.QuizAsk, quiz, ReasonExists),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			z := s.Quizzes["z1"]
			if z.Answers != 3 || !z.Revealed || z.Correct == nil || *z.Correct != 1 || s.Totals.Answers != 3 {
				t.Fatalf("quiz %+v totals %+v", z, s.Totals)
			}
			// carol answered first (ts smaller), so she leads on a tie.
			want := []schemas.LeaderEntry{{User: "carol", Score: 5, LastTS: 1002}, {User: "bob", Score: 5, LastTS: 1003}}
			if !slices.Equal(s.Leaderboard, want) {
				t.Fatalf("leaderboard %+v, want %+v", s.Leaderboard, want)
			}
		}},
		{"quiz correct option stays private until reveal", []step{
			ok("z", "host", schemas.QuizAsk, quiz).then(),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if s.Quizzes["z1"].Correct != nil || f[0].Delta.Quizzes["z1"].Correct != nil {
				t.Fatal("correct option leaked before reveal")
			}
		}},
		{"duplicate event ids change nothing", []step{
			ok("e1", "u1", schemas.Reaction, schemas.ReactionData{Emoji: "👍"}).then(),
			ign("e1", "u1", schemas.Reaction, schemas.ReactionData{Emoji: "👍"}, ReasonDuplicate),
			ign("e1", "u1", schemas.ChatMessage, schemas.ChatMessageData{Text: "x"}, ReasonDuplicate),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if s.Reactions["👍"] != 1 || len(s.Chat) != 0 || len(f) != 1 {
				t.Fatalf("reactions %v chat %v frames %d", s.Reactions, s.Chat, len(f))
			}
		}},
		{"presence sums the nodes", []step{
			ok("m1", "u1", schemas.ChatMessage, schemas.ChatMessageData{Text: "hi"}).then(),
			ok("p1", "pusher", schemas.Presence, schemas.PresenceData{Node: "n1", Viewers: 10}),
			ok("p2", "pusher", schemas.Presence, schemas.PresenceData{Node: "n2", Viewers: 5}).then(),
			ok("p3", "pusher", schemas.Presence, schemas.PresenceData{Node: "n1", Viewers: 7}),
		}, func(t *testing.T, s schemas.RoomState, f []schemas.Frame) {
			if s.Viewers != 12 || len(f) != 3 || *f[2].Delta.Viewers != 12 {
				t.Fatalf("viewers %d frames %d", s.Viewers, len(f))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.now = 1000 + 30_000 // presence reports at ts ~1000 are live
			ts := int64(1000)
			for i, s := range tc.steps {
				ts++
				if s.ts != 0 {
					ts = s.ts
				}
				o, r := h.apply(ev(t, s.id, "room1", s.user, s.typ, ts, s.data))
				if o != s.want || r != s.reason {
					t.Fatalf("step %d (%s %s): got %v %q, want %v %q", i, s.id, s.typ, o, r, s.want, s.reason)
				}
				if s.flush {
					h.flush()
				}
			}
			h.flush()
			h.checkFold()
			st, _, _, _ := h.p.RoomState("room1")
			tc.check(t, st, h.frames)
			// A partition restored from the changelog is the same state.
			rp := h.restored()
			rst, _, _, _ := rp.RoomState("room1")
			if !equalState(st, rst) {
				t.Fatalf("restored state differs\nlive     %s\nrestored %s", js(st), js(rst))
			}
		})
	}
}

func chatIDs(ls []schemas.ChatLine) []string {
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids
}

// TestLimits checks that events passing a room limit are dead-lettered.
func TestLimits(t *testing.T) {
	h := newHarness(t, nil)
	for i := range schemas.MaxEmojisPerRoom {
		// Each user may open only a few slots: many users fill the room.
		u := fmt.Sprintf("u%d", i/h.cfg.MaxEmojisPerUser)
		if o, _ := h.apply(ev(t, fmt.Sprintf("r%d", i), "r", u, schemas.Reaction, 10, schemas.ReactionData{Emoji: schemas.Emojis()[i]})); o != Applied {
			t.Fatalf("emoji %d: %v", i, o)
		}
	}
	if o, r := h.apply(ev(t, "rx", "r", "u", schemas.Reaction, 10, schemas.ReactionData{Emoji: schemas.Emojis()[schemas.MaxEmojisPerRoom]})); o != DeadLettered || r != ReasonLimit {
		t.Fatalf("emoji over the limit: %v %v", o, r)
	}
	if o, _ := h.apply(ev(t, "ry", "r", "u", schemas.Reaction, 10, schemas.ReactionData{Emoji: schemas.Emojis()[0]})); o != Applied {
		t.Fatalf("known emoji refused after the limit: %v", o)
	}
	for i := range schemas.MaxPollsPerRoom {
		d := open3
		d.PollID = fmt.Sprintf("p%d", i)
		if o, _ := h.apply(ev(t, "o"+d.PollID, "r", "h", schemas.PollOpen, 10, d)); o != Applied {
			t.Fatalf("poll %d: %v", i, o)
		}
	}
	d := open3
	d.PollID = "extra"
	if o, r := h.apply(ev(t, "ox", "r", "h", schemas.PollOpen, 10, d)); o != DeadLettered || r != ReasonLimit {
		t.Fatalf("poll over the limit: %v %v", o, r)
	}
	h.flush()
	h.checkFold()
}

// TestDedupWindow checks that an id is forgotten once the room's event
// clock passes the window, and that the count bound holds.
func TestDedupWindow(t *testing.T) {
	cfg := testConfig()
	cfg.DedupWindow = time.Minute
	h := newHarness(t, cfg)
	r := func(id string, ts int64) Outcome {
		o, _ := h.apply(ev(t, id, "r", "u", schemas.Reaction, ts, schemas.ReactionData{Emoji: "👍"}))
		h.flush()
		return o
	}
	if r("a", 1000) != Applied || r("a", 30_000) != Ignored {
		t.Fatal("duplicate inside the window accepted")
	}
	r("b", 62_000) // moves the clock past a's window
	r("c", 63_000)
	if got := r("a", 64_000); got != Applied {
		t.Fatalf("id outside the window: %v, want applied", got)
	}
	// The changelog tombstoned a's record: a restored partition forgot it
	// too and remembers b and c.
	rp := h.restored()
	if _, ok := rp.rooms["r"].dedup[idKey{"u", "b"}]; !ok {
		t.Fatal("restored dedup lost b")
	}

	cfg = testConfig()
	cfg.MaxDedupIDs = 10
	h = newHarness(t, cfg)
	for i := range 50 {
		h.apply(ev(t, fmt.Sprintf("i%d", i), "r", "u", schemas.Reaction, 1000, schemas.ReactionData{Emoji: "👍"}))
		h.flush()
	}
	if n := len(h.p.rooms["r"].dedup); n > 11 {
		t.Fatalf("dedup holds %d ids, bound 10 (+ one frame)", n)
	}
}

// TestPresenceTTL checks that a node that stops reporting stops counting.
func TestPresenceTTL(t *testing.T) {
	h := newHarness(t, nil)
	h.now = 10_000
	if o, r := h.apply(ev(t, "p0", "r", "s", schemas.Presence, 8_000, schemas.PresenceData{Node: "a", Viewers: 3})); o != Ignored || r != ReasonNoRoom {
		t.Fatalf("presence of a room no event created: %v %v, want ignored (no_room)", o, r)
	}
	h.apply(ev(t, "m0", "r", "u", schemas.ChatMessage, 8_500, schemas.ChatMessageData{Text: "hi"}))
	h.flush()
	h.apply(ev(t, "p1", "r", "s", schemas.Presence, 9_000, schemas.PresenceData{Node: "a", Viewers: 3}))
	h.apply(ev(t, "p2", "r", "s", schemas.Presence, 9_500, schemas.PresenceData{Node: "b", Viewers: 4}))
	h.flush()
	if v := h.p.rooms["r"].pub.Viewers; v != 7 {
		t.Fatalf("viewers %d", v)
	}
	h.now = 9_000 + 30_001 // a is stale, b not yet
	h.flush()
	if v := h.p.rooms["r"].pub.Viewers; v != 4 {
		t.Fatalf("viewers after a expired: %d, want 4", v)
	}
	h.now = 9_500 + 30_001
	h.flush()
	if v := h.p.rooms["r"].pub.Viewers; v != 0 {
		t.Fatalf("viewers after both expired: %d", v)
	}
	h.checkFold()
	if n := len(h.frames); n != 4 {
		t.Fatalf("%d frames, want 4 (the chat line, then 7, 4, 0 viewers)", n)
	}
}

// TestSnapshotRule checks Config.SnapshotEvery: a snapshot on the first
// frame of an epoch and then whenever seq is SnapshotEvery past the last.
func TestSnapshotRule(t *testing.T) {
	cfg := testConfig()
	cfg.SnapshotEvery = 3
	h := newHarness(t, cfg)
	var seqs []uint64
	for i := range 8 {
		h.apply(ev(t, fmt.Sprintf("e%d", i), "r", "u", schemas.Reaction, int64(1000+i), schemas.ReactionData{Emoji: "👍"}))
		h.p.Flush(h.now, &h.batch)
		for _, s := range h.batch.Snapshots {
			sn, _ := schemas.UnmarshalSnapshot(s.Value)
			seqs = append(seqs, sn.Seq)
		}
		h.collect()
	}
	if !slices.Equal(seqs, []uint64{1, 4, 7}) {
		t.Fatalf("snapshots at seqs %v, want [1 4 7]", seqs)
	}
}

// TestSnapshotInterval checks Config.SnapshotInterval: a room whose
// snapshot lags its frames gets one at its last frame once the interval
// has passed since the first frame after the snapshot, with no event to
// carry it; it is not evicted while its snapshot lags; and a room
// restored from the changelog with a lagging snapshot writes it at the
// next Flush.
func TestSnapshotInterval(t *testing.T) {
	cfg := testConfig()
	cfg.SnapshotEvery = 100
	cfg.SnapshotInterval = 3 * time.Second
	cfg.RoomIdle = time.Second
	h := newHarness(t, cfg)
	snapAt := func() []uint64 {
		var seqs []uint64
		for _, s := range h.batch.Snapshots {
			sn, _ := schemas.UnmarshalSnapshot(s.Value)
			seqs = append(seqs, sn.Seq)
		}
		return seqs
	}
	step := func(event bool, advance int64, want []uint64) {
		t.Helper()
		h.now += advance
		if event {
			h.apply(ev(t, fmt.Sprintf("e%d", h.now), "r", "u", schemas.ChatMessage, h.now, schemas.ChatMessageData{Text: "hi"}))
		}
		h.p.Flush(h.now, &h.batch)
		if got := snapAt(); !slices.Equal(got, want) {
			t.Fatalf("at +%d ms: snapshots at seqs %v, want %v", h.now-1_000_000, got, want)
		}
		h.collect()
		h.checkFold()
	}
	step(true, 0, []uint64{1})  // an epoch's first frame
	step(true, 100, nil)        // seq 2: the snapshot lags from here
	step(true, 400, nil)        // seq 3
	step(false, 2100, nil)      // +2600 ms: not yet
	if n := h.evict(); n != 0 { // idle past RoomIdle, but its snapshot lags
		t.Fatalf("%d rooms evicted while a snapshot lags", n)
	}
	step(false, 500, []uint64{3}) // 3 s after seq 2: caught up, no event
	step(false, 5000, nil)        // nothing lags any more
	if n := h.evict(); n != 1 {
		t.Fatalf("%d rooms evicted, want the idle one", n)
	}
	h.now += 1000
	step(true, 0, nil) // loaded back; seq 4 lags
	step(true, 10, nil)
	// A restore (a new owner) finds seq 5 past snap_seq 3 and writes the
	// snapshot at its first Flush.
	h.p = h.restored()
	h.p.Flush(h.now, &h.batch)
	if got := snapAt(); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("after a restore: snapshots at seqs %v, want [5]", got)
	}
	h.collect()
	h.checkFold()
}

// TestFrameSplit checks that a burst of chat larger than MaxFrameBytes is
// split into several frames of one transaction, in order.
func TestFrameSplit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFrameBytes = 4096
	h := newHarness(t, cfg)
	for i := range 300 {
		h.apply(ev(t, fmt.Sprintf("m%d", i), "r", "u", schemas.ChatMessage, int64(1000+i), schemas.ChatMessageData{Text: "hello there"}))
	}
	h.flush()
	if len(h.frames) < 5 {
		t.Fatalf("%d frames, want the burst split", len(h.frames))
	}
	var n int
	for _, f := range h.frames {
		for _, l := range f.Delta.Chat {
			if l.ID != fmt.Sprintf("m%d", n) {
				t.Fatalf("chat line %s at position %d", l.ID, n)
			}
			n++
		}
	}
	if n != 300 {
		t.Fatalf("%d chat lines in frames", n)
	}
	h.checkFold()
}

// TestRestoreContinues checks that a partition restored from the changelog
// (with checkpoints and tombstoned logs) continues exactly like the one
// that wrote it: the same frames, byte for byte.
func TestRestoreContinues(t *testing.T) {
	cfg := testConfig()
	cfg.CheckpointMinBytes = 512 // checkpoint often
	h := newHarness(t, cfg)
	gen := newGen(1, 3)
	for i := range 3000 {
		h.apply(gen.next(t, int64(1000+i)))
		if i%37 == 0 {
			h.flush()
		}
	}
	h.flush()
	h.checkFold()
	rp := h.restored()
	// Feed the same new events to both and compare their output.
	h2 := newHarness(t, cfg)
	h2.p = rp
	n := len(h.frames)
	for i := range 500 {
		e := gen.next(t, int64(5000+i))
		o1, r1 := h.apply(e)
		o2, r2 := h2.apply(e)
		if o1 != o2 || r1 != r2 {
			t.Fatalf("event %d: live %v %v, restored %v %v", i, o1, r1, o2, r2)
		}
		if i%50 == 0 {
			h.flush()
			h2.flush()
			for j, f := range h.frames[n:] {
				if js(f) != js(h2.frames[j]) {
					t.Fatalf("frame differs after restore\nlive     %s\nrestored %s", js(f), js(h2.frames[j]))
				}
			}
			if len(h.frames)-n != len(h2.frames) {
				t.Fatalf("live wrote %d frames, restored %d", len(h.frames)-n, len(h2.frames))
			}
			h2.frames = h2.frames[:0]
			n = len(h.frames)
		}
	}
	var ck, logs int
	for _, r := range h.changelog {
		switch r.Key[0] {
		case 'c':
			ck++
		case 'l':
			logs++
		}
	}
	if ck == 0 || logs == 0 {
		t.Fatalf("want checkpoints and logs written, got %d and %d", ck, logs)
	}
}

// TestRebuild checks the fold of a room's history into a new epoch: the
// epoch's first frame carries the whole state, its seq is 1, a snapshot is
// written with it, and the rebuilt state equals the old one.
func TestRebuild(t *testing.T) {
	h := newHarness(t, nil)
	gen := newGen(2, 1)
	var hist []*schemas.Event
	for i := range 2000 {
		e := gen.next(t, int64(1000+i))
		hist = append(hist, e)
		h.apply(e)
		if i%100 == 0 {
			h.flush()
		}
	}
	h.flush()
	old, oldEpoch, _, _ := h.p.RoomState("room0")
	// Duplicated history (a client retry) must not count twice.
	hist = append(hist, hist[:50]...)
	n := h.p.Rebuild("room0", "rebuilt", slices.Values(hist), &h.batch)
	h.collect()
	h.flush()
	st, epoch, seq, _ := h.p.RoomState("room0")
	if epoch != "rebuilt" || seq != 1 || oldEpoch == epoch {
		t.Fatalf("after rebuild: epoch %s seq %d", epoch, seq)
	}
	if !equalState(old, st) {
		t.Fatalf("rebuilt state differs\nold %s\nnew %s", js(old), js(st))
	}
	if n == 0 || h.snapshots["room0"].Epoch != "rebuilt" || h.snapshots["room0"].Seq != 1 {
		t.Fatalf("applied %d, snapshot %s/%d", n, h.snapshots["room0"].Epoch, h.snapshots["room0"].Seq)
	}
	h.checkFold()
	// Later events continue the new epoch, and a restore agrees.
	for i := range 300 {
		h.apply(gen.next(t, int64(9000+i)))
	}
	h.flush()
	h.checkFold()
	rp := h.restored()
	a, _, _, _ := h.p.RoomState("room0")
	b, be, bs, _ := rp.RoomState("room0")
	if _, _, as, _ := h.p.RoomState("room0"); !equalState(a, b) || be != "rebuilt" || bs != as || bs < 2 {
		t.Fatalf("restore after rebuild: %s/%d", be, bs)
	}
}

// TestApplyAllocs guards the hot path: folding an already parsed vote or
// reaction into a room allocates nothing per event once the room is warm
// (the frame's maps and the dedup window grow amortized).
func TestApplyAllocs(t *testing.T) {
	h := newHarness(t, nil)
	h.apply(ev(t, "o", "r", "host", schemas.PollOpen, 1000, open3))
	var evs []*schemas.Event
	for i := range 4000 {
		if i%2 == 0 {
			evs = append(evs, ev(t, fmt.Sprintf("a%d", i), "r", fmt.Sprintf("u%d", i%500), schemas.PollVote, int64(1000+i), vote(i%3)))
		} else {
			evs = append(evs, ev(t, fmt.Sprintf("a%d", i), "r", "u", schemas.Reaction, int64(1000+i), schemas.ReactionData{Emoji: "👏"}))
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(3000, func() {
		h.p.Apply(evs[i], &h.batch)
		i++
	})
	if allocs > 1 {
		t.Fatalf("%.2f allocations per applied event, want at most 1 (amortized)", allocs)
	}
	t.Logf("%.2f allocations per applied event", allocs)
}

// BenchmarkApply measures folding parsed events into a partition and
// flushing every 5,000 (about one 50 ms tick at 100k events/s).
func BenchmarkApply(b *testing.B) {
	g := newGen(3, 100)
	evs := make([]*schemas.Event, 200_000)
	for i := range evs {
		evs[i] = g.next(b, int64(1000+i/100))
	}
	h := newHarness(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.p.Apply(evs[i%len(evs)], &h.batch)
		if i%5000 == 4999 {
			h.p.Flush(h.now, &h.batch)
			h.batch.Reset()
		}
	}
}

// TestSnapshotEncoding checks that the snapshot written with a pre-encoded
// state is byte for byte what schemas.MarshalSnapshot writes.
func TestSnapshotEncoding(t *testing.T) {
	h := newHarness(t, nil)
	gen := newGen(8, 1)
	for i := range 500 {
		h.apply(gen.next(t, int64(1000+i)))
	}
	h.p.Flush(h.now, &h.batch)
	r := h.p.rooms["room0"]
	want, err := schemas.MarshalSnapshot(&schemas.Snapshot{Room: r.id, Epoch: r.epoch, Seq: r.seq, TS: r.ts, State: r.pub})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.batch.Snapshots[0].Value; string(got) != string(want) {
		t.Fatalf("snapshot encoding differs\ngot  %.300s\nwant %.300s", got, want)
	}
}

// TestRestoreStateRecords checks the public state's changelog records: a
// room's core record does not hold its state, which is its p/ record (the
// snapshot's bytes) with the f/ records of the frames after it folded in;
// a restore from them is the live state, with the snapshot lagging or
// not; and a core record written before p/ records existed (the state in
// it) is read back and gets a p/ record at the room's next change.
func TestRestoreStateRecords(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	line := func(i int) {
		h.apply(ev(t, fmt.Sprintf("e%d", i), "r", "u", schemas.ChatMessage, int64(1000+i), schemas.ChatMessageData{Text: fmt.Sprint("line ", i)}))
		h.flush()
	}
	live := func(p *Partition) schemas.RoomState { st, _, _, _ := p.RoomState("r"); return st }
	for i := range 10 {
		line(i)
	}
	var pRecs, fLive int
	fs := map[string]bool{}
	for _, r := range h.changelog {
		switch {
		case string(r.Key) == "s/r" && bytes.Contains(r.Value, []byte(`"state"`)):
			t.Fatalf("core record holds the state: %.200s", r.Value)
		case string(r.Key) == "p/r":
			pRecs++
		case bytes.HasPrefix(r.Key, []byte("f/r/")):
			fs[string(r.Key)] = r.Value != nil
		}
	}
	for _, ok := range fs {
		if ok {
			fLive++
		}
	}
	if pRecs != 1 || fLive != 9 {
		t.Fatalf("%d p/ records, %d live f/ records; want 1 (the epoch's first snapshot) and 9 (frames 2..10)", pRecs, fLive)
	}
	if rp := h.restored(); !equalState(live(rp), live(h.p)) {
		t.Fatalf("restored from p/ + f/ differs:\n%s", diffState(live(rp), live(h.p)))
	}
	// The core record as written before p/ records: the state in it.
	r := h.p.rooms["r"]
	c := coreRecord{Epoch: r.epoch, Seq: r.seq, TS: r.ts, MaxTS: r.maxTS, SnapSeq: r.seq, LSeq: r.lseq, DSeq: r.dseq, State: statePlaceholder}
	old := withState(encodeJSON(&c), encodeJSON(&r.pub))
	var cl []Rec
	for _, rec := range h.changelog {
		if !bytes.HasPrefix(rec.Key, []byte("p/")) && !bytes.HasPrefix(rec.Key, []byte("f/")) && !bytes.HasPrefix(rec.Key, []byte("s/")) {
			cl = append(cl, rec)
		}
	}
	h.changelog = append(cl, Rec{Key: coreKey("r"), Value: old})
	h.p = h.restored()
	if h.p.rooms["r"].pseq != 0 {
		t.Fatal("the old core record was not read back as the state")
	}
	want := live(h.p)
	if !equalState(want, r.pub) {
		t.Fatalf("old core record read back differs:\n%s", diffState(want, r.pub))
	}
	h.batch.Reset()
	line(10)
	if len(h.snapshots) == 0 || h.snapshots["r"].Seq != 11 {
		t.Fatalf("no snapshot (and p/ record) at the first change after an old core record: %+v", h.snapshots["r"].Seq)
	}
	if rp := h.restored(); !equalState(live(rp), live(h.p)) {
		t.Fatalf("restored after the old core record differs:\n%s", diffState(live(rp), live(h.p)))
	}
}
