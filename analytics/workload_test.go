package analytics

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/schemas"
)

// workload is a deterministic show: events for several rooms with client
// retries (the same id published again), semantically refused events
// (double upvotes, votes for unknown polls) and a few invalid records, plus
// the frames a processor would write for them. It keeps its own fold so
// tests can compare ClickHouse with an independent count.
type workload struct {
	rooms  []string
	events []*kgo.Record // in produce order, retries included
	frames []*kgo.Record
	// expected, per room
	totals    map[string]*schemas.Totals
	reactions map[string]map[string]int64
	votes     map[string]map[string][]int64 // room → poll → option counts
	upvotes   map[string]map[string]int64   // room → question → upvotes
	answeredQ map[string]map[string]bool    // room → questions marked answered
	distinct  map[string]map[string]map[string]bool
	users     map[string]map[string]bool
	chat      map[string][]schemas.ChatLine // accepted chat, in order, deletions applied
	viewers   map[string]int64              // peak
	invalid   int
}

var testEmoji = []string{"👏", "🔥", "❤️", "😂", "🎉"}

// roomState is the test's fold of one room with the processors' semantics
// for the event types it generates.
type roomState struct {
	seen     map[string]bool
	polls    map[string]int // poll → options
	closed   map[string]bool
	vote     map[string]map[string]int // poll → user → option
	asked    map[string]bool
	askedIDs []string
	answered map[string]bool // questions marked answered
	upvoted  map[string]bool // question|user
	quizzes  map[string]int  // quiz → options
	revealed map[string]bool
	quizAns  map[string]bool // quiz|user
	seq      uint64
	pending  schemas.Delta
	nPending int
	ts       int64
}

