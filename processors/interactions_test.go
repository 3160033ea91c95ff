package processors

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// kindModel is the independent model of the poll kinds: it keeps every
// user's current ballot and recomputes a poll's public counters from all
// ballots after each accepted vote, where the processor adds differences.
type kindModel struct {
	polls   map[string]*schemas.PollOpenData
	ballots map[string]map[string][]int // poll → user → picks / order / [rating] / [] (text)
	texts   map[string][]schemas.PollText
	words   map[string]map[string][]string // cloud poll → user → words counted
	answers map[string]map[string]int      // cloud poll → user → answers
}

func (r *mroom) kindModel() *kindModel {
	if r.kinds == nil {
		r.kinds = &kindModel{polls: map[string]*schemas.PollOpenData{}, ballots: map[string]map[string][]int{}, texts: map[string][]schemas.PollText{},
			words: map[string]map[string][]string{}, answers: map[string]map[string]int{}}
	}
	return r.kinds
}

func (r *mroom) openKind(d *schemas.PollOpenData, ts int64) {
	k := r.kindModel()
	k.polls[d.PollID] = d
	k.ballots[d.PollID] = map[string][]int{}
	r.votes[d.PollID] = map[string]int{}
	opts := slices.Clone(d.Options)
	if opts == nil {
		opts = []string{}
	}
	r.st.Polls[d.PollID] = &schemas.Poll{Question: d.Question, Options: opts}
	if d.Seconds > 0 {
		r.st.Polls[d.PollID].ClosesAt = ts + int64(d.Seconds)*1000
	}
	r.recount(d.PollID)
}

// voteKind applies a vote of a poll kind and reports whether it counted.
func (r *mroom) voteKind(e *schemas.Event) bool {
	k := r.kindModel()
	var pid, kind string
	var ballot []int
	switch d := e.Body.(type) {
	case *schemas.PollPickData:
		pid, kind, ballot = d.PollID, schemas.PollMulti, slices.Sorted(slices.Values(d.Options))
	case *schemas.PollRankData:
		pid, kind, ballot = d.PollID, schemas.PollRanking, d.Order
	case *schemas.PollRateData:
		pid, kind, ballot = d.PollID, schemas.PollRating, []int{d.Rating}
	case *schemas.PollTextData:
		pid, kind, ballot = d.PollID, schemas.PollOpenText, []int{}
		if o := k.polls[pid]; o != nil && o.Kind == schemas.PollCloud {
			return r.cloudAnswer(e, o, d.Answer)
		}
	}
	o := k.polls[pid]
	p := r.st.Polls[pid]
	if o == nil || o.Kind != kind || p.Closed || p.ClosesAt > 0 && e.TS > p.ClosesAt {
		return false
	}
	lo, hi, _ := schemas.ScaleRange(o.Scale)
	for _, v := range ballot {
		if (kind == schemas.PollRating && (v < lo || v > hi)) || (kind != schemas.PollRating && v >= len(o.Options)) {
			return false
		}
	}
	if kind == schemas.PollMulti && len(ballot) > schemas.PollPicks(o.MaxPicks, len(o.Options)) {
		return false
	}
	prev, had := k.ballots[pid][e.User]
	if had && (kind == schemas.PollOpenText || slices.Equal(prev, ballot)) {
		return false
	}
	k.ballots[pid][e.User] = slices.Clone(ballot)
	if kind == schemas.PollOpenText {
		k.texts[pid] = append(k.texts[pid], schemas.PollText{User: e.User, Text: e.Body.(*schemas.PollTextData).Answer, TS: e.TS})
	}
	r.votes[pid][e.User] = 0
	r.st.Totals.Votes++
	r.recount(pid)
	return true
}

