package ingest

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

func pollFrameBytes(t testing.TB, room, epoch string, seq uint64, d schemas.Delta) []byte {
	t.Helper()
	b, err := schemas.MarshalFrame(&schemas.Frame{Room: room, Epoch: epoch, Seq: seq, TS: 1, Delta: d})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPollRefusals: from the frames and snapshots the processors write,
// ingest refuses votes on closed polls (closed), after a timed poll's or
// question's deadline (time_up), of another kind than the poll's
// (wrong_kind) and answers after a reveal (revealed), all 409, and takes
// what it knows nothing against.
func TestPollRefusals(t *testing.T) {
	topic := "ovation.events"
	fake := newFake(t, 1, topic)
	r := newRig(t, fake.ListenAddrs(), topic, Config{})
	view := NewModView()
	r.svc.SetModeration(view)
	feed := func(b []byte) { view.ApplyFrame(b); view.polls.applyFrame(b) }
	now := time.Now().UnixMilli()
	// A snapshot at seq 3 of epoch e1 (what a restarted ingest reads first).
	snap, err := schemas.MarshalSnapshot(&schemas.Snapshot{Room: "show", Epoch: "e1", Seq: 3, TS: 1, State: schemas.RoomState{
		Polls: map[string]*schemas.Poll{
			"single": {Question: "Best?", Options: []string{"a", "b"}, Votes: []int64{0, 0}},
			"shut":   {Question: "Old?", Options: []string{"a", "b"}, Votes: []int64{1, 0}, Closed: true},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	view.ApplySnapshot(snap)
	view.polls.applySnapshot(snap)
	feed(pollFrameBytes(t, "show", "e1", 4, schemas.Delta{Polls: map[string]*schemas.PollDelta{
		"multi": {Question: "Which?", Options: []string{"a", "b", "c"}, Votes: []int64{0, 0, 0}, PollKindState: schemas.PollKindState{Kind: schemas.PollMulti, MaxPicks: 2}},
		"timed": {Question: "Quick?", Options: []string{"a", "b"}, Votes: []int64{0, 0}, PollKindState: schemas.PollKindState{ClosesAt: now - 1000}},
		"cloud": {Question: "Words?", PollKindState: schemas.PollKindState{Kind: schemas.PollCloud}},
	}, Quizzes: map[string]*schemas.QuizDelta{
		"z1": {Question: "2+2?", Options: []string{"3", "4"}, Points: 1},
		"z2": {Question: "Fast?", Options: []string{"3", "4"}, Points: 1, AskTS: now - 5000, ClosesAt: now - 2000},
	}}))
	// A frame with only votes is not even decoded; a reveal and a close are.
	feed(pollFrameBytes(t, "show", "e1", 5, schemas.Delta{Polls: map[string]*schemas.PollDelta{"single": {Votes: []int64{1, 0}}}}))
	feed(pollFrameBytes(t, "show", "e1", 6, schemas.Delta{Quizzes: map[string]*schemas.QuizDelta{"z1": {Revealed: true, Correct: new(int)}}}))
	// An old frame again (a re-read) changes nothing.
	feed(pollFrameBytes(t, "show", "e1", 2, schemas.Delta{Polls: map[string]*schemas.PollDelta{"single": {Closed: true}}}))

	hc := r.srv.Client()
	tok := pubToken(t, "ann", "show")
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"a vote on an open single poll", evt("poll.vote", `{"poll_id":"single","option":1}`), 200, ""},
		{"a vote on a closed poll", evt("poll.vote", `{"poll_id":"shut","option":1}`), 409, CodePollShut},
		{"poll.vote on a multi poll", evt("poll.vote", `{"poll_id":"multi","option":1}`), 409, CodeWrongKind},
		{"poll.pick on a single poll", evt("poll.pick", `{"poll_id":"single","options":[1]}`), 409, CodeWrongKind},
		{"poll.pick on the multi poll", evt("poll.pick", `{"poll_id":"multi","options":[0,2]}`), 200, ""},
		{"poll.text on a cloud poll", evt("poll.text", `{"poll_id":"cloud","answer":"great talk"}`), 200, ""},
		{"poll.rate on a cloud poll", evt("poll.rate", `{"poll_id":"cloud","rating":3}`), 409, CodeWrongKind},
		{"a vote after the timer", evt("poll.vote", `{"poll_id":"timed","option":0}`), 409, CodeTimeUp},
		{"an answer after the reveal", evt("quiz.answer", `{"quiz_id":"z1","option":1}`), 409, CodeRevealed},
		{"an answer after the question's timer", evt("quiz.answer", `{"quiz_id":"z2","option":1}`), 409, CodeTimeUp},
		{"a poll ingest never saw", evt("poll.vote", `{"poll_id":"other","option":0}`), 200, ""},
	}
	for _, c := range cases {
		rep := post(t, hc, r.url("show"), tok, []byte(c.body))
		if rep.status != c.status || rep.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s (%s)", c.name, rep.status, rep.code(), c.status, c.code, rep.raw)
		}
	}
	// A new epoch's first frame replaces what the view knew of the room.
	feed(pollFrameBytes(t, "show", "e2", 1, schemas.Delta{Polls: map[string]*schemas.PollDelta{
		"single": {Question: "Best?", Options: []string{"a", "b"}, Votes: []int64{0, 0}, Closed: true},
	}}))
	if rep := post(t, hc, r.url("show"), tok, []byte(evt("poll.vote", `{"poll_id":"single","option":0}`))); rep.status != http.StatusConflict || rep.code() != CodePollShut {
		t.Errorf("after the new epoch: %d %s", rep.status, rep.raw)
	}
	if rep := post(t, hc, r.url("show"), tok, []byte(evt("poll.vote", `{"poll_id":"shut","option":0}`))); rep.status != 200 {
		t.Errorf("a poll the new epoch does not have: %d %s", rep.status, rep.raw)
	}
}

// TestPollViewBounded: past its room bound the view sheds rooms with
// nothing open first.
func TestPollViewBounded(t *testing.T) {
	var v pollView
	v.max = 100
	for i := range 1000 {
		room := "r" + string(rune('a'+i%26)) + time.Duration(i).String()
		v.applyFrame(pollFrameBytes(t, room, "e", 1, schemas.Delta{Polls: map[string]*schemas.PollDelta{
			"p": {Question: "q", Options: []string{"a", "b"}, Votes: []int64{0, 0}, Closed: i%2 == 0},
		}}))
		if len(v.rooms) > v.max {
			t.Fatalf("%d rooms, bound %d", len(v.rooms), v.max)
		}
	}
}

// BenchmarkPollPreCheck measures what the poll refusals add to the
// publish path per event, side by side in one run: the same batch of 100
// events (a quarter of them votes on an open poll, accepted) prepared by
// a Service whose ModView has the room's moderation state but no polls,
// and by one whose view also holds 1,000 rooms of 100 polls and 100 quiz
// questions each, the published room among them. It reports ns/event of
// each (the fastest batch of each) and the overhead in percent.
func BenchmarkPollPreCheck(b *testing.B) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	mk := func(withPolls bool) *Service {
		s, err := New(Config{UserRate: -1, ClientRate: -1}, cl, v, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		view := NewModView()
		view.ApplySnapshot(modSnapshot(b, "bench", "e", 1, &schemas.Moderation{Controls: schemas.Controls{QuestionsOff: true}, Sanctions: map[string]schemas.Sanction{"troll": {Kind: "ban", By: "m", TS: 1}}}))
		if withPolls {
			for i := range 1000 {
				room := fmt.Sprint("room-", i)
				if i == 0 {
					room = "bench"
				}
				d := schemas.Delta{Polls: map[string]*schemas.PollDelta{}, Quizzes: map[string]*schemas.QuizDelta{}}
				for j := range 100 {
					d.Polls[fmt.Sprint("poll-", j)] = &schemas.PollDelta{Question: "q", Options: []string{"a", "b", "c"}, Votes: []int64{0, 0, 0}}
					d.Quizzes[fmt.Sprint("quiz-", j)] = &schemas.QuizDelta{Question: "q", Options: []string{"a", "b"}, Points: 1}
				}
				view.polls.applyFrame(pollFrameBytes(b, room, "e", 2, d))
			}
		}
		s.SetModeration(view)
		return s
	}
	off, on := mk(false), mk(true)
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bench-user"}, Rooms: map[string][]schemas.Capability{"bench": {schemas.CapHost}}}
	kinds := []string{
		evt("chat.message", `{"text":"hello there, this is a chat line of typical length","name":"Zoë"}`),
		evt("reaction", `{"emoji":"🔥"}`),
		evt("poll.vote", `{"poll_id":"poll-1","option":2}`),
		evt("qa.upvote", `{"question_id":"q-123"}`),
	}
	var raws []json.RawMessage
	for i := range 100 {
		raws = append(raws, json.RawMessage(kinds[i%len(kinds)]))
	}
	run := func(s *Service) time.Duration {
		start := time.Now()
		req := s.newRequest(claims, "bench")
		store := make([]item, len(raws))
		for i, raw := range raws {
			s.prepare(req, &store[i], raw)
			if store[i].err != nil {
				b.Fatal(store[i].err)
			}
		}
		return time.Since(start)
	}
	minOff, minOn := time.Duration(1<<62), time.Duration(1<<62)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var a, c time.Duration
		if i%2 == 0 {
			a, c = run(off), run(on)
		} else {
			c, a = run(on), run(off)
		}
		minOff, minOn = min(minOff, a), min(minOn, c)
	}
	n := float64(len(raws))
	b.ReportMetric(float64(minOff.Nanoseconds())/n, "ns/event-off")
	b.ReportMetric(float64(minOn.Nanoseconds())/n, "ns/event-on")
	b.ReportMetric(100*(float64(minOn)-float64(minOff))/float64(minOff), "overhead-%")
}