func newWorkload(seed uint64, rooms, n int, t0 time.Time) *workload {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &workload{
		totals: map[string]*schemas.Totals{}, reactions: map[string]map[string]int64{},
		votes: map[string]map[string][]int64{}, upvotes: map[string]map[string]int64{}, answeredQ: map[string]map[string]bool{},
		distinct: map[string]map[string]map[string]bool{}, users: map[string]map[string]bool{},
		chat: map[string][]schemas.ChatLine{}, viewers: map[string]int64{},
	}
	states := map[string]*roomState{}
	for i := range rooms {
		room := fmt.Sprintf("room-%d", i)
		w.rooms = append(w.rooms, room)
		w.totals[room] = &schemas.Totals{}
		w.reactions[room] = map[string]int64{}
		w.votes[room] = map[string][]int64{}
		w.upvotes[room] = map[string]int64{}
		w.answeredQ[room] = map[string]bool{}
		w.distinct[room] = map[string]map[string]bool{}
		w.users[room] = map[string]bool{}
		states[room] = &roomState{seen: map[string]bool{}, polls: map[string]int{}, closed: map[string]bool{},
			vote: map[string]map[string]int{}, asked: map[string]bool{}, upvoted: map[string]bool{},
			answered: map[string]bool{}, quizzes: map[string]int{}, revealed: map[string]bool{}, quizAns: map[string]bool{}}
	}
	var recent []*schemas.Event // candidates for client retries
	ts := t0.UnixMilli()
	next := 0
	emit := func(ev *schemas.Event) {
		b, err := ev.Marshal()
		if err != nil {
			panic(err)
		}
		w.events = append(w.events, &kgo.Record{Key: []byte(ev.Room), Value: b, Timestamp: time.UnixMilli(ev.TS)})
		w.apply(states[ev.Room], ev)
	}
	for len(w.events) < n {
		ts += int64(rng.IntN(3))
		room := w.rooms[rng.IntN(len(w.rooms))]
		st := states[room]
		user := "u" + strconv.Itoa(rng.IntN(200))
		next++
		ev := &schemas.Event{V: 1, ID: fmt.Sprintf("e%d", next), Room: room, User: user, TS: ts}
		switch k := rng.IntN(100); {
		case len(st.polls) == 0 || k < 1 && len(st.polls) < 40:
			pid := "p" + strconv.Itoa(len(st.polls)+1)
			ev.User, ev.Type = "host", schemas.PollOpen
			ev.Data = mustJSON(schemas.PollOpenData{PollID: pid, Question: "Q " + pid + "?", Options: []string{"a", "b", "c"}})
		case k < 30:
			ev.Type = schemas.Reaction
			ev.Data = mustJSON(schemas.ReactionData{Emoji: testEmoji[rng.IntN(len(testEmoji))]})
		case k < 50:
			ev.Type = schemas.ChatMessage
			ev.Data = mustJSON(schemas.ChatMessageData{Text: "hello from " + user, Name: "N" + user})
		case k < 51 && len(w.chat[room]) > 0:
			ev.User, ev.Type = "mod", schemas.ChatDelete
			ev.Data = mustJSON(schemas.ChatDeleteData{MessageID: w.chat[room][rng.IntN(len(w.chat[room]))].ID})
		case k < 68:
			// Mostly open polls; sometimes an unknown one (refused).
			pid := "p" + strconv.Itoa(1+rng.IntN(len(st.polls)+1))
			opt := rng.IntN(3)
			if prev, ok := st.vote[pid][user]; ok && prev == opt {
				opt = (opt + 1) % 3 // a re-vote always moves, see apply
			}
			ev.Type = schemas.PollVote
			ev.Data = mustJSON(schemas.PollVoteData{PollID: pid, Option: opt})
		case k < 69 && len(st.polls) > 1:
			ev.User, ev.Type = "host", schemas.PollClose
			ev.Data = mustJSON(schemas.PollCloseData{PollID: "p" + strconv.Itoa(1+rng.IntN(len(st.polls)-1))})
		case k < 75:
			ev.Type = schemas.QAAsk
			ev.Data = mustJSON(schemas.QAAskData{Text: "why " + strconv.Itoa(next) + "?"})
		case k < 90 && len(st.asked) > 0:
			// Upvote one of the last 30 questions (repeats by the same user
			// are refused), sometimes an id that is no question.
			qid := "e" + strconv.Itoa(max(1, next-rng.IntN(400)))
			if rng.IntN(10) > 0 {
				qid = st.askedIDs[len(st.askedIDs)-1-rng.IntN(min(30, len(st.askedIDs)))]
			}
			ev.Type = schemas.QAUpvote
			ev.Data = mustJSON(schemas.QAUpvoteData{QuestionID: qid})
		case k < 92:
			ev.User, ev.Type = "pusher", schemas.Presence
			ev.Data = mustJSON(schemas.PresenceData{Node: "n1", Viewers: int64(100 + rng.IntN(900))})
		case k < 93 && len(st.quizzes) < 30 && rng.IntN(3) == 0:
			ev.User, ev.Type = "host", schemas.QuizAsk
			zid := "z" + strconv.Itoa(len(st.quizzes)+1)
			ev.Data = mustJSON(schemas.QuizAskData{QuizID: zid, Question: "quiz " + zid, Options: []string{"a", "b", "c", "d"}, Correct: rng.IntN(4), Points: 1 + rng.IntN(10)})
		case k < 96 && len(st.quizzes) > 0:
			ev.Type = schemas.QuizAnswer
			ev.Data = mustJSON(schemas.QuizAnswerData{QuizID: "z" + strconv.Itoa(1+rng.IntN(len(st.quizzes)+1)), Option: rng.IntN(4)})
		case k < 97 && len(st.quizzes) > 0 && rng.IntN(4) == 0:
			ev.User, ev.Type = "host", schemas.QuizReveal
			ev.Data = mustJSON(schemas.QuizRevealData{QuizID: "z" + strconv.Itoa(1+rng.IntN(len(st.quizzes)))})
		case k < 98 && len(st.askedIDs) > 0:
			ev.User, ev.Type = "host", schemas.QAAnswered
			ev.Data = mustJSON(schemas.QAAnsweredData{QuestionID: st.askedIDs[rng.IntN(len(st.askedIDs))]})
		default:
			ev.Type = schemas.Reaction
			ev.Data = mustJSON(schemas.ReactionData{Emoji: "👏"})
		}
		emit(ev)
		recent = append(recent, ev)
		if len(recent) > 500 {
			recent = recent[1:]
		}
		// ~8% client retries of a recent event: same id, later offset.
		if rng.IntN(100) < 8 {
			dup := *recent[rng.IntN(len(recent))]
			dup.TS = ts
			emit(&dup)
		}
		// A few records no schema accepts.
		if rng.IntN(1000) == 0 {
			w.events = append(w.events, &kgo.Record{Key: []byte(room), Value: []byte(`{"v":1,"id":"bad id!","room":"` + room + `"}`), Timestamp: time.UnixMilli(ts)})
			w.invalid++
		}
	}
	for _, room := range w.rooms {
		w.flushFrame(room, states[room])
	}
	return w
}

