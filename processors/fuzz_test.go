package processors

import (
	"fmt"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// checkInvariants asserts, for every room: no negative tally, every poll's
// total equals its number of distinct voters, the public state equals the
// independent model's, and the fold of the frames equals the state and
// the snapshot (checkFold).
func checkInvariants(t testing.TB, h *harness, m *model) {
	t.Helper()
	h.checkFold()
	for id, r := range h.p.rooms {
		st := r.pub
		for e, n := range st.Reactions {
			if n < 0 {
				t.Fatalf("room %s: emoji %s at %d", id, e, n)
			}
		}
		for pid, p := range st.Polls {
			var sum int64
			for i, n := range p.Votes {
				if n < 0 {
					t.Fatalf("room %s poll %s option %d at %d", id, pid, i, n)
				}
				sum += n
			}
			if voters := int64(len(r.polls[pid].votes)); p.Kind == "" && sum != voters {
				t.Fatalf("room %s poll %s: %d votes, %d distinct voters", id, pid, sum, voters)
			}
		}
		for qid, q := range st.Questions {
			if q.Upvotes < 0 || q.Upvotes != int64(len(r.questions[qid].upvoters)) {
				t.Fatalf("room %s question %s: %d upvotes, %d upvoters", id, qid, q.Upvotes, len(r.questions[qid].upvoters))
			}
		}
		mr := m.rooms[id]
		if mr == nil {
			t.Fatalf("room %s exists only in the processor", id)
		}
		want := mr.st.Clone()
		want.Viewers = st.Viewers // presence is not modelled
		if !equalState(st, want) {
			t.Fatalf("room %s differs from the model (core ≠ model):\n%s", id, diffState(st, want))
		}
		var held map[string]schemas.HeldItem
		if r.mv != nil {
			for k, h := range r.mv.pub.Held {
				if held == nil {
					held = map[string]schemas.HeldItem{}
				}
				held[k] = *h
			}
		}
		if len(held) != len(mr.held) || len(held) > 0 && js(held) != js(mr.held) {
			t.Fatalf("room %s: pending queue %s, model %s", id, js(held), js(mr.held))
		}
	}
	if len(m.rooms) != len(h.p.rooms)+len(h.p.evicted) {
		t.Fatalf("%d rooms in the model, %d in the processor (+ %d evicted)", len(m.rooms), len(h.p.rooms), len(h.p.evicted))
	}
}

// FuzzPartition drives the core with arbitrary sequences of events (every
// type, small id spaces so votes move, duplicates repeat and references
// miss), flushes, restores from the changelog and rebuilds, and checks the
// invariants after every flush.
func FuzzPartition(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 13, 5, 6, 7, 13, 255, 8, 9, 10, 11, 12, 13})
	f.Add([]byte{3, 0, 4, 1, 4, 2, 4, 1, 13, 5, 4, 3, 13, 254, 4, 13})
	f.Add([]byte("\x09\x0a\x0a\x0b\x0c\x0a\x0d\xff\x0a\x0c\x0d"))
	// Hold for review: holds on, lines and questions held, approved and
	// rejected across flushes, a crash, an eviction and a rebuild.
	f.Add([]byte{230, 0, 3, 0, 0, 1, 0, 1, 2, 6, 0, 3, 12, 231, 0, 1, 231, 1, 2, 14, 0, 0, 2, 232, 0, 2, 13, 231, 0, 0, 19, 0, 1, 15, 0, 0, 12})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 300 {
			ops = ops[:300]
		}
		cfg := testConfig()
		cfg.CheckpointMinBytes = 256
		cfg.MaxFrameBytes = 2048
		cfg.RoomIdle = time.Minute
		cfg.DedupWindow = 24 * time.Hour // the model never forgets an id
		h := newHarness(t, cfg)
		m := newModel()
		var hist []*schemas.Event
		at := func(i int) byte {
			if i < len(ops) {
				return ops[i]
			}
			return 0
		}
		for i := 0; i < len(ops); i++ {
			b := ops[i]
			p1, p2 := at(i+1), at(i+2)
			room := fmt.Sprintf("r%d", p1%2)
			user := fmt.Sprintf("u%d", p2%4)
			id := fmt.Sprintf("e%d", (int(p1)*7+int(p2)+i)%64) // collisions are duplicates
			ts := h.now + int64(i)
			var typ schemas.Type
			var data any
			target := fmt.Sprintf("u%d", p1%4)
			op := int(b % 23)
			if b >= 230 {
				op = 23 + int(b-230)%3 // hold for review
			}
			heldKey := fmt.Sprintf("e%d", p2%64)
			if p1&4 == 4 {
				heldKey = scopedID(user, heldKey)
			}
			switch op {
			case 23:
				typ, data = schemas.RoomControls, schemas.Controls{HoldChat: p2&1 == 1, HoldQuestions: p2&2 == 2, SlowMode: int(p1 % 2)}
			case 24:
				typ, data = schemas.ModApprove, schemas.ModApproveData{ID: heldKey}
			case 25:
				typ, data = schemas.ModReject, schemas.ModRejectData{ID: heldKey}
			case 0:
				typ, data = schemas.ChatMessage, schemas.ChatMessageData{Text: "t" + id}
			case 1:
				typ, data = schemas.ChatDelete, schemas.ChatDeleteData{MessageID: fmt.Sprintf("e%d", p2%64)}
			case 2:
				typ, data = schemas.Reaction, schemas.ReactionData{Emoji: []string{"👍", "👏", "🔥"}[p2%3]}
			case 3:
				typ, data = schemas.PollOpen, schemas.PollOpenData{PollID: fmt.Sprintf("p%d", p2%2), Question: "q", Options: []string{"a", "b", "c"}}
			case 4:
				typ, data = schemas.PollVote, schemas.PollVoteData{PollID: fmt.Sprintf("p%d", p2%2), Option: int(p1>>2) % 4}
			case 5:
				typ, data = schemas.PollClose, schemas.PollCloseData{PollID: fmt.Sprintf("p%d", p2%2)}
			case 6:
				typ, data = schemas.QAAsk, schemas.QAAskData{Text: "why"}
			case 7:
				typ, data = schemas.QAUpvote, schemas.QAUpvoteData{QuestionID: fmt.Sprintf("e%d", p2%64)}
			case 8:
				typ, data = schemas.QAAnswered, schemas.QAAnsweredData{QuestionID: fmt.Sprintf("e%d", p2%64)}
			case 9:
				typ, data = schemas.QuizAsk, schemas.QuizAskData{QuizID: fmt.Sprintf("z%d", p2%2), Question: "q", Options: []string{"a", "b"}, Correct: int(p1>>2) % 2, Points: int(p2 % 5)}
			case 10:
				typ, data = schemas.QuizAnswer, schemas.QuizAnswerData{QuizID: fmt.Sprintf("z%d", p2%2), Option: int(p1>>2) % 3}
			case 11:
				typ, data = schemas.QuizReveal, schemas.QuizRevealData{QuizID: fmt.Sprintf("z%d", p2%2)}
			case 16:
				typ, data = schemas.ReactionRemove, schemas.ReactionRemoveData{Emoji: []string{"👍", "👏", "🔥"}[p2%3]}
			case 17:
				typ, data = schemas.QARemove, schemas.QARemoveData{QuestionID: fmt.Sprintf("e%d", p2%64)}
			case 18:
				if p2%8 != 0 {
					continue
				}
				typ, data = schemas.RoomClose, schemas.RoomCloseData{}
			case 19:
				typ, data = schemas.ModBan, schemas.ModBanData{Target: target, Hide: p2&1 == 1}
			case 20:
				typ, data = schemas.ModTimeout, schemas.ModTimeoutData{Target: target, Seconds: 1, Hide: p2&2 == 2}
			case 21:
				typ, data = schemas.ModUnban, schemas.ModUnbanData{Target: target}
			case 22:
				typ, data = schemas.RoomControls, schemas.Controls{SlowMode: int(p2 % 3), ChatOff: p1%7 == 0, EmoteOnly: p1%11 == 0}
			case 12:
				h.flush()
				checkInvariants(t, h, m)
				continue
			case 13:
				// Time passes: idle rooms are evicted, and loaded back
				// by their next event.
				h.flush()
				h.now += cfg.RoomIdle.Milliseconds() + 1
				h.evict()
				checkInvariants(t, h, m)
				continue
			case 14:
				// Crash: continue from the changelog.
				h.flush()
				h.p = h.restored()
				checkInvariants(t, h, m)
				continue
			case 15:
				// Rebuild a room from its history into a new epoch.
				if m.rooms[room] == nil {
					continue
				}
				if _, _, ok := h.p.EvictedRange(room); ok {
					from, to, _ := h.p.EvictedRange(room)
					if err := h.p.Load(room, h.changelog[from:to]); err != nil {
						t.Fatal(err)
					}
				}
				h.p.Rebuild(room, fmt.Sprintf("rb%d", i), func(yield func(*schemas.Event) bool) {
					for _, e := range hist {
						if !yield(e) {
							return
						}
					}
				}, &h.batch)
				h.collect()
				h.flush()
				checkInvariants(t, h, m)
				continue
			}
			e := ev(t, id, room, user, typ, ts, data)
			hist = append(hist, e)
			o, _ := h.apply(e)
			if accepted := m.apply(e); accepted != (o == Applied) {
				t.Fatalf("op %d (%s %s): core %v, model accepted=%v", i, typ, id, o, accepted)
			}
			i += 2
		}
		h.flush()
		checkInvariants(t, h, m)
	})
}

// TestAgainstModel runs a long realistic stream through the core with
// restores and compares every room with the independent model.
func TestAgainstModel(t *testing.T) {
	cfg := testConfig()
	cfg.CheckpointMinBytes = 2048
	h := newHarness(t, cfg)
	m := newModel()
	gen := newGen(42, 5)
	for i := range 20_000 {
		e := gen.next(t, int64(1000+i))
		o, _ := h.apply(e)
		if acc := m.apply(e); acc != (o == Applied) {
			t.Fatalf("event %d %s %s: core %v, model accepted=%v", i, e.Type, e.ID, o, acc)
		}
		if i%97 == 0 {
			h.flush()
		}
		if i%5000 == 4999 {
			h.flush()
			h.p = h.restored()
		}
	}
	h.flush()
	checkInvariants(t, h, m)
}
