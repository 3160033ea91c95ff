package processors

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// FuzzJSONStringLen checks the escape-aware size against the encoder
// itself, for any bytes.
func FuzzJSONStringLen(f *testing.F) {
	for _, s := range []string{"", "a", "<>&", "\"\\\n\t\r\b\f", "\x00\x1f", "\u2028\u2029", "héllo👍", "\xff\xfe", strings.Repeat("<", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonStringLen(s); got != len(b) {
			t.Fatalf("jsonStringLen(%q) = %d, the encoder writes %d bytes (%s)", s, got, len(b), b)
		}
	})
}

// worstRoom fills room "w" to every limit with the longest, most escaped
// text the schema allows, through the core, and returns the harness.
func worstRoom(t *testing.T, cfg *Config) *harness {
	h := newHarness(t, cfg)
	lt := func(n int) string { return strings.Repeat("<", n) }
	id := func(p string, i int) string { return fmt.Sprintf("%s%0*d", p, schemas.MaxIDLen-len(p), i) }
	user := func(i int) string { u := fmt.Sprintf("%d", i); return u + lt(schemas.MaxUserLen-len(u)) }
	n := 0
	must := func(e *schemas.Event) {
		t.Helper()
		if o, r := h.apply(e); o != Applied {
			t.Fatalf("event %s (%s): %v %s", e.ID, e.Type, o, r)
		}
		if n++; n%500 == 0 {
			h.flush()
		}
	}
	opts := make([]string, schemas.MaxOptions)
	for i := range opts {
		opts[i] = fmt.Sprintf("%d", i) + lt(schemas.MaxOptionLen-1)
	}
	must(ev(t, id("c", 0), "w", user(0), schemas.ChatMessage, 1, schemas.ChatMessageData{Text: "first"}))
	for i := range schemas.MaxEmojisPerRoom {
		must(ev(t, id("r", i), "w", user(i/cfg.MaxEmojisPerUser), schemas.Reaction, 2, schemas.ReactionData{Emoji: string(rune(0x1F600 + i))}))
	}
	// Polls of every kind at their largest: ranking polls with a ballot
	// (the full ranks matrix), text polls with a full window of the
	// longest answers, and the rest single choice.
	order := []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
	for i := range schemas.MaxPollsPerRoom {
		o := schemas.PollOpenData{PollID: id("p", i), Question: lt(schemas.MaxQuestionLen), Options: opts}
		switch i % 3 {
		case 1:
			o.Kind = schemas.PollRanking
		case 2:
			o.Kind, o.Options = schemas.PollOpenText, nil
		}
		must(ev(t, id("po", i), "w", "host", schemas.PollOpen, 3, o))
		switch o.Kind {
		case schemas.PollRanking:
			must(ev(t, id("pr", i), "w", user(i), schemas.PollRank, 3, schemas.PollRankData{PollID: o.PollID, Order: order}))
		case schemas.PollOpenText:
			for j := range schemas.PollTextWindow {
				must(ev(t, id(fmt.Sprintf("pt%d-", j), i), "w", user(j), schemas.PollTextAnswer, 3, schemas.PollTextData{PollID: o.PollID, Answer: lt(schemas.MaxPollTextLen)}))
			}
		}
	}
	for i := range schemas.MaxQuizzesPerRoom {
		must(ev(t, id("za", i), "w", "host", schemas.QuizAsk, 4, schemas.QuizAskData{QuizID: id("z", i), Question: lt(schemas.MaxQuestionLen), Options: opts, Correct: 1, Points: schemas.MaxQuizPoints}))
	}
	for i := range schemas.LeaderboardSize {
		must(ev(t, id("zz", i), "w", user(i), schemas.QuizAnswer, 5, schemas.QuizAnswerData{QuizID: id("z", i), Option: 1}))
	}
	for i := range schemas.LeaderboardSize {
		must(ev(t, id("zr", i), "w", "host", schemas.QuizReveal, 6, schemas.QuizRevealData{QuizID: id("z", i)}))
	}
	for i := range schemas.MaxQuestionsInRoom {
		must(ev(t, id("q", i), "w", user(i/cfg.MaxOpenQuestionsPerUser), schemas.QAAsk, 7, schemas.QAAskData{Text: lt(schemas.MaxQuestionLen)}))
	}
	for i := range schemas.ChatHistory {
		must(ev(t, id("m", i), "w", user(i), schemas.ChatMessage, 8, schemas.ChatMessageData{Text: lt(schemas.MaxChatLen), Name: lt(schemas.MaxNameLen)}))
	}
	for i := range schemas.MaxSanctionsPerRoom {
		must(ev(t, id("b", i), "w", lt(schemas.MaxUserLen), schemas.ModTimeout, 9, schemas.ModTimeoutData{Target: user(1000 + i), Seconds: 3600, Reason: lt(schemas.MaxReasonLen)}))
	}
	must(ev(t, id("hc", 0), "w", "mod", schemas.RoomControls, 9, schemas.Controls{HoldChat: true, HoldQuestions: true}))
	for i := range schemas.MaxHeldPerRoom {
		if i%2 == 0 {
			must(ev(t, id("h", i), "w", user(2000+i), schemas.ChatMessage, 9, schemas.ChatMessageData{Text: lt(schemas.MaxChatLen), Name: lt(schemas.MaxNameLen)}))
		} else {
			must(ev(t, id("h", i), "w", user(2000+i), schemas.QAAsk, 9, schemas.QAAskData{Text: lt(schemas.MaxQuestionLen)}))
		}
	}
	if o, r := h.apply(ev(t, id("hx", 0), "w", user(1), schemas.ChatMessage, 9, schemas.ChatMessageData{Text: "one more"})); r != ReasonHeldFull {
		t.Fatalf("a held line past the queue's cap: %v %s, want held_full", o, r)
	}
	for i := range cfg.MaxPresenceNodes {
		must(ev(t, id("n", i), "w", "pusher", schemas.Presence, h.now, schemas.PresenceData{Node: id("node", i), Viewers: schemas.MaxPresenceCount}))
	}
	fillCustom(t, h, "w") // custom_test.go
	h.flush()
	return h
}

