package processors

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestTimedQuizKillKafka is the timed quiz at stream scale on real Kafka:
// 10,000 simulated players answer a quiz of five timed questions (3 s
// each, scored by speed) in one room, some of them after the deadline,
// while two `ovation process` processes own the partitions and one of
// both are SIGKILLed (and restarted) during the third question. Nobody sends a reveal: the
// processors write every quiz.reveal themselves when the time is up.
//
// Then the events topic is read back as a consumer sees it (read
// committed, the timer reveals included) and folded independently: a
// few lines here that know nothing of the processor's code. The frames'
// fold (gapless seqs), the latest snapshot and the leaderboard must equal
// it, and so must every player's own rank and score, looked up with
// Partition.Standing in a partition restored from the changelog the
// processors wrote. The fold also says how many answers were refused for
// time (time_up) or because the reveal was already in the log, so the
// test shows it exercised both. ~40 s on a quiet machine.
func TestTimedQuizKillKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	group := "quizkill-" + tp.Events
	// The processes' HTTP ports, for the standing lookups (k16's range).
	addrs := []string{"127.0.0.1:28401", "127.0.0.1:28402"}
	procs := []*proc{newProc(t, bin, "a", brokers, tp, group, "--http-addr", addrs[0]), newProc(t, bin, "b", brokers, tp, group, "--http-addr", addrs[1])}
	for _, p := range procs {
		p.start()
	}

	const (
		players   = 10_000
		questions = 5
		seconds   = 3
		room      = "quiz-room"
	)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(tp.Events),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var prodErr error
	send := func(id, user string, typ schemas.Type, ts int64, data string) {
		e := schemas.Event{V: 1, ID: id, Room: room, User: user, Type: typ, TS: ts, Data: []byte(data)}
		b, _ := e.Marshal()
		cl.Produce(ctx, &kgo.Record{Key: []byte(room), Value: b}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				prodErr = cmp.Or(prodErr, err)
				mu.Unlock()
			}
		})
	}
	rnd := rand.New(rand.NewPCG(16, 16))
	killed := false
	for q := range questions {
		zid := fmt.Sprintf("q%d", q)
		ask := time.Now().UnixMilli()
		send("ask-"+zid, "host", schemas.QuizAsk, ask, fmt.Sprintf(`{"quiz_id":%q,"question":"Question %d?","options":["a","b","c","d"],"correct":%d,"points":1000,"seconds":%d}`, zid, q, q%4, seconds))
		// Players answer over the question's time at the wall clock's
		// pace, in a random order; 3% answer about half a second late.
		order := rnd.Perm(players)
		late := order[:players*3/100]
		onTime := order[players*3/100:]
		start := time.Now()
		for i, p := range onTime {
			if i%250 == 0 {
				if ahead := time.Duration(i)*time.Duration(seconds*1000-400)*time.Millisecond/time.Duration(len(onTime)) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
				if q == 2 && !killed && i >= len(onTime)/2 {
					// Both, so the owner of the room's partition is
					// surely among them.
					for _, p := range procs {
						p.kill()
					}
					t.Logf("SIGKILL both processors during question %d, %d answers in", q+1, i)
					for _, p := range procs {
						p.start()
					}
					killed = true
				}
			}
			user := fmt.Sprintf("player-%05d", p)
			send(fmt.Sprintf("%s-%s", zid, user), user, schemas.QuizAnswer, time.Now().UnixMilli(), fmt.Sprintf(`{"quiz_id":%q,"option":%d}`, zid, rnd.IntN(4)))
			if rnd.IntN(50) == 0 {
				// A client retry of the same answer: a duplicate.
				send(fmt.Sprintf("%s-%s", zid, user), user, schemas.QuizAnswer, time.Now().UnixMilli(), fmt.Sprintf(`{"quiz_id":%q,"option":%d}`, zid, rnd.IntN(4)))
			}
		}
		// Clock skew: 100 answers stamped just after the deadline reach
		// the log before it passes, so ahead of the timer's reveal (the
		// processors write it as soon as their clock passes the deadline):
		// the fold must refuse them for time (time_up), not count them.
		for _, p := range late[100:200] {
			user := fmt.Sprintf("player-%05d", p)
			send(fmt.Sprintf("%s-%s", zid, user), user, schemas.QuizAnswer, ask+seconds*1000+1, fmt.Sprintf(`{"quiz_id":%q,"option":%d}`, zid, q%4))
		}
		time.Sleep(time.Until(time.UnixMilli(ask + seconds*1000 + 500)))
		for j, p := range late {
			if j >= 100 && j < 200 {
				continue
			}
			user := fmt.Sprintf("player-%05d", p)
			ts := time.Now().UnixMilli()
			if j < 100 {
				// Stragglers stamped before the deadline but written
				// after it (a slow ingest): the timer's reveal is
				// already in the log ahead of them.
				ts = ask + seconds*1000 - 100
			}
			send(fmt.Sprintf("%s-%s", zid, user), user, schemas.QuizAnswer, ts, fmt.Sprintf(`{"quiz_id":%q,"option":%d}`, zid, q%4))
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if prodErr != nil {
		t.Fatal(prodErr)
	}
	// The last reveal is written after the last deadline. Read the events
	// and the frames again until the reveals are in and the frames have
	// folded every event (a timer's own transaction leaves a commit
	// marker after the last event, so the group's lag is not a measure).
	var st *quizFold
	var want []schemas.LeaderEntry
	var fold schemas.RoomState
	var seq uint64
	deadline := time.Now().Add(60 * time.Second)
	for {
		st = foldQuiz(t, readAll(t, brokers, tp.Events).records, room)
		want = st.leaderboard()
		fold, seq = foldFrames(t, readAll(t, brokers, tp.Frames).records, room)
		done := st.revealed == questions && slices.Equal(fold.Leaderboard, want)
		for zid, n := range st.accepted {
			if z := fold.Quizzes[zid]; z == nil || z.Answers != n || !z.Revealed {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d of %d questions revealed by the timers; leaderboard from the frames\n%v\nindependent fold\n%v", st.revealed, questions, fold.Leaderboard, want)
		}
		time.Sleep(time.Second)
	}
	// Snapshots follow a schedule (Config.SnapshotInterval, 1 s by
	// default), so the latest may lag the last frame for that long:
	// read until it has caught up, for at most 10 s.
	var snap schemas.Snapshot
	for snapDeadline := time.Now().Add(10 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		for _, r := range readAll(t, brokers, tp.Snapshots).records {
			if s, err := schemas.UnmarshalSnapshot(r.Value); err == nil && s.Room == room {
				snap = s
			}
		}
		if snap.Seq >= seq || time.Now().After(snapDeadline) {
			break
		}
	}
	if snap.Seq != seq || !slices.Equal(snap.State.Leaderboard, want) {
		t.Fatalf("latest snapshot at seq %d of %d (10 s after the frames), leaderboard %v", snap.Seq, seq, snap.State.Leaderboard)
	}

	// Every player's own rank and score, from the processors' state as a
	// new owner restores it from the changelog.
	cfg := Config{Brokers: brokers, Topics: tp}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	part := schemas.RoomPartition(room, 2)
	rs := NewRestorer(&cfg)
	for _, r := range readAll(t, brokers, tp.Changelog).records {
		if r.Partition == part {
			if err := rs.Add(r.Key, r.Value, r.Offset); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, err := rs.Partition()
	if err != nil {
		t.Fatal(err)
	}
	ranks := st.ranks()
	for i := range players {
		user := fmt.Sprintf("player-%05d", i)
		got, ok := p.Standing(room, user)
		w, scored := ranks[user]
		if ok != scored || (scored && got != w) {
			t.Fatalf("%s: standing %+v (%v), independent fold %+v (%v)", user, got, ok, w, scored)
		}
	}
	// And over HTTP, as a viewer's client asks: exactly one of the two
	// processors holds the room and answers for each player.
	hc := &http.Client{Timeout: 5 * time.Second}
	lookups := 0
	for i := range players {
		user := fmt.Sprintf("player-%05d", i)
		w, scored := ranks[user]
		held := 0
		for _, a := range addrs {
			resp, err := hc.Get("http://" + a + "/v1/rooms/" + room + "/quiz/standing?user=" + user)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Standing
				Error string `json:"error"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s from %s: %v", user, a, err)
			}
			lookups++
			switch {
			case resp.StatusCode == http.StatusNotFound && body.Error == "not_here":
				continue
			case scored && (resp.StatusCode != http.StatusOK || body.Standing != w):
				t.Fatalf("%s from %s: %d %+v, independent fold %+v", user, a, resp.StatusCode, body, w)
			case !scored && (resp.StatusCode != http.StatusNotFound || body.Error != "no_score"):
				t.Fatalf("%s from %s: %d %+v, want no_score", user, a, resp.StatusCode, body)
			}
			held++
		}
		if held != 1 {
			t.Fatalf("%s: %d processors hold the room's ranking", user, held)
		}
	}
	if !killed || st.timeUp == 0 || st.afterReveal == 0 {
		t.Fatalf("killed %v, %d late answers, %d after the reveal: the test did not exercise what it claims", killed, st.timeUp, st.afterReveal)
	}
	t.Logf("%d standing lookups over HTTP", lookups)
	t.Logf("%d players, %d questions: %d answers counted, %d refused for time (time_up), %d after the timer's reveal, %d duplicates; %d players scored; %d frames, top %s with %d",
		players, questions, st.total(), st.timeUp, st.afterReveal, st.dups, len(ranks), seq, want[0].User, want[0].Score)
}

// foldFrames folds room's frames of its latest epoch, checking that their
// seqs have no gap, and returns the state and the last seq.
func foldFrames(t *testing.T, recs []*kgo.Record, room string) (schemas.RoomState, uint64) {
	var fold schemas.RoomState
	var epoch string
	var seq uint64
	for _, r := range recs {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil || f.Room != room {
			continue
		}
		if f.Epoch != epoch {
			epoch, seq, fold = f.Epoch, 0, schemas.NewRoomState()
		}
		if f.Seq != seq+1 {
			t.Fatalf("frame seq %d after %d", f.Seq, seq)
		}
		seq = f.Seq
		fold.Apply(&f.Delta)
	}
	return fold, seq
}

// quizFold is the test's own fold of one room's quiz events, in log order.
type quizFold struct {
	asks        map[string][3]int64 // quiz → correct, ask ts, deadline
	points      map[string]int64
	answers     map[string]map[string][2]int64 // quiz → user → option, ts
	revealedAt  map[string]bool
	accepted    map[string]int64
	seen        map[string]bool
	scores      map[string]*schemas.LeaderEntry
	revealed    int
	timeUp      int
	afterReveal int
	dups        int
}

func foldQuiz(t *testing.T, recs []*kgo.Record, room string) *quizFold {
	f := &quizFold{asks: map[string][3]int64{}, points: map[string]int64{}, answers: map[string]map[string][2]int64{},
		revealedAt: map[string]bool{}, accepted: map[string]int64{}, seen: map[string]bool{}, scores: map[string]*schemas.LeaderEntry{}}
	for _, r := range recs {
		e, err := schemas.ParseEvent(r.Value)
		if err != nil || e.Room != room {
			continue
		}
		k := e.User + "\x00" + e.ID
		if f.seen[k] {
			f.dups++
			continue
		}
		f.seen[k] = true
		switch d := e.Body.(type) {
		case *schemas.QuizAskData:
			f.asks[d.QuizID] = [3]int64{int64(d.Correct), e.TS, e.TS + int64(d.Seconds)*1000}
			f.points[d.QuizID] = int64(d.Points)
			f.answers[d.QuizID] = map[string][2]int64{}
		case *schemas.QuizAnswerData:
			a := f.asks[d.QuizID]
			switch {
			case f.revealedAt[d.QuizID]:
				f.afterReveal++
			case e.TS > a[2]:
				f.timeUp++
			default:
				if _, ok := f.answers[d.QuizID][e.User]; !ok {
					f.answers[d.QuizID][e.User] = [2]int64{int64(d.Option), e.TS}
					f.accepted[d.QuizID]++
				}
			}
		case *schemas.QuizRevealData:
			if f.revealedAt[d.QuizID] {
				continue
			}
			if e.User != schemas.TimerUser {
				t.Fatalf("reveal of %s by %s, not by the timer", d.QuizID, e.User)
			}
			f.revealedAt[d.QuizID] = true
			f.revealed++
			a := f.asks[d.QuizID]
			for u, ans := range f.answers[d.QuizID] {
				if ans[0] != a[0] {
					continue
				}
				// Full points at the ask, half at the deadline, linear.
				dur, el := a[2]-a[1], min(max(ans[1]-a[1], 0), a[2]-a[1])
				s := f.scores[u]
				if s == nil {
					s = &schemas.LeaderEntry{User: u}
					f.scores[u] = s
				}
				s.Score += f.points[d.QuizID] - f.points[d.QuizID]*el/(2*dur)
				s.LastTS = max(s.LastTS, ans[1])
			}
		}
	}
	return f
}

func (f *quizFold) sorted() []schemas.LeaderEntry {
	var all []schemas.LeaderEntry
	for _, s := range f.scores {
		all = append(all, *s)
	}
	slices.SortFunc(all, func(a, b schemas.LeaderEntry) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.LastTS, b.LastTS), strings.Compare(a.User, b.User))
	})
	return all
}

func (f *quizFold) leaderboard() []schemas.LeaderEntry {
	all := f.sorted()
	return all[:min(len(all), schemas.LeaderboardSize)]
}

func (f *quizFold) ranks() map[string]Standing {
	all := f.sorted()
	out := make(map[string]Standing, len(all))
	for i, e := range all {
		out[e.User] = Standing{Rank: i + 1, Score: e.Score, Players: len(all)}
	}
	return out
}

func (f *quizFold) total() (n int64) {
	for _, v := range f.accepted {
		n += v
	}
	return n
}