// cloudAnswer folds a cloud answer: words once per user, the top from
// all counts sorted.
func (r *mroom) cloudAnswer(e *schemas.Event, o *schemas.PollOpenData, answer string) bool {
	k := r.kinds
	p := r.st.Polls[o.PollID]
	if p.Closed || (p.ClosesAt > 0 && e.TS > p.ClosesAt) || k.answers[o.PollID][e.User] >= schemas.MaxCloudAnswers {
		return false
	}
	if k.words[o.PollID] == nil {
		k.words[o.PollID], k.answers[o.PollID] = map[string][]string{}, map[string]int{}
	}
	k.answers[o.PollID][e.User]++
	for _, w := range schemas.NewWordFolder().Words(answer, o.StopWords) {
		if !slices.Contains(k.words[o.PollID][e.User], w) {
			k.words[o.PollID][e.User] = append(k.words[o.PollID][e.User], w)
		}
	}
	counts := map[string]int64{}
	for _, ws := range k.words[o.PollID] {
		for _, w := range ws {
			counts[w]++
		}
	}
	var all []schemas.WordCount
	for w, n := range counts {
		all = append(all, schemas.WordCount{Word: w, Count: n})
	}
	slices.SortFunc(all, func(a, b schemas.WordCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.Word, b.Word)
	})
	p.Words = all[:min(len(all), schemas.CloudTop)]
	if len(p.Words) == 0 {
		p.Words = nil
	}
	p.Voters = int64(len(k.answers[o.PollID]))
	r.votes[o.PollID][e.User] = 0
	r.st.Totals.Votes++
	return true
}

// recount sets a poll's public counters from every ballot.
func (r *mroom) recount(pid string) {
	k := r.kinds
	o, p := k.polls[pid], r.st.Polls[pid]
	n := len(o.Options)
	p.Kind, p.MaxPicks, p.Scale, p.StopWords = o.Kind, o.MaxPicks, o.Scale, o.StopWords
	p.Votes = make([]int64, schemas.PollValues(o.Kind, o.Scale, n))
	p.Voters = int64(len(k.ballots[pid]))
	p.Ranks = nil
	if o.Kind == schemas.PollRanking {
		p.Ranks = make([][]int64, n)
		for i := range p.Ranks {
			p.Ranks[i] = make([]int64, n)
		}
	}
	lo, _, _ := schemas.ScaleRange(o.Scale)
	for _, b := range k.ballots[pid] {
		switch o.Kind {
		case schemas.PollMulti:
			for _, i := range b {
				p.Votes[i]++
			}
		case schemas.PollRanking:
			for pos, i := range b {
				p.Votes[i] += int64(n - 1 - pos)
				p.Ranks[i][pos]++
			}
		case schemas.PollRating:
			p.Votes[b[0]-lo]++
		}
	}
	t := k.texts[pid]
	p.Texts = slices.Clone(t[max(0, len(t)-schemas.PollTextWindow):])
}

