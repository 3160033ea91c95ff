package schemas

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/segmentio/encoding/json"
)

// roomModel plays a processor: it turns random engagement into deltas
// that keep the guarantees Merge relies on (unique chat ids, options and
// question text set once, evictions listed in ChatDeleted).
type roomModel struct {
	r       *rand.Rand
	next    int
	chat    []string
	polls   map[string]int // options
	kinds   map[string]string
	quizzes map[string]int
	qs      []string
	// removedQs are question ids removed and not asked again yet.
	removedQs []string
	ts        int64
	custom    *customModel // custom types (custom_state_test.go)
}

func newRoomModel(seed uint64) *roomModel {
	return &roomModel{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), polls: map[string]int{}, kinds: map[string]string{}, quizzes: map[string]int{}, ts: 1767225600000}
}

func (m *roomModel) id(prefix string) string {
	m.next++
	return fmt.Sprintf("%s%d", prefix, m.next)
}

func (m *roomModel) pick(list []string) string { return list[m.r.IntN(len(list))] }

func (m *roomModel) keys(mp map[string]int) []string {
	var k []string
	for id := range mp {
		k = append(k, id)
	}
	slices.Sort(k)
	return k
}

func (m *roomModel) delta() Delta {
	r := m.r
	var d Delta
	m.ts += int64(r.IntN(1000))
	emoji := []string{"👍", "🎉", family, "❤️"}
	// Removals that come before this delta's additions in event order:
	// the slot or question may then be filled again in the same delta.
	if r.IntN(6) == 0 {
		d.ReactionsRemoved = append(d.ReactionsRemoved, emoji[r.IntN(len(emoji))])
	}
	if r.IntN(6) == 0 && len(m.qs) > 0 {
		gone := m.pick(m.qs)
		d.QuestionsRemoved = append(d.QuestionsRemoved, gone)
		m.qs = slices.DeleteFunc(m.qs, func(s string) bool { return s == gone })
		m.removedQs = append(m.removedQs, gone)
	}
	if r.IntN(3) == 0 {
		d.Reactions = map[string]int64{}
		for range r.IntN(3) + 1 {
			d.Reactions[emoji[r.IntN(len(emoji))]] += int64(r.IntN(5) + 1)
		}
	}
	if r.IntN(8) == 0 {
		// A removal after this delta's reactions: they go with the slot.
		e := emoji[r.IntN(len(emoji))]
		delete(d.Reactions, e)
		if !slices.Contains(d.ReactionsRemoved, e) {
			d.ReactionsRemoved = append(d.ReactionsRemoved, e)
		}
	}
	if r.IntN(2) == 0 {
		// Chat: delete some lines, add some, evict what overflows.
		for range r.IntN(3) {
			if len(m.chat) > 0 && r.IntN(2) == 0 {
				gone := m.pick(m.chat)
				d.ChatDeleted = append(d.ChatDeleted, gone)
				m.chat = slices.DeleteFunc(m.chat, func(s string) bool { return s == gone })
			}
		}
		for range r.IntN(40) {
			id := m.id("c")
			d.Chat = append(d.Chat, ChatLine{ID: id, User: fmt.Sprintf("u%d", r.IntN(9)), Text: "t " + id, TS: m.ts})
			m.chat = append(m.chat, id)
		}
		if r.IntN(4) == 0 && len(d.Chat) > 0 {
			// A line deleted in the same delta it was posted in.
			gone := d.Chat[r.IntN(len(d.Chat))].ID
			d.ChatDeleted = append(d.ChatDeleted, gone)
			m.chat = slices.DeleteFunc(m.chat, func(s string) bool { return s == gone })
		}
		if n := len(m.chat) - ChatHistory; n > 0 {
			d.ChatDeleted = append(d.ChatDeleted, m.chat[:n]...)
			m.chat = slices.Clone(m.chat[n:])
		}
	}
	if r.IntN(3) == 0 {
		d.Polls = map[string]*PollDelta{}
		if r.IntN(3) == 0 {
			n := r.IntN(MaxOptions-MinOptions+1) + MinOptions
			id := m.id("p")
			kind := PollKinds[r.IntN(len(PollKinds))]
			pd := &PollDelta{Question: "q " + id, Options: slices.Repeat([]string{"o"}, n)}
			switch kind {
			case PollSingle:
				kind = "" // the original form
			case PollMulti:
				pd.MaxPicks = r.IntN(n) + 1
			case PollRating:
				pd.Scale = Scales[r.IntN(len(Scales))]
				pd.Options = nil
			case PollOpenText:
				pd.Options = nil
			case PollCloud:
				pd.Options, pd.StopWords = nil, []string{"en"}
			}
			if r.IntN(3) == 0 {
				pd.ClosesAt = m.ts + 30_000
			}
			pd.Kind = kind
			m.polls[id] = PollValues(kind, pd.Scale, n)
			m.kinds[id] = kind
			d.Polls[id] = pd
		}
		for _, id := range m.keys(m.polls) {
			if r.IntN(2) == 0 {
				continue
			}
			pd := d.Polls[id]
			if pd == nil {
				pd = &PollDelta{}
				d.Polls[id] = pd
			}
			n := m.polls[id]
			if n > 0 {
				pd.Votes = make([]int64, r.IntN(n)+1)
				for i := range pd.Votes {
					pd.Votes[i] = int64(r.IntN(7) - 3)
				}
			}
			switch m.kinds[id] {
			case "":
			case PollOpenText:
				for range r.IntN(2 * PollTextWindow) {
					m.ts++
					pd.Texts = append(pd.Texts, PollText{User: m.id("u"), Text: m.id("t"), TS: m.ts})
				}
				pd.Voters += int64(len(pd.Texts))
			case PollCloud:
				// The top replaces: a fresh list, sometimes empty-free.
				for j := range r.IntN(4) {
					pd.Words = append(pd.Words, WordCount{Word: m.id("w"), Count: int64(10 - j)})
				}
				pd.Voters += int64(r.IntN(3))
			case PollRanking:
				pd.Ranks = make([][]int64, r.IntN(n)+1)
				for i := range pd.Ranks {
					pd.Ranks[i] = make([]int64, r.IntN(n)+1)
					for j := range pd.Ranks[i] {
						pd.Ranks[i][j] = int64(r.IntN(5) - 2)
					}
				}
				pd.Voters += int64(r.IntN(3))
			default:
				pd.Voters += int64(r.IntN(5) - 1)
			}
			pd.Closed = r.IntN(6) == 0
		}
	}
	if r.IntN(3) == 0 {
		d.Questions = map[string]*QuestionDelta{}
		if r.IntN(2) == 0 {
			id := m.id("q")
			if len(m.removedQs) > 0 && r.IntN(3) == 0 {
				// An id asked again after its question was removed.
				id = m.removedQs[0]
				m.removedQs = m.removedQs[1:]
			}
			m.qs = append(m.qs, id)
			d.Questions[id] = &QuestionDelta{User: "u1", Text: "why " + id, TS: m.ts, Upvotes: int64(r.IntN(2))}
		}
		for range r.IntN(3) {
			if len(m.qs) == 0 {
				break
			}
			id := m.pick(m.qs)
			qd := d.Questions[id]
			if qd == nil {
				qd = &QuestionDelta{}
				d.Questions[id] = qd
			}
			qd.Upvotes += int64(r.IntN(3))
			qd.Answered = qd.Answered || r.IntN(5) == 0
		}
		if r.IntN(5) == 0 && len(m.qs) > 0 {
			// Removed after this delta's upvotes (or its asking): only
			// the removal is published.
			gone := m.pick(m.qs)
			delete(d.Questions, gone)
			if !slices.Contains(d.QuestionsRemoved, gone) {
				d.QuestionsRemoved = append(d.QuestionsRemoved, gone)
			}
			m.qs = slices.DeleteFunc(m.qs, func(s string) bool { return s == gone })
			m.removedQs = append(m.removedQs, gone)
		}
	}
	if r.IntN(3) == 0 {
		d.Quizzes = map[string]*QuizDelta{}
		if r.IntN(2) == 0 {
			n := r.IntN(MaxOptions-MinOptions+1) + MinOptions
			id := m.id("z")
			m.quizzes[id] = n
			d.Quizzes[id] = &QuizDelta{Question: "q " + id, Options: slices.Repeat([]string{"o"}, n), Points: r.IntN(MaxQuizPoints) + 1}
		}
		for _, id := range m.keys(m.quizzes) {
			if r.IntN(2) == 0 {
				continue
			}
			zd := d.Quizzes[id]
			if zd == nil {
				zd = &QuizDelta{}
				d.Quizzes[id] = zd
			}
			zd.Answers = int64(r.IntN(4))
			if r.IntN(4) == 0 {
				c := r.IntN(m.quizzes[id])
				zd.Revealed, zd.Correct = true, &c
			}
		}
	}
	if r.IntN(4) == 0 {
		d.Leaderboard = []LeaderEntry{}
		for i := range r.IntN(LeaderboardSize) + 1 {
			d.Leaderboard = append(d.Leaderboard, LeaderEntry{User: fmt.Sprintf("u%d", i), Score: int64(100 - i), LastTS: m.ts})
		}
	}
	if r.IntN(3) == 0 {
		v := int64(r.IntN(1000))
		d.Viewers = &v
	}
	if r.IntN(2) == 0 {
		d.Totals = &Totals{Chat: int64(len(d.Chat)), Reactions: int64(r.IntN(9)), Votes: int64(r.IntN(9)), Questions: int64(r.IntN(2)), Upvotes: int64(r.IntN(3)), Answers: int64(r.IntN(3))}
	}
	d.Closed = r.IntN(50) == 0
	switch r.IntN(8) {
	case 0:
		d.Pinned = &ChatLine{ID: fmt.Sprint("pin-", r.IntN(5)), User: "u", Text: "pinned", TS: 1}
	case 1:
		d.Unpinned = true
	case 2:
		d.Unpinned = true
		d.Pinned = &ChatLine{ID: "pin-x", User: "u", Text: "again", TS: 2}
	}
	if r.IntN(4) == 0 {
		// Sanctions set and lifted among a few users, so one user is
		// sanctioned, lifted and sanctioned again across deltas.
		d.Mod = &ModDelta{}
		users := []string{"u1", "u2", "u3"}
		for _, u := range users {
			switch r.IntN(4) {
			case 0:
				d.Mod.Lifted = append(d.Mod.Lifted, u)
			case 1:
				if d.Mod.Sanctions == nil {
					d.Mod.Sanctions = map[string]Sanction{}
				}
				d.Mod.Sanctions[u] = Sanction{Kind: SanctionTimeout, Until: int64(r.IntN(1000)), By: "m", TS: 1}
			}
		}
		if r.IntN(2) == 0 {
			d.Mod.Controls = &Controls{SlowMode: r.IntN(3), ChatOff: r.IntN(2) == 0}
		}
	}
	m.customDelta(&d)
	return d
}