// apply folds one event with the processors' semantics: duplicates of an
// accepted id change nothing; a vote needs an open poll and moves a previous vote; one
// upvote per user per question, on a question that exists.
func (w *workload) apply(st *roomState, ev *schemas.Event) {
	if err := ev.Validate(); err != nil {
		panic(err)
	}
	room := ev.Room
	if w.distinct[room][string(ev.Type)] == nil {
		w.distinct[room][string(ev.Type)] = map[string]bool{}
	}
	// Identity is (room, user, id): another user's event with the same id
	// is another event.
	key := ev.User + "\x00" + ev.ID
	w.distinct[room][string(ev.Type)][key] = true
	if ev.Type != schemas.Presence {
		w.users[room][ev.User] = true
	}
	// Like the processors, remember only accepted ids: a retry of a
	// refused vote may be accepted once its poll is open.
	if st.seen[key] {
		return
	}
	d := &st.pending
	if d.Totals == nil {
		d.Totals = &schemas.Totals{}
	}
	tot := w.totals[room]
	changed := true
	switch b := ev.Body.(type) {
	case *schemas.ChatMessageData:
		tot.Chat++
		d.Totals.Chat++
		line := schemas.ChatLine{ID: ev.ID, User: ev.User, Name: b.Name, Text: b.Text, TS: ev.TS}
		d.Chat = append(d.Chat, line)
		w.chat[room] = append(w.chat[room], line)
	case *schemas.ChatDeleteData:
		d.ChatDeleted = append(d.ChatDeleted, b.MessageID)
		w.chat[room] = slices.DeleteFunc(w.chat[room], func(l schemas.ChatLine) bool { return l.ID == b.MessageID })
	case *schemas.ReactionData:
		tot.Reactions++
		d.Totals.Reactions++
		w.reactions[room][b.Emoji]++
		if d.Reactions == nil {
			d.Reactions = map[string]int64{}
		}
		d.Reactions[b.Emoji]++
	case *schemas.PollOpenData:
		if _, ok := st.polls[b.PollID]; ok || len(st.polls) >= schemas.MaxPollsPerRoom {
			changed = false
			break
		}
		st.polls[b.PollID] = len(b.Options)
		st.vote[b.PollID] = map[string]int{}
		w.votes[room][b.PollID] = make([]int64, len(b.Options))
		pd := w.pollDelta(d, b.PollID)
		pd.Question, pd.Options = b.Question, b.Options
	case *schemas.PollCloseData:
		if _, ok := st.polls[b.PollID]; !ok || st.closed[b.PollID] {
			changed = false
			break
		}
		st.closed[b.PollID] = true
		w.pollDelta(d, b.PollID).Closed = true
	case *schemas.PollVoteData:
		n, ok := st.polls[b.PollID]
		if !ok || st.closed[b.PollID] || b.Option >= n {
			changed = false
			break
		}
		prev, had := st.vote[b.PollID][ev.User]
		if had && prev == b.Option {
			changed = false
			break
		}
		pd := w.pollDelta(d, b.PollID)
		for len(pd.Votes) < n {
			pd.Votes = append(pd.Votes, 0)
		}
		if had {
			pd.Votes[prev]--
			w.votes[room][b.PollID][prev]--
		}
		pd.Votes[b.Option]++
		w.votes[room][b.PollID][b.Option]++
		st.vote[b.PollID][ev.User] = b.Option
		tot.Votes++
		d.Totals.Votes++
	case *schemas.QAAskData:
		if len(st.asked) >= schemas.MaxQuestionsInRoom {
			changed = false
			break
		}
		st.asked[ev.ID] = true
		st.askedIDs = append(st.askedIDs, ev.ID)
		tot.Questions++
		d.Totals.Questions++
		w.upvotes[room][ev.ID] += 0
		w.questionDelta(d, ev.ID).Text, w.questionDelta(d, ev.ID).User, w.questionDelta(d, ev.ID).TS = b.Text, ev.User, ev.TS
	case *schemas.QAUpvoteData:
		key := b.QuestionID + "|" + ev.User
		if !st.asked[b.QuestionID] || st.upvoted[key] {
			changed = false
			break
		}
		st.upvoted[key] = true
		tot.Upvotes++
		d.Totals.Upvotes++
		w.upvotes[room][b.QuestionID]++
		w.questionDelta(d, b.QuestionID).Upvotes++
	case *schemas.QAAnsweredData:
		if !st.asked[b.QuestionID] || st.answered[b.QuestionID] {
			changed = false
			break
		}
		st.answered[b.QuestionID] = true
		w.answeredQ[room][b.QuestionID] = true
		w.questionDelta(d, b.QuestionID).Answered = true
	case *schemas.QuizAskData:
		if _, ok := st.quizzes[b.QuizID]; ok || len(st.quizzes) >= schemas.MaxQuizzesPerRoom {
			changed = false
			break
		}
		st.quizzes[b.QuizID] = len(b.Options)
		zd := w.quizDelta(d, b.QuizID)
		zd.Question, zd.Options, zd.Points = b.Question, b.Options, max(b.Points, 1)
	case *schemas.QuizAnswerData:
		n, ok := st.quizzes[b.QuizID]
		key := b.QuizID + "|" + ev.User
		if !ok || b.Option >= n || st.revealed[b.QuizID] || st.quizAns[key] {
			changed = false
			break
		}
		st.quizAns[key] = true
		w.quizDelta(d, b.QuizID).Answers++
		tot.Answers++
		d.Totals.Answers++
	case *schemas.QuizRevealData:
		if _, ok := st.quizzes[b.QuizID]; !ok || st.revealed[b.QuizID] {
			changed = false
			break
		}
		st.revealed[b.QuizID] = true
		w.quizDelta(d, b.QuizID).Revealed = true
	case *schemas.PresenceData:
		v := b.Viewers
		d.Viewers = &v
	}
	if changed {
		st.seen[key] = true
		st.nPending++
		st.ts = max(st.ts, ev.TS)
	}
	if st.nPending >= 20 {
		w.flushFrame(room, st)
	}
}