// TestPollKinds is the table test of the four new kinds: each case opens
// one poll, applies votes in order and checks every outcome and the
// public state (from the folded frames, the core, and a restore).
func TestPollKinds(t *testing.T) {
	type vote struct {
		user string
		typ  schemas.Type
		data any
		out  Outcome
		why  Reason
	}
	pick := func(u string, o ...int) vote {
		return vote{u, schemas.PollPick, schemas.PollPickData{PollID: "p", Options: o}, Applied, ""}
	}
	rank := func(u string, o ...int) vote {
		return vote{u, schemas.PollRank, schemas.PollRankData{PollID: "p", Order: o}, Applied, ""}
	}
	rate := func(u string, v int) vote {
		return vote{u, schemas.PollRate, schemas.PollRateData{PollID: "p", Rating: v}, Applied, ""}
	}
	text := func(u, a string) vote {
		return vote{u, schemas.PollTextAnswer, schemas.PollTextData{PollID: "p", Answer: a}, Applied, ""}
	}
	refused := func(v vote, o Outcome, why Reason) vote { v.out, v.why = o, why; return v }
	closeP := vote{"host", schemas.PollClose, schemas.PollCloseData{PollID: "p"}, Applied, ""}
	abc := []string{"A", "B", "C"}
	var manyTexts []vote
	var wantTexts []schemas.PollText
	for i := range 13 {
		u := fmt.Sprintf("u%02d", i)
		manyTexts = append(manyTexts, text(u, "word "+u))
		if i >= 13-schemas.PollTextWindow {
			wantTexts = append(wantTexts, schemas.PollText{User: u, Text: "word " + u})
		}
	}
	cases := []struct {
		name  string
		open  schemas.PollOpenData
		votes []vote
		want  schemas.Poll
	}{
		{
			name: "multi: picks replace, max_picks and options bound them",
			open: schemas.PollOpenData{Question: "q", Options: abc, Kind: schemas.PollMulti, MaxPicks: 2},
			votes: []vote{
				pick("a", 0, 1), pick("b", 1), pick("a", 2, 1),
				refused(pick("a", 1, 2), Ignored, ReasonSameVote),
				refused(pick("c", 0, 1, 2), DeadLettered, ReasonBadOption),
				refused(pick("c", 3), DeadLettered, ReasonBadOption),
				refused(rate("c", 1), DeadLettered, ReasonWrongKind),
				refused(vote{"c", schemas.PollVote, schemas.PollVoteData{PollID: "p", Option: 0}, Applied, ""}, DeadLettered, ReasonWrongKind),
				closeP, refused(pick("d", 0), Ignored, ReasonClosed),
			},
			want: schemas.Poll{Question: "q", Options: abc, Votes: []int64{0, 2, 1}, Closed: true,
				PollKindState: schemas.PollKindState{Kind: schemas.PollMulti, MaxPicks: 2, Voters: 2}},
		},
		{
			name: "ranking: Borda n-1-p, partial ballots, a new order replaces",
			open: schemas.PollOpenData{Question: "q", Options: abc, Kind: schemas.PollRanking},
			votes: []vote{
				rank("a", 0, 1, 2), rank("b", 2, 0), rank("c", 1), rank("c", 2, 1, 0),
				refused(rank("d", 0, 3), DeadLettered, ReasonBadOption),
			},
			// a: A2 B1 C0; b: C2 A1; c: C2 B1 A0 → A3 B2 C4.
			want: schemas.Poll{Question: "q", Options: abc, Votes: []int64{3, 2, 4},
				PollKindState: schemas.PollKindState{Kind: schemas.PollRanking, Voters: 3, Ranks: [][]int64{{1, 1, 1}, {0, 2, 0}, {2, 0, 1}}}},
		},
		{
			name:  "rating nps: distribution over 0-10, a new rating moves",
			open:  schemas.PollOpenData{Question: "q", Kind: schemas.PollRating, Scale: schemas.ScaleNPS},
			votes: []vote{rate("a", 10), rate("b", 0), rate("c", 7), rate("c", 9), refused(rate("c", 9), Ignored, ReasonSameVote)},
			want: schemas.Poll{Question: "q", Options: []string{}, Votes: []int64{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1},
				PollKindState: schemas.PollKindState{Kind: schemas.PollRating, Scale: schemas.ScaleNPS, Voters: 3}},
		},
		{
			name:  "rating 1-5 refuses 0 and 6",
			open:  schemas.PollOpenData{Question: "q", Kind: schemas.PollRating, Scale: schemas.Scale5},
			votes: []vote{rate("a", 5), rate("b", 1), refused(rate("c", 0), DeadLettered, ReasonBadOption), refused(rate("c", 6), DeadLettered, ReasonBadOption)},
			want: schemas.Poll{Question: "q", Options: []string{}, Votes: []int64{1, 0, 0, 0, 1},
				PollKindState: schemas.PollKindState{Kind: schemas.PollRating, Scale: schemas.Scale5, Voters: 2}},
		},
		{
			name:  "text: first answer per user, latest 10 kept",
			open:  schemas.PollOpenData{Question: "q", Kind: schemas.PollOpenText},
			votes: append(slices.Clone(manyTexts), refused(text("u00", "again"), Ignored, ReasonAnswered), refused(pick("z", 0), DeadLettered, ReasonWrongKind)),
			want: schemas.Poll{Question: "q", Options: []string{}, Votes: []int64{},
				PollKindState: schemas.PollKindState{Kind: schemas.PollOpenText, Voters: 13, Texts: wantTexts}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, flushEvery := range []int{1, 3, 1000} {
				h := newHarness(t, nil)
				tc.open.PollID = "p"
				if o, why := h.apply(ev(t, "open", "r", "host", schemas.PollOpen, h.now, tc.open)); o != Applied {
					t.Fatalf("open: %v %s", o, why)
				}
				for i, v := range tc.votes {
					o, why := h.apply(ev(t, fmt.Sprintf("v%d", i), "r", v.user, v.typ, h.now, v.data))
					if o != v.out || why != v.why {
						t.Fatalf("vote %d (%s by %s): %v %q, want %v %q", i, v.typ, v.user, o, why, v.out, v.why)
					}
					if i%flushEvery == 0 {
						h.flush()
					}
				}
				h.flush()
				got := h.p.rooms["r"].pub.Polls["p"]
				want := tc.want
				for i := range want.Texts {
					want.Texts[i].TS = h.now
				}
				if fmt.Sprint(*got) != fmt.Sprint(want) {
					t.Fatalf("flush every %d: poll\n got %+v\nwant %+v", flushEvery, *got, want)
				}
				h.checkFold()
				// A restore gives back the same ballots: every vote again
				// is a same vote (or a second text answer).
				h.p = h.restored()
				last := map[string]int{}
				for i, v := range tc.votes {
					if v.out == Applied && v.typ != schemas.PollClose {
						last[v.user] = i
					}
				}
				for i, v := range tc.votes {
					if last[v.user] != i || v.out != Applied || v.typ == schemas.PollClose {
						continue
					}
					o, why := h.apply(ev(t, fmt.Sprintf("again%d", i), "r", v.user, v.typ, h.now, v.data))
					if o != Ignored || (why != ReasonSameVote && why != ReasonAnswered && why != ReasonClosed) {
						t.Fatalf("after restore, vote %d again: %v %q", i, o, why)
					}
				}
			}
		})
	}
}