// canon returns s with empty collections as nil, so states built by
// different paths compare by meaning (an empty and a nil slice both encode
// as "nothing here" to a client).
func canon(s RoomState) RoomState {
	c := s.Clone()
	norm := func(v any) {
		rv := reflect.ValueOf(v).Elem()
		if rv.Len() == 0 {
			rv.Set(reflect.Zero(rv.Type()))
		}
	}
	norm(&c.Reactions)
	norm(&c.Chat)
	norm(&c.Polls)
	norm(&c.Questions)
	norm(&c.Quizzes)
	norm(&c.Leaderboard)
	norm(&c.Custom)
	for _, p := range c.Polls {
		norm(&p.Options)
		norm(&p.Votes)
		norm(&p.Ranks)
		norm(&p.Texts)
		norm(&p.Words)
		norm(&p.StopWords)
	}
	for _, z := range c.Quizzes {
		norm(&z.Options)
	}
	return c
}

func stateJSON(t testing.TB, s RoomState) string {
	b, err := json.Marshal(canon(s))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func deltaJSON(t testing.TB, d *Delta) string {
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMergeLaw: for random sequences of deltas from a room model, applying
// Merge(a, b) equals applying a then b, Merge is associative in effect,
// and Merge leaves its inputs unchanged.
func TestMergeLaw(t *testing.T) {
	runs, steps := 100, 40
	if testing.Short() {
		runs = 50
	}
	for seed := range uint64(runs) {
		m := newRoomModel(seed)
		s := NewRoomState()
		for step := range steps {
			a, b, c := m.delta(), m.delta(), m.delta()
			aj, bj := deltaJSON(t, &a), deltaJSON(t, &b)

			seq := s.Clone()
			seq.Apply(&a)
			seq.Apply(&b)
			seq.Apply(&c)

			ab := Merge(&a, &b)
			if deltaJSON(t, &a) != aj || deltaJSON(t, &b) != bj {
				t.Fatalf("seed %d step %d: Merge modified its inputs", seed, step)
			}
			merged := s.Clone()
			merged.Apply(&ab)
			merged.Apply(&c)
			if got, want := stateJSON(t, merged), stateJSON(t, seq); got != want {
				t.Fatalf("seed %d step %d: Apply(Merge(a,b));Apply(c) differs from Apply(a);Apply(b);Apply(c)\n got %s\nwant %s", seed, step, got, want)
			}
			bc := Merge(&b, &c)
			left, right := Merge(&ab, &c), Merge(&a, &bc)
			l, r := s.Clone(), s.Clone()
			l.Apply(&left)
			r.Apply(&right)
			if got, want := stateJSON(t, l), stateJSON(t, seq); got != want {
				t.Fatalf("seed %d step %d: Merge(Merge(a,b),c)\n got %s\nwant %s", seed, step, got, want)
			}
			if got, want := stateJSON(t, r), stateJSON(t, seq); got != want {
				t.Fatalf("seed %d step %d: Merge(a,Merge(b,c))\n got %s\nwant %s", seed, step, got, want)
			}
			if len(seq.Chat) > ChatHistory {
				t.Fatalf("chat has %d lines", len(seq.Chat))
			}
			s = seq
		}
	}
}

// TestMergeLawFullRoom is the case the eviction rule exists for: the room
// holds ChatHistory lines, one frame adds a line (evicting the oldest) and
// the next deletes one. A client folding the merged delta must end with
// the same 99 lines as one folding both frames.
func TestMergeLawFullRoom(t *testing.T) {
	s := NewRoomState()
	for i := range ChatHistory {
		s.Chat = append(s.Chat, ChatLine{ID: fmt.Sprint("c", i), User: "u", Text: "t", TS: 1})
	}
	a := Delta{Chat: []ChatLine{{ID: "new", User: "u", Text: "t", TS: 2}}, ChatDeleted: []string{"c0"}}
	b := Delta{ChatDeleted: []string{"c50"}}
	seq := s.Clone()
	seq.Apply(&a)
	seq.Apply(&b)
	m := Merge(&a, &b)
	merged := s.Clone()
	merged.Apply(&m)
	if len(seq.Chat) != 99 || seq.Chat[0].ID != "c1" || seq.Chat[98].ID != "new" {
		t.Fatalf("sequential: %d lines, first %s", len(seq.Chat), seq.Chat[0].ID)
	}
	if !reflect.DeepEqual(seq, merged) {
		t.Fatalf("merged: %d lines, first %s; sequential: %d lines", len(merged.Chat), merged.Chat[0].ID, len(seq.Chat))
	}
}

// TestCloneIsDeep changes every reachable part of a clone and checks the
// original did not move.
func TestCloneIsDeep(t *testing.T) {
	for seed := range uint64(50) {
		m := newRoomModel(seed)
		s := NewRoomState()
		for range 30 {
			d := m.delta()
			s.Apply(&d)
		}
		before := stateJSON(t, s)
		c := s.Clone()
		if stateJSON(t, c) != before {
			t.Fatalf("seed %d: clone differs", seed)
		}
		for k := range c.Reactions {
			c.Reactions[k] += 1000
		}
		c.Reactions["new"] = 1
		for i := range c.Chat {
			c.Chat[i].Text = "changed"
		}
		c.Chat = append(c.Chat, ChatLine{ID: "x"})
		for id, p := range c.Polls {
			p.Question = "changed"
			p.Closed = !p.Closed
			for i := range p.Options {
				p.Options[i] = "changed"
			}
			for i := range p.Votes {
				p.Votes[i] += 1000
			}
			c.Polls[id+"x"] = p
		}
		for _, q := range c.Questions {
			q.Upvotes += 1000
			q.Text = "changed"
		}
		for _, z := range c.Quizzes {
			for i := range z.Options {
				z.Options[i] = "changed"
			}
			z.Answers += 1000
			if z.Correct != nil {
				*z.Correct += 1000
			}
		}
		for i := range c.Leaderboard {
			c.Leaderboard[i].Score += 1000
		}
		c.Viewers += 1000
		c.Totals.Chat += 1000
		if got := stateJSON(t, s); got != before {
			t.Fatalf("seed %d: changing the clone changed the original\n got %s\nwant %s", seed, got, before)
		}
	}
}

// TestSnapshotRoundTrip: UnmarshalSnapshot(MarshalSnapshot(s)) gives back
// exactly s, for states built from random deltas.
func TestSnapshotRoundTrip(t *testing.T) {
	for seed := range uint64(100) {
		m := newRoomModel(seed)
		s := NewRoomState()
		for step := range 30 {
			d := m.delta()
			s.Apply(&d)
			snap := Snapshot{Room: "room-1", Epoch: "e1", Seq: uint64(step + 1), TS: 1767225600000, State: s}
			b, err := MarshalSnapshot(&snap)
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalSnapshot(b)
			if err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if !reflect.DeepEqual(got, snap) {
				t.Fatalf("seed %d step %d: round trip changed the snapshot\n got %+v\nwant %+v", seed, step, got, snap)
			}
		}
	}
}

// TestFrameRoundTrip: UnmarshalFrame(MarshalFrame(f)) folds to the same
// state as f, for random deltas.
func TestFrameRoundTrip(t *testing.T) {
	m := newRoomModel(7)
	a, b := NewRoomState(), NewRoomState()
	for seq := uint64(1); seq <= 300; seq++ {
		f := Frame{Room: "room-1", Epoch: "e1", Seq: seq, TS: 1, Delta: m.delta()}
		enc, err := MarshalFrame(&f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalFrame(enc)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		a.Apply(&f.Delta)
		b.Apply(&got.Delta)
		if stateJSON(t, a) != stateJSON(t, b) {
			t.Fatalf("seq %d: decoded frame folds differently", seq)
		}
	}
}

// TestChatEvictions: the lines a delta pushes out of a full history are
// the oldest ones not deleted, and listing them keeps Merge exact.
func TestChatEvictions(t *testing.T) {
	s := NewRoomState()
	for i := range ChatHistory {
		s.Chat = append(s.Chat, ChatLine{ID: fmt.Sprint("c", i)})
	}
	d := Delta{Chat: []ChatLine{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}}, ChatDeleted: []string{"c0", "c50"}}
	if got := s.ChatEvictions(&d); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("evictions %v, want [c1]", got)
	}
	if got := s.ChatEvictions(&Delta{ChatDeleted: []string{"c3"}}); got != nil {
		t.Fatalf("a delete evicts nothing, got %v", got)
	}
	empty := NewRoomState()
	if got := empty.ChatEvictions(&Delta{Chat: []ChatLine{{ID: "x"}}}); got != nil {
		t.Fatalf("an empty room evicts nothing, got %v", got)
	}
	d.ChatDeleted = append(d.ChatDeleted, s.ChatEvictions(&d)...)
	b := Delta{ChatDeleted: []string{"c60"}}
	seq := s.Clone()
	seq.Apply(&d)
	seq.Apply(&b)
	m := Merge(&d, &b)
	merged := s.Clone()
	merged.Apply(&m)
	if len(seq.Chat) != ChatHistory-1 || !reflect.DeepEqual(seq, merged) {
		t.Fatalf("sequential %d lines (first %s), merged %d lines (first %s)", len(seq.Chat), seq.Chat[0].ID, len(merged.Chat), merged.Chat[0].ID)
	}
}

// TestApplyRemovals is the table of what removals mean: a removed slot or
// question is gone with its counts, removal comes before the same delta's
// additions, removing what is not there changes nothing, and closed
// latches.
func TestApplyRemovals(t *testing.T) {
	base := func() RoomState {
		s := NewRoomState()
		s.Reactions["👍"], s.Reactions["🎉"] = 5, 2
		s.Questions["q1"] = &Question{User: "u1", Text: "why", TS: 1, Upvotes: 3}
		s.Questions["q2"] = &Question{User: "u2", Text: "how", TS: 2}
		s.Totals.Reactions = 7
		return s
	}
	cases := []struct {
		name      string
		d         Delta
		reactions map[string]int64
		questions []string
		closed    bool
	}{
		{"remove an emoji slot", Delta{ReactionsRemoved: []string{"👍"}}, map[string]int64{"🎉": 2}, []string{"q1", "q2"}, false},
		{"remove then count again in one delta", Delta{ReactionsRemoved: []string{"👍"}, Reactions: map[string]int64{"👍": 1}}, map[string]int64{"👍": 1, "🎉": 2}, []string{"q1", "q2"}, false},
		{"remove a slot that is not there", Delta{ReactionsRemoved: []string{"🔥"}}, map[string]int64{"👍": 5, "🎉": 2}, []string{"q1", "q2"}, false},
		{"remove a question with its upvotes", Delta{QuestionsRemoved: []string{"q1"}}, map[string]int64{"👍": 5, "🎉": 2}, []string{"q2"}, false},
		{"remove then ask the id again", Delta{QuestionsRemoved: []string{"q1"}, Questions: map[string]*QuestionDelta{"q1": {User: "u3", Text: "new", TS: 9}}}, map[string]int64{"👍": 5, "🎉": 2}, []string{"q1", "q2"}, false},
		{"close", Delta{Closed: true}, map[string]int64{"👍": 5, "🎉": 2}, []string{"q1", "q2"}, true},
	}
	for _, c := range cases {
		s := base()
		s.Apply(&c.d)
		if !reflect.DeepEqual(s.Reactions, c.reactions) {
			t.Errorf("%s: reactions %v, want %v", c.name, s.Reactions, c.reactions)
		}
		if got := slices.Sorted(maps.Keys(s.Questions)); !slices.Equal(got, c.questions) {
			t.Errorf("%s: questions %v, want %v", c.name, got, c.questions)
		}
		if s.Closed != c.closed {
			t.Errorf("%s: closed %v", c.name, s.Closed)
		}
		if s.Totals.Reactions != 7 {
			t.Errorf("%s: totals changed: %+v", c.name, s.Totals)
		}
		if c.d.IsEmpty() {
			t.Errorf("%s: IsEmpty says the delta changes nothing", c.name)
		}
	}
	if q := base(); true {
		q.Apply(&Delta{QuestionsRemoved: []string{"q1"}, Questions: map[string]*QuestionDelta{"q1": {User: "u3", Text: "new", TS: 9}}})
		if got := *q.Questions["q1"]; got != (Question{User: "u3", Text: "new", TS: 9}) {
			t.Errorf("re-asked question kept old state: %+v", got)
		}
	}
	s := base()
	s.Apply(&Delta{Closed: true})
	s.Apply(&Delta{Reactions: map[string]int64{"👍": 1}})
	if !s.Closed {
		t.Error("closed did not latch")
	}
}

// TestMergeRemovals spells out the cases TestMergeLaw finds at random: a
// slot counted in a and removed in b is gone (b's own additions stay); a
// slot removed in a and counted in b is back with b's count only.
func TestMergeRemovals(t *testing.T) {
	s := NewRoomState()
	s.Reactions["👍"] = 10
	s.Questions["q1"] = &Question{User: "u", Text: "t", TS: 1, Upvotes: 2}
	cases := []struct {
		name string
		a, b Delta
	}{
		{"count then remove", Delta{Reactions: map[string]int64{"👍": 3}}, Delta{ReactionsRemoved: []string{"👍"}}},
		{"count, remove and count again", Delta{Reactions: map[string]int64{"👍": 3}}, Delta{ReactionsRemoved: []string{"👍"}, Reactions: map[string]int64{"👍": 1}}},
		{"remove then count", Delta{ReactionsRemoved: []string{"👍"}}, Delta{Reactions: map[string]int64{"👍": 4}}},
		{"upvote then remove", Delta{Questions: map[string]*QuestionDelta{"q1": {Upvotes: 1}}}, Delta{QuestionsRemoved: []string{"q1"}}},
		{"remove then ask again", Delta{QuestionsRemoved: []string{"q1"}}, Delta{Questions: map[string]*QuestionDelta{"q1": {User: "v", Text: "again", TS: 5}}}},
		{"close in a", Delta{Closed: true}, Delta{Viewers: new(int64)}},
	}
	for _, c := range cases {
		seq := s.Clone()
		seq.Apply(&c.a)
		seq.Apply(&c.b)
		m := Merge(&c.a, &c.b)
		merged := s.Clone()
		merged.Apply(&m)
		if got, want := stateJSON(t, merged), stateJSON(t, seq); got != want {
			t.Errorf("%s: merged %s\nsequential %s", c.name, got, want)
		}
		// And through the wire: the merged delta encodes and decodes to
		// the same meaning.
		b, _ := MarshalFrame(&Frame{Room: "r", Epoch: "e", Seq: 1, Delta: m})
		f, err := UnmarshalFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		wire := s.Clone()
		wire.Apply(&f.Delta)
		if got, want := stateJSON(t, wire), stateJSON(t, seq); got != want {
			t.Errorf("%s: decoded merged frame %s\nsequential %s", c.name, got, want)
		}
	}
}
