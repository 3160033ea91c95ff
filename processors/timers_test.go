package processors

import (
	"fmt"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// TestTimedPoll: votes count until the deadline in event time and are
// ignored after it (time_up) before the close is even written; the
// processor writes one poll.close by the timer when its clock passes the
// deadline, which closes the poll when it is read back; a restore before
// the close is read writes it again, and the second is a duplicate.
func TestTimedPoll(t *testing.T) {
	h := newHarness(t, nil)
	t0 := h.now
	open := schemas.PollOpenData{PollID: "p", Question: "q", Options: []string{"a", "b"}, Seconds: 10}
	if o, why := h.apply(ev(t, "open", "r", "host", schemas.PollOpen, t0, open)); o != Applied {
		t.Fatalf("open: %v %s", o, why)
	}
	vote := func(id, user string, ts int64) (Outcome, Reason) {
		return h.apply(ev(t, id, "r", user, schemas.PollVote, ts, schemas.PollVoteData{PollID: "p", Option: 1}))
	}
	if o, _ := vote("v1", "u1", t0+10_000); o != Applied {
		t.Fatalf("a vote at the deadline: %v", o)
	}
	if o, why := vote("v2", "u2", t0+10_001); o != Ignored || why != ReasonTimeUp {
		t.Fatalf("a vote after the deadline: %v %s", o, why)
	}
	h.now = t0 + 9_999
	h.flush()
	if len(h.events) != 0 {
		t.Fatalf("%d events before the deadline", len(h.events))
	}
	if got := h.p.rooms["r"].pub.Polls["p"].ClosesAt; got != t0+10_000 {
		t.Fatalf("closes_at %d, want %d", got, t0+10_000)
	}
	h.now = t0 + 10_050
	h.flush()
	if len(h.events) != 1 {
		t.Fatalf("%d events at the deadline, want 1", len(h.events))
	}
	cl := h.events[0]
	if cl.Type != schemas.PollClose || cl.User != schemas.TimerUser || cl.ID != schemas.TimerID("p") || cl.TS != t0+10_000 {
		t.Fatalf("timer event %+v", cl)
	}
	h.flush()
	if len(h.events) != 1 {
		t.Fatal("the timer fired twice")
	}
	// Crash before the close is read back: the restored partition writes
	// it again; reading both closes the poll once.
	h.p = h.restored()
	h.now += 100
	h.flush()
	if len(h.events) != 2 || h.events[1].ID != cl.ID {
		t.Fatalf("after a restore: %d events", len(h.events))
	}
	if o, why := h.apply(h.events[0]); o != Applied {
		t.Fatalf("timer close: %v %s", o, why)
	}
	if o, why := h.apply(h.events[1]); o != Ignored || why != ReasonDuplicate {
		t.Fatalf("second timer close: %v %s", o, why)
	}
	h.flush()
	p := h.p.rooms["r"].pub.Polls["p"]
	if !p.Closed || p.Votes[1] != 1 {
		t.Fatalf("poll %+v", *p)
	}
	h.checkFold()
}

// TestTimedQuizSpeed: a timed question scores correct answers by speed
// (full points at the ask, half at the deadline), the timer reveals it,
// answers after the deadline score nothing, and every player's standing
// matches the leaderboard order over several questions.
func TestTimedQuizSpeed(t *testing.T) {
	h := newHarness(t, nil)
	t0 := h.now
	ask := func(id string, at int64) {
		e := ev(t, "ask-"+id, "r", "host", schemas.QuizAsk, at, schemas.QuizAskData{QuizID: id, Question: "q", Options: []string{"a", "b"}, Correct: 1, Points: 1000, Seconds: 20})
		if o, why := h.apply(e); o != Applied {
			t.Fatalf("ask: %v %s", o, why)
		}
	}
	answer := func(quiz, user string, opt int, at int64) (Outcome, Reason) {
		return h.apply(ev(t, quiz+"-"+user, "r", user, schemas.QuizAnswer, at, schemas.QuizAnswerData{QuizID: quiz, Option: opt}))
	}
	ask("z1", t0)
	for _, a := range []struct {
		user string
		opt  int
		dt   int64
	}{{"fast", 1, 0}, {"mid", 1, 10_000}, {"slow", 1, 20_000}, {"wrong", 0, 1_000}, {"late", 1, 20_001}} {
		o, why := answer("z1", a.user, a.opt, t0+a.dt)
		if want := Applied; a.user == "late" {
			if o != Ignored || why != ReasonTimeUp {
				t.Fatalf("late answer: %v %s", o, why)
			}
		} else if o != want {
			t.Fatalf("%s: %v %s", a.user, o, why)
		}
	}
	h.now = t0 + 20_001
	h.flush()
	if len(h.events) != 1 || h.events[0].Type != schemas.QuizReveal {
		t.Fatalf("timer events %v", h.events)
	}
	h.apply(h.events[0])
	h.flush()
	want := map[string]int64{"fast": 1000, "mid": 750, "slow": 500}
	for u, score := range want {
		s, ok := h.p.Standing("r", u)
		if !ok || s.Score != score || s.Players != 3 {
			t.Fatalf("%s: %+v %v, want score %d of 3 players", u, s, ok, score)
		}
	}
	if _, ok := h.p.Standing("r", "wrong"); ok {
		t.Fatal("a wrong answer has a standing")
	}
	// A second question: slow answers at once and overtakes mid.
	ask("z2", t0+30_000)
	answer("z2", "slow", 1, t0+30_000)
	answer("z2", "mid", 1, t0+50_000)
	h.now = t0 + 60_000
	h.flush()
	h.apply(h.events[1])
	h.flush()
	for u, rank := range map[string]int{"slow": 1, "mid": 2, "fast": 3} {
		if s, _ := h.p.Standing("r", u); s.Rank != rank {
			t.Fatalf("%s rank %d, want %d (%+v)", u, s.Rank, rank, s)
		}
	}
	lb := h.p.rooms["r"].pub.Leaderboard
	if fmt.Sprintf("%s %d %s %d", lb[0].User, lb[0].Score, lb[1].User, lb[1].Score) != "slow 1500 mid 1250" {
		t.Fatalf("leaderboard %+v", lb)
	}
	// Standings survive a restore (rebuilt from the changelog's answers).
	h.p = h.restored()
	if s, _ := h.p.Standing("r", "fast"); s.Rank != 3 || s.Score != 1000 {
		t.Fatalf("after restore: %+v", s)
	}
	h.checkFold()
}