// TestPollKindsAgainstModel runs random votes of every kind through the
// processor with flushes, restores and evictions and compares each room
// with the model, which recounts from ballots.
func TestPollKindsAgainstModel(t *testing.T) {
	for seed := range 4 {
		runPollKinds(t, pollKindOps(uint64(seed), 3000))
	}
}

// FuzzPollKinds is the fuzzed fold of the poll kinds.
func FuzzPollKinds(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{1, 5, 5, 5, 12, 5, 9, 13, 5, 14, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		runPollKinds(t, ops)
	})
}

func pollKindOps(seed uint64, n int) []byte {
	ops := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range ops {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		ops[i] = byte(x)
	}
	return ops
}

func runPollKinds(t *testing.T, ops []byte) {
	cfg := testConfig()
	cfg.CheckpointMinBytes = 256
	cfg.MaxFrameBytes = 2048
	cfg.RoomIdle = time.Minute
	cfg.DedupWindow = 24 * time.Hour
	h := newHarness(t, cfg)
	m := newModel()
	fed := 0
	at := func(i int) byte {
		if i < len(ops) {
			return ops[i]
		}
		return 0
	}
	opens := []schemas.PollOpenData{
		{PollID: "m", Question: "q", Options: []string{"a", "b", "c", "d"}, Kind: schemas.PollMulti, MaxPicks: 3, Seconds: 2},
		{PollID: "k", Question: "q", Options: []string{"a", "b", "c", "d"}, Kind: schemas.PollRanking, Seconds: 3},
		{PollID: "n", Question: "q", Kind: schemas.PollRating, Scale: schemas.ScaleNPS},
		{PollID: "f", Question: "q", Kind: schemas.PollRating, Scale: schemas.Scale5},
		{PollID: "t", Question: "q", Kind: schemas.PollOpenText},
		{PollID: "s", Question: "q", Options: []string{"a", "b"}, Kind: schemas.PollSingle},
		{PollID: "c", Question: "q", Kind: schemas.PollCloud, StopWords: []string{"en"}},
	}
	for i := 0; i < len(ops); i++ {
		b, p1, p2 := ops[i], at(i+1), at(i+2)
		room := fmt.Sprintf("r%d", p1%2)
		user := fmt.Sprintf("u%d", p2%5)
		id := fmt.Sprintf("e%d", (int(p1)*7+int(p2)+i)%97)
		poll := opens[int(p1>>1)%len(opens)].PollID
		var typ schemas.Type
		var data any
		list := func() []int {
			// 1-4 distinct options from p2's bits, ordered by p1.
			var o []int
			for j := range 5 {
				if p2&(1<<j) != 0 {
					o = append(o, (j+int(p1))%5)
				}
			}
			if len(o) == 0 {
				o = []int{int(p1) % 4}
			}
			return o
		}
		switch b % 11 {
		case 0, 1:
			typ, data = schemas.PollOpen, opens[int(p2)%len(opens)]
		case 2, 3:
			typ, data = schemas.PollPick, schemas.PollPickData{PollID: poll, Options: list()}
		case 4:
			typ, data = schemas.PollRank, schemas.PollRankData{PollID: poll, Order: list()}
		case 5:
			typ, data = schemas.PollRate, schemas.PollRateData{PollID: poll, Rating: int(p2) % 11}
		case 6:
			// Words from a small vocabulary so users share them, in
			// varying case, width and punctuation.
			vocab := []string{"Great", "great!", "ＧＲＥＡＴ", "the", "talk", "Talk.", "demo", "wow", "Straße", "STRASSE", "w" + id}
			typ, data = schemas.PollTextAnswer, schemas.PollTextData{PollID: poll, Answer: vocab[int(p2)%len(vocab)] + " " + vocab[int(p1)%len(vocab)] + ", " + vocab[i%len(vocab)]}
		case 7:
			if p2%4 != 0 {
				continue
			}
			typ, data = schemas.PollClose, schemas.PollCloseData{PollID: poll}
		case 8:
			h.flush()
			feedTimers(t, h, m, &fed)
			checkKindInvariants(t, h, m)
			continue
		case 9:
			h.flush()
			h.now += cfg.RoomIdle.Milliseconds() + 1
			h.flush() // due timers write their closes
			feedTimers(t, h, m, &fed)
			h.evict()
			checkKindInvariants(t, h, m)
			continue
		case 10:
			h.flush()
			h.p = h.restored()
			checkKindInvariants(t, h, m)
			continue
		}
		// 200 ms of event time per op: the timed polls' 2 and 3 s pass
		// inside a run, so votes after them are refused.
		e := ev(t, id, room, user, typ, h.now+int64(i)*200, data)
		o, why := h.apply(e)
		if acc := m.apply(e); acc != (o == Applied) {
			t.Fatalf("op %d (%s %s by %s): core %v %s, model accepted=%v", i, typ, id, user, o, why, acc)
		}
		i += 2
	}
	h.flush()
	feedTimers(t, h, m, &fed)
	checkKindInvariants(t, h, m)
}

// feedTimers applies the closes the partition wrote since the last call,
// as reading them back from the events topic would, to the core and the
// model alike.
func feedTimers(t *testing.T, h *harness, m *model, fed *int) {
	t.Helper()
	for ; *fed < len(h.events); *fed++ {
		e := h.events[*fed]
		if e.User != schemas.TimerUser || e.ID != schemas.TimerID(e.Body.(*schemas.PollCloseData).PollID) {
			t.Fatalf("timer event %+v", e)
		}
		o, why := h.apply(e)
		if acc := m.apply(e); acc != (o == Applied) {
			t.Fatalf("timer close %s: core %v %s, model accepted=%v", e.ID, o, why, acc)
		}
	}
	h.flush()
}

// checkKindInvariants checks the rooms against the model (the processor
// opens a ranking poll with its full n×n ranks, as the model counts them).
func checkKindInvariants(t *testing.T, h *harness, m *model) {
	t.Helper()
	checkInvariants(t, h, m)
}