// TestWorstCaseState fills a room to every limit with the worst JSON
// escaping and checks that its snapshot and core record stay within
// WorstCaseStateBytes, which stays within the record limit of Ovation's
// topics: a room's snapshot fits by design.
func TestWorstCaseState(t *testing.T) {
	cfg := customConfig(t)
	cfg.MaxRecordBytes = schemas.TopicMaxMessageBytes - schemas.RecordOverheadBytes
	h := worstRoom(t, cfg)
	var core, view, snap int
	for _, r := range h.changelog {
		switch string(r.Key) {
		case "s/w":
			core = len(r.Value)
		case "h/w":
			view = len(r.Value) // the full pending queue
		}
	}
	for _, f := range h.batch.Snapshots {
		snap = max(snap, len(f.Value))
	}
	st, _, _, _ := h.p.RoomState("w")
	enc, _ := json.Marshal(&schemas.Snapshot{Room: "w", Epoch: "e1", Seq: 1 << 40, TS: 1 << 50, State: st})
	snap = len(enc)
	bound := WorstCaseStateBytes(cfg)
	t.Logf("worst-case room: snapshot %d bytes, core changelog record %d bytes, moderator view record %d bytes, bound %d, record limit %d", snap, core, view, bound, cfg.MaxRecordBytes)
	if core == 0 || view == 0 || core > bound || snap > bound || view > bound {
		t.Fatalf("core record %d / view record %d / snapshot %d bytes pass the bound %d", core, view, snap, bound)
	}
	if bound > cfg.MaxRecordBytes {
		t.Fatalf("the worst case %d does not fit the record limit %d of Ovation's topics", bound, cfg.MaxRecordBytes)
	}
	if r := h.p.rooms["w"]; stateFixedBytes+r.size < core {
		t.Fatalf("the room's size bound %d is below its core record %d", stateFixedBytes+r.size, core)
	}
	for _, f := range h.frames {
		b, _ := schemas.MarshalFrame(&f)
		if len(b) > cfg.frameBytes()+64<<10 {
			t.Fatalf("frame %d is %d bytes, cut at %d", f.Seq, len(b), cfg.frameBytes())
		}
	}
	h.checkFold()
}