func (w *workload) pollDelta(d *schemas.Delta, id string) *schemas.PollDelta {
	if d.Polls == nil {
		d.Polls = map[string]*schemas.PollDelta{}
	}
	if d.Polls[id] == nil {
		d.Polls[id] = &schemas.PollDelta{}
	}
	return d.Polls[id]
}

func (w *workload) questionDelta(d *schemas.Delta, id string) *schemas.QuestionDelta {
	if d.Questions == nil {
		d.Questions = map[string]*schemas.QuestionDelta{}
	}
	if d.Questions[id] == nil {
		d.Questions[id] = &schemas.QuestionDelta{}
	}
	return d.Questions[id]
}

func (w *workload) quizDelta(d *schemas.Delta, id string) *schemas.QuizDelta {
	if d.Quizzes == nil {
		d.Quizzes = map[string]*schemas.QuizDelta{}
	}
	if d.Quizzes[id] == nil {
		d.Quizzes[id] = &schemas.QuizDelta{}
	}
	return d.Quizzes[id]
}

func (w *workload) flushFrame(room string, st *roomState) {
	if st.nPending == 0 {
		return
	}
	st.seq++
	// Viewers replace within a frame: the peak is over frames.
	if v := st.pending.Viewers; v != nil {
		w.viewers[room] = max(w.viewers[room], *v)
	}
	f := schemas.Frame{Room: room, Epoch: "ep1", Seq: st.seq, TS: st.ts, Delta: st.pending}
	b, err := json.Marshal(&f)
	if err != nil {
		panic(err)
	}
	w.frames = append(w.frames, &kgo.Record{Key: []byte(room), Value: b, Timestamp: time.UnixMilli(st.ts)})
	st.pending, st.nPending = schemas.Delta{}, 0
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// produceAll writes records to topic with an idempotent producer.
func produceAll(t testing.TB, cl *kgo.Client, topic string, recs []*kgo.Record) {
	t.Helper()
	if err := produce(cl, topic, recs); err != nil {
		t.Fatal(err)
	}
}

// produce is produceAll for goroutines other than the test's.
func produce(cl *kgo.Client, topic string, recs []*kgo.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, r := range recs {
		r.Topic = topic
	}
	for i := 0; i < len(recs); i += 10_000 {
		if err := cl.ProduceSync(ctx, recs[i:min(i+10_000, len(recs))]...).FirstErr(); err != nil {
			return fmt.Errorf("produce to %s: %w", topic, err)
		}
	}
	return nil
}

// waitCaughtUp waits until ClickHouse holds every partition of topics up
// to its last committed record that the sink keeps. The target is found by
// reading the topics to their ends, independently of the sink.
func waitCaughtUp(t testing.TB, chAddr, db string, brokers []string, topics []string, timeout time.Duration) {
	t.Helper()
	want := lastKept(t, brokers, topics)
	conn := chtest.Open(t, chAddr, "")
	deadline := time.Now().Add(timeout)
	var (
		got map[string]map[int32]int64
		err error
	)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err = readOffsets(ctx, conn, db, topics)
		cancel()
		if err == nil && offsetsReached(got, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ClickHouse did not catch up within %v: have %v, want %v (last err %v)", timeout, got, want, err)
}

// lastKept reads topics (read_committed) to their current ends and returns
// per partition the offset of the last record that parses.
func lastKept(t testing.TB, brokers []string, topics []string) map[string]map[int32]int64 {
	t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(adm).ListCommittedOffsets(ctx, topics...)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left++
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...), kgo.KeepControlRecords(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[string]map[int32]int64{}
	done := map[string]map[int32]bool{}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %v to the end: %v", topics, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, _ := ends.Lookup(r.Topic, r.Partition)
			if r.Offset >= end.Offset {
				return
			}
			if !r.Attrs.IsControl() {
				var ok bool
				if isEventsValue(r.Value) {
					ok = true
				} else if _, err := parseFrame(r.Value); err == nil {
					ok = true
				}
				if ok {
					if want[r.Topic] == nil {
						want[r.Topic] = map[int32]int64{}
					}
					want[r.Topic][r.Partition] = r.Offset
				}
			}
			if r.Offset == end.Offset-1 {
				if done[r.Topic] == nil {
					done[r.Topic] = map[int32]bool{}
				}
				if !done[r.Topic][r.Partition] {
					done[r.Topic][r.Partition] = true
					left--
				}
			}
		})
	}
	return want
}