// TestTooLargeDeadLetters fills a room with the worst questions under
// Kafka's default record limit: the events that would pass it are
// dead-lettered (too_large) before they change anything, and every
// record written stays within the limit.
func TestTooLargeDeadLetters(t *testing.T) {
	cfg := testConfig() // MaxRecordBytes: Kafka's default
	h := newHarness(t, cfg)
	var applied, tooLarge int
	for i := range 1000 {
		e := ev(t, fmt.Sprintf("q%d", i), "w", fmt.Sprintf("u%d<%s", i/10, strings.Repeat("<", 100)), schemas.QAAsk, int64(i+1), schemas.QAAskData{Text: strings.Repeat("<", schemas.MaxQuestionLen)})
		switch o, r := h.apply(e); {
		case o == Applied:
			applied++
		case o == DeadLettered && r == ReasonTooLarge:
			tooLarge++
		default:
			t.Fatalf("question %d: %v %s", i, o, r)
		}
		if i%20 == 0 {
			h.flush()
		}
	}
	h.flush()
	for _, r := range h.changelog {
		if len(r.Key)+len(r.Value) > cfg.MaxRecordBytes {
			t.Fatalf("changelog record %s is %d bytes, limit %d", r.Key, len(r.Value), cfg.MaxRecordBytes)
		}
	}
	st, _, _, _ := h.p.RoomState("w")
	snap, _ := json.Marshal(&schemas.Snapshot{Room: "w", State: st})
	t.Logf("%d questions applied, %d dead-lettered as too large; snapshot %d bytes, limit %d", applied, tooLarge, len(snap), cfg.MaxRecordBytes)
	if tooLarge == 0 || applied == 0 || int64(applied) != st.Totals.Questions || len(st.Questions) != applied {
		t.Fatalf("applied %d, too large %d, state has %d questions", applied, tooLarge, len(st.Questions))
	}
	if len(snap) > cfg.MaxRecordBytes {
		t.Fatalf("snapshot %d bytes passes the limit", len(snap))
	}
	h.checkFold()
}

// TestFrameCutByEncodedSize writes 400 chat lines of 500 "<" in one tick:
// 200 KB as text, 1.2 MB as JSON. Frames are cut by their encoded size,
// so each stays far below the record limit, and their fold is exact.
func TestFrameCutByEncodedSize(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 400 {
		h.apply(ev(t, fmt.Sprintf("m%d", i), "r", "u", schemas.ChatMessage, int64(i+1), schemas.ChatMessageData{Text: strings.Repeat("<", schemas.MaxChatLen)}))
	}
	h.flush()
	var largest int
	for _, f := range h.frames {
		b, _ := schemas.MarshalFrame(&f)
		largest = max(largest, len(b))
	}
	t.Logf("%d frames, largest %d bytes (cut at %d, record limit %d)", len(h.frames), largest, h.cfg.frameBytes(), h.cfg.MaxRecordBytes)
	if len(h.frames) < 4 || largest > h.cfg.frameBytes()+8<<10 {
		t.Fatalf("%d frames, largest %d bytes: not cut by encoded size", len(h.frames), largest)
	}
	h.checkFold()
}

// TestDedupByUser: an event's identity is (room, user, id).
func TestDedupByUser(t *testing.T) {
	h := newHarness(t, nil)
	react := func(user string) Outcome {
		o, _ := h.apply(ev(t, "same-id", "r", user, schemas.Reaction, 1, schemas.ReactionData{Emoji: "👍"}))
		return o
	}
	if react("alice") != Applied || react("bob") != Applied || react("alice") != Ignored {
		t.Fatal("want: alice counted, bob's same id counted, alice's retry ignored")
	}
	// Chat and questions: the second user's line gets its own id, so a
	// delete of one does not touch the other.
	for _, u := range []string{"alice", "bob", "alice"} {
		h.apply(ev(t, "msg-1", "r", u, schemas.ChatMessage, 2, schemas.ChatMessageData{Text: "hi from " + u}))
		h.apply(ev(t, "q-1", "r", u, schemas.QAAsk, 3, schemas.QAAskData{Text: "why " + u}))
	}
	h.flush()
	st, _, _, _ := h.p.RoomState("r")
	if st.Reactions["👍"] != 2 || st.Totals.Chat != 2 || len(st.Chat) != 2 || len(st.Questions) != 2 {
		t.Fatalf("reactions %d, chat %d lines %v, questions %d", st.Reactions["👍"], st.Totals.Chat, chatIDs(st.Chat), len(st.Questions))
	}
	if st.Chat[0].ID != "msg-1" || st.Chat[1].ID == "msg-1" || st.Chat[1].User != "bob" {
		t.Fatalf("chat %+v", st.Chat)
	}
	h.checkFold()
	if rst, _, _, _ := h.restored().RoomState("r"); !equalState(st, rst) {
		t.Fatal("restored state differs")
	}
}

// TestPerUserCaps: one user cannot take the room's emoji slots or Q&A.
func TestPerUserCaps(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 10 {
		o, r := h.apply(ev(t, fmt.Sprintf("r%d", i), "r", "mallory", schemas.Reaction, 1, schemas.ReactionData{Emoji: string(rune(0x1F600 + i))}))
		if want := i < h.cfg.MaxEmojisPerUser; (o == Applied) != want || !want && r != ReasonUserLimit {
			t.Fatalf("emoji %d by one user: %v %s", i, o, r)
		}
	}
	if o, _ := h.apply(ev(t, "ra", "r", "alice", schemas.Reaction, 1, schemas.ReactionData{Emoji: "👍"})); o != Applied {
		t.Fatal("another user's emoji refused")
	}
	if o, _ := h.apply(ev(t, "rb", "r", "mallory", schemas.Reaction, 1, schemas.ReactionData{Emoji: "👍"})); o != Applied {
		t.Fatal("a slot another user opened refused")
	}
	for i := range 15 {
		o, r := h.apply(ev(t, fmt.Sprintf("q%d", i), "r", "mallory", schemas.QAAsk, 2, schemas.QAAskData{Text: "spam"}))
		if want := i < h.cfg.MaxOpenQuestionsPerUser; (o == Applied) != want || !want && r != ReasonUserLimit {
			t.Fatalf("question %d by one user: %v %s", i, o, r)
		}
	}
	// Answering one frees a place.
	h.apply(ev(t, "ans", "r", "host", schemas.QAAnswered, 3, schemas.QAAnsweredData{QuestionID: "q0"}))
	if o, _ := h.apply(ev(t, "q99", "r", "mallory", schemas.QAAsk, 4, schemas.QAAskData{Text: "again"})); o != Applied {
		t.Fatal("question after an answer refused")
	}
	h.flush()
	// The caps survive a restore.
	rp := h.restored()
	e := ev(t, "q100", "r", "mallory", schemas.QAAsk, 5, schemas.QAAskData{Text: "more"})
	if o, r := rp.Apply(e, &Batch{}); o != DeadLettered || r != ReasonUserLimit {
		t.Fatalf("after restore: %v %s", o, r)
	}
	h.checkFold()
}