func isEventsValue(v []byte) bool {
	_, err := schemas.ParseEvent(v)
	return err == nil
}

func offsetsReached(got, want map[string]map[int32]int64) bool {
	for t, ps := range want {
		for p, o := range ps {
			if got[t][p] < o {
				return false
			}
		}
	}
	return true
}

// apiGet calls the API and decodes a 200 answer into out.
func apiGet(t testing.TB, base, token, path string, out any) {
	t.Helper()
	status, body := apiDo(t, base, token, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
}

func apiDo(t testing.TB, base, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return resp.StatusCode, buf
}

var testSecret = []byte("analytics-test-secret-of-at-least-32-bytes!")

func testVerifier(t testing.TB) *auth.Verifier {
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testToken(t testing.TB, user string, rooms map[string][]schemas.Capability) string {
	c := &auth.Claims{Rooms: rooms}
	c.Subject = user
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	tok, err := auth.Sign(testSecret, "", c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// checkRooms compares every room's API answers with the workload's fold:
// what comes from frames (totals, reactions, polls, upvotes, peak viewers)
// and what comes from events (participants, distinct ids per type). With
// snaps (the processors' final snapshots, when the real processors wrote
// the frames) the frame-derived numbers must also equal the snapshots.
func checkRooms(t testing.TB, base, token string, w *workload, snaps ...map[string]schemas.Snapshot) {
	t.Helper()
	for _, room := range w.rooms {
		var s Summary
		apiGet(t, base, token, "/v1/rooms/"+room+"/analytics/summary", &s)
		if s.Totals != *w.totals[room] {
			t.Errorf("%s: totals %+v, want (test fold) %+v", room, s.Totals, *w.totals[room])
		}
		if !mapsEqual(s.Reactions, w.reactions[room]) {
			t.Errorf("%s: reactions %v, want %v", room, s.Reactions, w.reactions[room])
		}
		for pid, want := range w.votes[room] {
			p := s.Polls[pid]
			if p == nil || !slices.Equal(p.Votes, want) || len(p.Options) != len(want) {
				t.Errorf("%s: poll %s = %+v, want votes %v", room, pid, p, want)
			}
		}
		if len(s.Polls) != len(w.votes[room]) {
			t.Errorf("%s: %d polls, want %d", room, len(s.Polls), len(w.votes[room]))
		}
		for _, q := range s.TopQuestions {
			if q.Upvotes != w.upvotes[room][q.ID] || q.Text == "" || q.Answered != w.answeredQ[room][q.ID] {
				t.Errorf("%s: question %s has %d upvotes (text %q, answered %v), want %d (answered %v)", room, q.ID, q.Upvotes, q.Text, q.Answered, w.upvotes[room][q.ID], w.answeredQ[room][q.ID])
			}
		}
		if len(snaps) == 0 && s.PeakViewers != w.viewers[room] {
			t.Errorf("%s: peak viewers %d, want %d", room, s.PeakViewers, w.viewers[room])
		}
		if s.Participants != uint64(len(w.users[room])) {
			t.Errorf("%s: participants %d, want %d", room, s.Participants, len(w.users[room]))
		}
		for typ, ids := range w.distinct[room] {
			if s.Events[typ] != uint64(len(ids)) {
				t.Errorf("%s: %s distinct ids %d, want %d", room, typ, s.Events[typ], len(ids))
			}
		}
		// Distinct accepted ids, counted independently of any fold: chat,
		// reactions and questions are never refused in this workload.
		if got, want := s.Totals.Chat, int64(len(w.distinct[room]["chat.message"])); got != want {
			t.Errorf("%s: totals.chat %d, distinct chat ids %d", room, got, want)
		}
		if got, want := s.Totals.Reactions, int64(len(w.distinct[room]["reaction"])); got != want {
			t.Errorf("%s: totals.reactions %d, distinct reaction ids %d", room, got, want)
		}
		if got, want := s.Totals.Questions, int64(len(w.distinct[room]["qa.ask"])); got != want {
			t.Errorf("%s: totals.questions %d, distinct question ids %d", room, got, want)
		}
		if len(snaps) == 0 {
			continue
		}
		snap, ok := snaps[0][room]
		if !ok {
			t.Errorf("%s: no snapshot", room)
			continue
		}
		st := snap.State
		if s.Epoch != snap.Epoch || s.Totals != st.Totals {
			t.Errorf("%s: API epoch %s totals %+v, snapshot epoch %s totals %+v", room, s.Epoch, s.Totals, snap.Epoch, st.Totals)
		}
		if !mapsEqual(s.Reactions, st.Reactions) {
			t.Errorf("%s: reactions %v, snapshot %v", room, s.Reactions, st.Reactions)
		}
		for pid, sp := range st.Polls {
			p := s.Polls[pid]
			if p == nil || !slices.Equal(p.Votes, sp.Votes) || p.Closed != sp.Closed || p.Question != sp.Question {
				t.Errorf("%s: poll %s = %+v, snapshot %+v", room, pid, p, sp)
			}
		}
		for _, q := range s.TopQuestions {
			if sq := st.Questions[q.ID]; sq == nil || sq.Upvotes != q.Upvotes || sq.Answered != q.Answered {
				t.Errorf("%s: question %s = %+v, snapshot %+v", room, q.ID, q, sq)
			}
		}
		if !slices.Equal(s.Leaderboard, st.Leaderboard) {
			t.Errorf("%s: leaderboard %v, snapshot %v", room, s.Leaderboard, st.Leaderboard)
		}
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