// TestEvictAndLoad: an idle room leaves memory, its dedup ids outside the
// window are forgotten, and its next event brings it back exactly; a
// partition restored from the changelog keeps it evicted.
func TestEvictAndLoad(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	for i := range 5 {
		h.apply(ev(t, fmt.Sprintf("v%d", i), "idle", "u", schemas.Reaction, h.now, schemas.ReactionData{Emoji: "👍"}))
		h.apply(ev(t, fmt.Sprintf("m%d", i), "idle", "u", schemas.ChatMessage, h.now, schemas.ChatMessageData{Text: "hi"}))
	}
	h.apply(ev(t, "p", "idle", "host", schemas.PollOpen, h.now, open3))
	h.apply(ev(t, "v", "idle", "u", schemas.PollVote, h.now, vote(1)))
	h.flush()
	before, epoch, seq, _ := h.p.RoomState("idle")
	if n := h.evict(); n != 0 {
		t.Fatalf("evicted %d rooms before they were idle", n)
	}
	h.now += cfg.RoomIdle.Milliseconds() + 1
	if n := h.evict(); n != 1 || h.p.Rooms() != 0 || h.p.EvictedRooms() != 1 {
		t.Fatalf("evicted %d; rooms %d, evicted %d", n, h.p.Rooms(), h.p.EvictedRooms())
	}
	// A restored partition has it evicted too, and loads it the same way.
	rp := h.restored()
	if rp.Rooms() != 0 || rp.EvictedRooms() != 1 {
		t.Fatalf("restored: %d rooms, %d evicted", rp.Rooms(), rp.EvictedRooms())
	}
	// Its dedup ids were older than the window by the clock: forgotten.
	// The same user's vote again moves nothing (one vote per user), a new
	// event continues the epoch.
	if o, _ := h.apply(ev(t, "v", "idle", "u", schemas.PollVote, h.now, vote(1))); o != Ignored || h.loads != 1 {
		t.Fatalf("vote after load: %v, loads %d", o, h.loads)
	}
	h.apply(ev(t, "after", "idle", "u", schemas.Reaction, h.now, schemas.ReactionData{Emoji: "👍"}))
	h.flush()
	after, epoch2, seq2, _ := h.p.RoomState("idle")
	if epoch2 != epoch || seq2 != seq+1 || after.Reactions["👍"] != before.Reactions["👍"]+1 || after.Polls["p1"].Votes[1] != 1 {
		t.Fatalf("after load: epoch %s→%s seq %d→%d, state %s", epoch, epoch2, seq, seq2, js(after))
	}
	h.checkFold()
	if rst, _, _, _ := h.restored().RoomState("idle"); !equalState(after, rst) {
		t.Fatal("restored state differs after a load")
	}
	// Presence alone neither creates nor loads nor keeps a room.
	if o, r := h.apply(ev(t, "pr", "nobody", "pusher", schemas.Presence, h.now, schemas.PresenceData{Node: "n1", Viewers: 3})); o != Ignored || r != ReasonNoRoom || h.p.Rooms() != 1 {
		t.Fatalf("presence of an unknown room: %v %s, rooms %d", o, r, h.p.Rooms())
	}
}

// TestModeration: a moderator removes an emoji slot and a question (the
// frames say so, so folds and merged deltas stay exact), and a host
// closes the room for good.
func TestModeration(t *testing.T) {
	h := newHarness(t, nil)
	react := func(id, user, emoji string) {
		h.apply(ev(t, id, "r", user, schemas.Reaction, 1, schemas.ReactionData{Emoji: emoji}))
	}
	for i := range 4 {
		react(fmt.Sprintf("a%d", i), "mallory", schemas.Emojis()[i])
	}
	react("x1", "alice", "👍")
	h.flush()
	// Removed in a later frame, and inside one frame around new counts.
	h.apply(ev(t, "rm1", "r", "mod", schemas.ReactionRemove, 2, schemas.ReactionRemoveData{Emoji: schemas.Emojis()[0]}))
	react("x2", "alice", "👍")
	h.apply(ev(t, "rm2", "r", "mod", schemas.ReactionRemove, 2, schemas.ReactionRemoveData{Emoji: "👍"}))
	react("x3", "bob", "👍")
	if o, r := h.apply(ev(t, "rm3", "r", "mod", schemas.ReactionRemove, 2, schemas.ReactionRemoveData{Emoji: schemas.Emojis()[0]})); o != Ignored || r != ReasonAlreadyClosed {
		t.Fatalf("second removal: %v %s", o, r)
	}
	// Mallory's slot is free again.
	react("a9", "mallory", schemas.Emojis()[9])
	h.apply(ev(t, "q1", "r", "mallory", schemas.QAAsk, 3, schemas.QAAskData{Text: "spam"}))
	h.apply(ev(t, "q2", "r", "alice", schemas.QAAsk, 3, schemas.QAAskData{Text: "real"}))
	h.flush()
	h.apply(ev(t, "up", "r", "bob", schemas.QAUpvote, 4, schemas.QAUpvoteData{QuestionID: "q1"}))
	h.apply(ev(t, "qr", "r", "mod", schemas.QARemove, 4, schemas.QARemoveData{QuestionID: "q1"}))
	h.flush()
	st, _, _, _ := h.p.RoomState("r")
	if _, ok := st.Reactions[schemas.Emojis()[0]]; ok || st.Reactions["👍"] != 1 || st.Reactions[schemas.Emojis()[9]] != 1 || st.Totals.Reactions != 8 {
		t.Fatalf("reactions %v totals %d", st.Reactions, st.Totals.Reactions)
	}
	if len(st.Questions) != 1 || st.Questions["q2"] == nil {
		t.Fatalf("questions %v", st.Questions)
	}
	h.apply(ev(t, "close", "r", "host", schemas.RoomClose, 5, schemas.RoomCloseData{}))
	h.flush()
	if o, r := h.apply(ev(t, "late", "r", "alice", schemas.ChatMessage, 6, schemas.ChatMessageData{Text: "hello?"})); o != Ignored || r != ReasonRoomClosed {
		t.Fatalf("event after close: %v %s", o, r)
	}
	h.flush()
	st, _, _, _ = h.p.RoomState("r")
	if !st.Closed || st.Totals.Chat != 0 {
		t.Fatalf("closed %v chat %d", st.Closed, st.Totals.Chat)
	}
	h.checkFold()
	rp := h.restored()
	if rst, _, _, _ := rp.RoomState("r"); !equalState(st, rst) {
		t.Fatalf("restored state differs:\n%s\n%s", js(st), js(rst))
	}
	if o, _ := rp.Apply(ev(t, "late2", "r", "alice", schemas.Reaction, 7, schemas.ReactionData{Emoji: "👍"}), &Batch{}); o != Ignored {
		t.Fatal("a restored closed room took an event")
	}
}

// TestRebuildSurvivesRestore: a rebuild under way (its read not done) and
// the events stashed meanwhile are in the changelog; a restored partition
// finishes it with the same result.
func TestRebuildSurvivesRestore(t *testing.T) {
	h := newHarness(t, nil)
	var hist []*schemas.Event
	for i := range 5 {
		e := ev(t, fmt.Sprintf("m%d", i), "r", "u", schemas.ChatMessage, int64(i+1), schemas.ChatMessageData{Text: "hi"})
		hist = append(hist, e)
		h.apply(e)
	}
	h.flush()
	h.p.StartRebuild("r", RebuildRequest{Room: "r", FromOffset: -1}, 5, "new", &h.batch)
	late := ev(t, "late", "r", "u", schemas.Reaction, 9, schemas.ReactionData{Emoji: "👍"})
	raw, _ := late.Marshal()
	h.p.Stash("r", 6, raw, &h.batch)
	h.collect()
	h.flush()
	rp := h.restored()
	if jobs := rp.RebuildJobs(); len(jobs) != 1 || rp.RebuildAt("r") != 5 {
		t.Fatalf("restored rebuilds %v", jobs)
	}
	h.p = rp
	f := newFold(h.cfg, "r", h.p.RebuildEpoch("r"))
	for _, e := range hist {
		f.add(e)
	}
	_, stash := h.p.FinishRebuild("r", f, &h.batch)
	h.collect()
	if len(stash) != 1 || stash[0].Offset != 6 {
		t.Fatalf("stash %v", stash)
	}
	e, err := schemas.ParseEvent(stash[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	h.apply(&e)
	h.flush()
	st, epoch, _, _ := h.p.RoomState("r")
	if epoch != "new" || len(st.Chat) != 5 || st.Reactions["👍"] != 1 || h.p.Rebuilding("r") {
		t.Fatalf("epoch %s chat %d reactions %v", epoch, len(st.Chat), st.Reactions)
	}
	h.checkFold()
	if len(h.restored().RebuildJobs()) != 0 {
		t.Fatal("the finished rebuild is still in the changelog")
	}
}
