package schemas

import (
	"maps"
	"slices"

	"github.com/segmentio/encoding/json"
)

// Public state limits. Processors dead-letter events that would pass them,
// so every room's snapshot stays bounded.
const (
	ChatHistory        = 100  // chat lines a snapshot keeps
	MaxPollsPerRoom    = 100  // polls a room may ever open
	MaxQuizzesPerRoom  = 100  // quiz questions a room may ever ask
	MaxQuestionsInRoom = 1000 // Q&A questions a room may hold
	MaxEmojisPerRoom   = 64   // distinct reaction emoji per room
	LeaderboardSize    = 10
)

// Frame is one record of ovation.room-frames: the changes of one room since
// its previous frame, at a gapless Seq within Epoch.
type Frame struct {
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	// TS is the largest ingest timestamp (ms) of the events folded into
	// this frame, so delivery latency can be measured end to end.
	TS    int64 `json:"ts"`
	Delta Delta `json:"delta"`
}

// Snapshot is one record of ovation.room-snapshots (compacted by room): the
// room's full public state after frame Seq of Epoch.
type Snapshot struct {
	Room  string    `json:"room"`
	Epoch string    `json:"epoch"`
	Seq   uint64    `json:"seq"`
	TS    int64     `json:"ts"`
	State RoomState `json:"state"`
}

// RoomState is the public state of a room: what every viewer sees.
type RoomState struct {
	// Mod is the room's moderation state (controls and sanctions), absent
	// until a moderator first acts. It is the first field so that readers
	// that want only it (ingest's moderation view) find it at the start
	// of a snapshot's state.
	Mod         *Moderation          `json:"mod,omitempty"`
	Reactions   map[string]int64     `json:"reactions"`
	Chat        []ChatLine           `json:"chat"`
	Polls       map[string]*Poll     `json:"polls"`
	Questions   map[string]*Question `json:"questions"`
	Quizzes     map[string]*Quiz     `json:"quizzes"`
	Leaderboard []LeaderEntry        `json:"leaderboard"`
	Viewers     int64                `json:"viewers"`
	Totals      Totals               `json:"totals"`
	// Closed is set once a host closed the room (room.close): the room
	// takes no more events, and its state stays as it was.
	Closed bool `json:"closed,omitempty"`
	// Pinned is the chat line a moderator pinned (chat.pin), a copy that
	// stays while the line scrolls out of Chat.
	Pinned *ChatLine `json:"pinned,omitempty"`
	// Custom is the state of the deployment's custom types (custom.go),
	// by type name; absent until one counts in the room.
	Custom map[string]*Custom `json:"custom,omitempty"`
	// Held is a moderator view's pending queue (hold.go), by key; a
	// room's own state never has it.
	Held map[string]*HeldItem `json:"held,omitempty"`
}

// ChatLine is one chat message as viewers see it.
type ChatLine struct {
	ID   string `json:"id"`
	User string `json:"user"`
	Name string `json:"name,omitempty"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
}

// Poll is a poll's public state. Votes[i] counts the voters whose current
// vote is option i.
type Poll struct {
	Question string   `json:"question"`
	Options  []string `json:"options"`
	Votes    []int64  `json:"votes"`
	Closed   bool     `json:"closed"`
	PollKindState
}

// PollKindState is what the poll kinds of issue 16 add to a poll
// (interactions.go); all of it is absent on a single-choice poll.
//
//   - multi: Votes[i] counts the voters whose pick holds option i;
//     Voters counts the voters with a pick.
//   - ranking: Votes[i] is option i's Borda score (an option at position
//     p of a ballot over n options scores n-1-p; options left out score
//     0); Ranks[i][p] counts the ballots with option i at position p.
//   - rating: Votes[j] counts the ratings lo+j of the scale; the mean is
//     the sum of (lo+j)*Votes[j] over Voters (PollMean).
//   - text: Voters counts the answers; Texts holds the latest
//     PollTextWindow of them, oldest first.
type PollKindState struct {
	Kind     string     `json:"kind,omitempty"`
	MaxPicks int        `json:"max_picks,omitempty"`
	Scale    string     `json:"scale,omitempty"`
	Voters   int64      `json:"voters,omitempty"`
	Ranks    [][]int64  `json:"ranks,omitempty"`
	Texts    []PollText `json:"texts,omitempty"`
	// Words is a cloud poll's top CloudTop words, by count descending
	// then word; in a delta it replaces the list when present.
	Words []WordCount `json:"words,omitempty"`
	// StopWords is a cloud poll's stop-word languages, set at open.
	StopWords []string `json:"stop_words,omitempty"`
	// ClosesAt (event time, ms) is set on a timed poll (timers.go).
	ClosesAt int64 `json:"closes_at,omitempty"`
}

// Question is a Q&A question's public state.
type Question struct {
	User     string `json:"user"`
	Text     string `json:"text"`
	TS       int64  `json:"ts"`
	Upvotes  int64  `json:"upvotes"`
	Answered bool   `json:"answered"`
}

// Quiz is a quiz question's public state; Correct is set only once revealed.
type Quiz struct {
	Question string   `json:"question"`
	Options  []string `json:"options"`
	Points   int      `json:"points"`
	Answers  int64    `json:"answers"`
	Revealed bool     `json:"revealed"`
	Correct  *int     `json:"correct,omitempty"`
	// AskTS and ClosesAt (event time, ms) are set on a timed question:
	// answers count until ClosesAt and score by speed (QuizPoints).
	AskTS    int64 `json:"ask_ts,omitempty"`
	ClosesAt int64 `json:"closes_at,omitempty"`
}

// LeaderEntry is one row of the quiz leaderboard, ordered by Score
// descending, then by LastTS (the time of the user's last scoring answer)
// ascending, then by User.
type LeaderEntry struct {
	User   string `json:"user"`
	Score  int64  `json:"score"`
	LastTS int64  `json:"last_ts"`
}

// Totals counts the events that changed the room, by kind. Votes counts
// accepted poll.vote events (a moved vote counts again); Answers counts
// accepted quiz answers.
type Totals struct {
	Chat      int64 `json:"chat"`
	Reactions int64 `json:"reactions"`
	Votes     int64 `json:"votes"`
	Questions int64 `json:"questions"`
	Upvotes   int64 `json:"upvotes"`
	Answers   int64 `json:"answers"`
}

// Delta is the change of a room between two frames. Counters are additive;
// Leaderboard and Viewers replace when present. Removals apply first:
// ReactionsRemoved and QuestionsRemoved drop whole entries (an emoji slot
// with its count, a question with its upvotes) before Reactions and
// Questions of the same delta add, so a delta can remove a slot and then
// count new reactions in it again. Applying Merge(a, b) equals
// applying a then b, given what processors guarantee: chat line ids are
// unique in a room, a poll's or quiz's options and a question's text are
// set once, and a delta lists in ChatDeleted every line it evicts from the
// ChatHistory window (Apply's own trim is a safety net only: trimming does
// not compose with deletions, so a merged delta that relied on it would
// keep a line the room had already dropped).
type Delta struct {
	// Mod is the change of the moderation state; first, like
	// RoomState.Mod, so a frame that carries one is found by its prefix.
	Mod         *ModDelta                 `json:"mod,omitempty"`
	Reactions   map[string]int64          `json:"reactions,omitempty"`
	Chat        []ChatLine                `json:"chat,omitempty"`
	ChatDeleted []string                  `json:"chat_deleted,omitempty"` // deleted and evicted line ids
	Polls       map[string]*PollDelta     `json:"polls,omitempty"`
	Questions   map[string]*QuestionDelta `json:"questions,omitempty"`
	Quizzes     map[string]*QuizDelta     `json:"quizzes,omitempty"`
	Leaderboard []LeaderEntry             `json:"leaderboard,omitempty"`
	Viewers     *int64                    `json:"viewers,omitempty"`
	Totals      *Totals                   `json:"totals,omitempty"`
	// ReactionsRemoved lists the emoji whose slots a moderator removed
	// (reaction.remove); QuestionsRemoved the question ids (qa.remove).
	ReactionsRemoved []string `json:"reactions_removed,omitempty"`
	QuestionsRemoved []string `json:"questions_removed,omitempty"`
	// Closed is set in the delta of the frame that closed the room.
	Closed bool `json:"closed,omitempty"`
	// Unpinned takes the pinned line down, before Pinned (when present)
	// pins another.
	Unpinned bool      `json:"unpinned,omitempty"`
	Pinned   *ChatLine `json:"pinned,omitempty"`
	// Custom is the change of the custom types' state (custom_state.go).
	Custom map[string]*CustomDelta `json:"custom,omitempty"`
	// Held adds items to a moderator view's pending queue after
	// HeldRemoved (approved, rejected or dropped keys) takes others out.
	Held        map[string]*HeldItem `json:"held,omitempty"`
	HeldRemoved []string             `json:"held_removed,omitempty"`
}

// PollDelta is a poll's change. Question and Options are set when the poll
// was opened inside the delta; Votes[i] is the change of option i.
//
// The PollKindState fields: Kind, MaxPicks and Scale are set with the
// poll's opening (a rating or text poll has no options, so Kind marks
// it); Voters and Ranks add; Texts append, and a poll keeps the last
// PollTextWindow (trimming the end of a list composes with appending, so
// Merge stays exact).
type PollDelta struct {
	Question string   `json:"question,omitempty"`
	Options  []string `json:"options,omitempty"`
	Votes    []int64  `json:"votes,omitempty"`
	Closed   bool     `json:"closed,omitempty"`
	PollKindState
}

// QuestionDelta is a question's change. User, Text and TS are set when it
// was asked inside the delta; Upvotes is the change of its upvote count.
type QuestionDelta struct {
	User     string `json:"user,omitempty"`
	Text     string `json:"text,omitempty"`
	TS       int64  `json:"ts,omitempty"`
	Upvotes  int64  `json:"upvotes,omitempty"`
	Answered bool   `json:"answered,omitempty"`
}

// QuizDelta is a quiz question's change. Question, Options and Points are
// set when it was asked inside the delta; Correct when it was revealed.
type QuizDelta struct {
	Question string   `json:"question,omitempty"`
	Options  []string `json:"options,omitempty"`
	Points   int      `json:"points,omitempty"`
	Answers  int64    `json:"answers,omitempty"`
	Revealed bool     `json:"revealed,omitempty"`
	Correct  *int     `json:"correct,omitempty"`
	AskTS    int64    `json:"ask_ts,omitempty"`
	ClosesAt int64    `json:"closes_at,omitempty"`
}

// NewRoomState returns an empty room state with its maps allocated.
func NewRoomState() RoomState {
	return RoomState{
		Reactions:   map[string]int64{},
		Chat:        []ChatLine{},
		Polls:       map[string]*Poll{},
		Questions:   map[string]*Question{},
		Quizzes:     map[string]*Quiz{},
		Leaderboard: []LeaderEntry{},
	}
}

// IsEmpty reports whether d changes nothing.
func (d *Delta) IsEmpty() bool {
	return len(d.Reactions) == 0 && len(d.Chat) == 0 && len(d.ChatDeleted) == 0 &&
		len(d.Polls) == 0 && len(d.Questions) == 0 && len(d.Quizzes) == 0 &&
		d.Leaderboard == nil && d.Viewers == nil && d.Totals == nil &&
		len(d.ReactionsRemoved) == 0 && len(d.QuestionsRemoved) == 0 && !d.Closed && d.Mod.isEmpty() &&
		!d.Unpinned && d.Pinned == nil && len(d.Custom) == 0 &&
		len(d.Held) == 0 && len(d.HeldRemoved) == 0
}

// Apply folds d into s. It is the one definition of what a delta means:
// processors, pushers, tests and (ported) the TypeScript SDK use it.
func (s *RoomState) Apply(d *Delta) {
	s.ensure()
	if !d.Mod.isEmpty() {
		s.applyMod(d.Mod)
	}
	for _, e := range d.ReactionsRemoved {
		delete(s.Reactions, e)
	}
	for _, id := range d.QuestionsRemoved {
		delete(s.Questions, id)
	}
	for e, n := range d.Reactions {
		s.Reactions[e] += n
	}
	for id, pd := range d.Polls {
		if pd == nil {
			continue
		}
		p := s.Polls[id]
		if p == nil {
			p = &Poll{}
			s.Polls[id] = p
		}
		if pd.Options != nil || pd.Kind != "" {
			p.Question = pd.Question
			p.Options = slices.Clone(pd.Options)
			p.Kind, p.MaxPicks, p.Scale, p.ClosesAt = pd.Kind, pd.MaxPicks, pd.Scale, pd.ClosesAt
			p.StopWords = slices.Clone(pd.StopWords)
			if n := PollValues(p.Kind, p.Scale, len(p.Options)); len(p.Votes) < n {
				p.Votes = append(p.Votes, make([]int64, n-len(p.Votes))...)
			}
			if p.Options == nil {
				p.Options = []string{} // rating and text polls
			}
			if p.Votes == nil {
				p.Votes = []int64{} // text polls
			}
		}
		p.Votes = addCounts(p.Votes, pd.Votes)
		applyPollKind(&p.PollKindState, &pd.PollKindState)
		p.Closed = p.Closed || pd.Closed
	}
	for id, qd := range d.Questions {
		if qd == nil {
			continue
		}
		q := s.Questions[id]
		if q == nil {
			q = &Question{}
			s.Questions[id] = q
		}
		if qd.Text != "" {
			q.User, q.Text, q.TS = qd.User, qd.Text, qd.TS
		}
		q.Upvotes += qd.Upvotes
		q.Answered = q.Answered || qd.Answered
	}
	for id, zd := range d.Quizzes {
		if zd == nil {
			continue
		}
		z := s.Quizzes[id]
		if z == nil {
			z = &Quiz{}
			s.Quizzes[id] = z
		}
		if zd.Options != nil {
			z.Question, z.Options, z.Points = zd.Question, slices.Clone(zd.Options), zd.Points
			z.AskTS, z.ClosesAt = zd.AskTS, zd.ClosesAt
		}
		z.Answers += zd.Answers
		if zd.Revealed {
			z.Revealed = true
			if zd.Correct != nil {
				c := *zd.Correct
				z.Correct = &c
			}
		}
	}
	s.Chat = append(s.Chat, d.Chat...)
	if len(d.ChatDeleted) > 0 {
		s.Chat = slices.DeleteFunc(s.Chat, func(l ChatLine) bool { return slices.Contains(d.ChatDeleted, l.ID) })
	}
	if n := len(s.Chat) - ChatHistory; n > 0 {
		s.Chat = slices.Delete(s.Chat, 0, n)
	}
	if d.Leaderboard != nil {
		s.Leaderboard = slices.Clone(d.Leaderboard)
	}
	if d.Viewers != nil {
		s.Viewers = *d.Viewers
	}
	if t := d.Totals; t != nil {
		s.Totals.Chat += t.Chat
		s.Totals.Reactions += t.Reactions
		s.Totals.Votes += t.Votes
		s.Totals.Questions += t.Questions
		s.Totals.Upvotes += t.Upvotes
		s.Totals.Answers += t.Answers
	}
	s.Closed = s.Closed || d.Closed
	if d.Unpinned {
		s.Pinned = nil
	}
	if d.Pinned != nil {
		l := *d.Pinned
		s.Pinned = &l
	}
	s.Custom = applyCustom(s.Custom, d.Custom)
	if len(d.Held) > 0 || len(d.HeldRemoved) > 0 {
		s.applyHeld(d)
	}
}

// ChatEvictions returns the ids of the chat lines, oldest first, that
// applying d to s pushes out of the ChatHistory window. A processor appends
// them to d.ChatDeleted before it publishes d: trimming does not compose
// with deletions, and Merge is exact only when every eviction is explicit.
func (s *RoomState) ChatEvictions(d *Delta) []string {
	// Counted first, then collected: a processor calls this for every
	// frame with chat, and a full history has ChatHistory lines.
	kept := func(yield func(string) bool) {
		for _, list := range [2][]ChatLine{s.Chat, d.Chat} {
			for _, l := range list {
				if !slices.Contains(d.ChatDeleted, l.ID) && !yield(l.ID) {
					return
				}
			}
		}
	}
	n := 0
	for range kept {
		n++
	}
	if n -= ChatHistory; n <= 0 {
		return nil
	}
	ids := make([]string, 0, n)
	for id := range kept {
		if ids = append(ids, id); len(ids) == n {
			break
		}
	}
	return ids
}

// ensure allocates whatever maps and slices s lacks, so a RoomState that
// was decoded with missing fields, or declared as a zero value, is usable.
func (s *RoomState) ensure() {
	if s.Reactions == nil {
		s.Reactions = map[string]int64{}
	}
	if s.Chat == nil {
		s.Chat = []ChatLine{}
	}
	if s.Polls == nil {
		s.Polls = map[string]*Poll{}
	}
	if s.Questions == nil {
		s.Questions = map[string]*Question{}
	}
	if s.Quizzes == nil {
		s.Quizzes = map[string]*Quiz{}
	}
	if s.Leaderboard == nil {
		s.Leaderboard = []LeaderEntry{}
	}
}

// Merge returns one delta equal to applying a then b; neither is modified.
// Pushers use it to collapse the queue of a client that fell behind.
func Merge(a, b *Delta) Delta {
	var m Delta
	// A slot or question b removes is gone whatever a added to it: only
	// b's own additions survive, after the removal. What a removed stays
	// removed (b may add it again; Apply removes before it adds).
	m.ReactionsRemoved = mergeRemoved(a.ReactionsRemoved, b.ReactionsRemoved)
	m.QuestionsRemoved = mergeRemoved(a.QuestionsRemoved, b.QuestionsRemoved)
	aReactions, aQuestions := a.Reactions, a.Questions
	if len(b.ReactionsRemoved) > 0 && len(aReactions) > 0 {
		aReactions = maps.Clone(aReactions)
		for _, e := range b.ReactionsRemoved {
			delete(aReactions, e)
		}
	}
	if len(b.QuestionsRemoved) > 0 && len(aQuestions) > 0 {
		aQuestions = maps.Clone(aQuestions)
		for _, id := range b.QuestionsRemoved {
			delete(aQuestions, id)
		}
	}
	m.Closed = a.Closed || b.Closed
	m.Mod = mergeMod(a.Mod, b.Mod)
	mergeHeld(&m, a, b)
	m.Unpinned = a.Unpinned || b.Unpinned
	for _, p := range []*ChatLine{a.Pinned, b.Pinned} {
		if p != nil {
			l := *p
			m.Pinned = &l
		}
	}
	if b.Unpinned && b.Pinned == nil {
		m.Pinned = nil
	}
	m.Reactions = mergeCounts(aReactions, b.Reactions)
	m.Chat = append(slices.Clone(a.Chat), b.Chat...)
	m.ChatDeleted = append(slices.Clone(a.ChatDeleted), b.ChatDeleted...)
	if len(a.Polls)+len(b.Polls) > 0 {
		m.Polls = make(map[string]*PollDelta, len(a.Polls)+len(b.Polls))
		for _, src := range []map[string]*PollDelta{a.Polls, b.Polls} {
			for id, pd := range src {
				if pd == nil {
					continue
				}
				cur := m.Polls[id]
				if cur == nil {
					cur = &PollDelta{}
					m.Polls[id] = cur
				}
				if pd.Options != nil || pd.Kind != "" {
					cur.Question, cur.Options = pd.Question, slices.Clone(pd.Options)
					cur.Kind, cur.MaxPicks, cur.Scale, cur.ClosesAt = pd.Kind, pd.MaxPicks, pd.Scale, pd.ClosesAt
					cur.StopWords = slices.Clone(pd.StopWords)
				}
				cur.Votes = addCounts(cur.Votes, pd.Votes)
				applyPollKind(&cur.PollKindState, &pd.PollKindState)
				cur.Closed = cur.Closed || pd.Closed
			}
		}
	}
	if len(aQuestions)+len(b.Questions) > 0 {
		m.Questions = make(map[string]*QuestionDelta, len(aQuestions)+len(b.Questions))
		for _, src := range []map[string]*QuestionDelta{aQuestions, b.Questions} {
			for id, qd := range src {
				if qd == nil {
					continue
				}
				cur := m.Questions[id]
				if cur == nil {
					cur = &QuestionDelta{}
					m.Questions[id] = cur
				}
				if qd.Text != "" {
					cur.User, cur.Text, cur.TS = qd.User, qd.Text, qd.TS
				}
				cur.Upvotes += qd.Upvotes
				cur.Answered = cur.Answered || qd.Answered
			}
		}
	}
	if len(a.Quizzes)+len(b.Quizzes) > 0 {
		m.Quizzes = make(map[string]*QuizDelta, len(a.Quizzes)+len(b.Quizzes))
		for _, src := range []map[string]*QuizDelta{a.Quizzes, b.Quizzes} {
			for id, zd := range src {
				if zd == nil {
					continue
				}
				cur := m.Quizzes[id]
				if cur == nil {
					cur = &QuizDelta{}
					m.Quizzes[id] = cur
				}
				if zd.Options != nil {
					cur.Question, cur.Options, cur.Points = zd.Question, slices.Clone(zd.Options), zd.Points
					cur.AskTS, cur.ClosesAt = zd.AskTS, zd.ClosesAt
				}
				cur.Answers += zd.Answers
				if zd.Revealed {
					cur.Revealed = true
					if zd.Correct != nil {
						c := *zd.Correct
						cur.Correct = &c
					}
				}
			}
		}
	}
	m.Leaderboard = a.Leaderboard
	if b.Leaderboard != nil {
		m.Leaderboard = b.Leaderboard
	}
	m.Leaderboard = slices.Clone(m.Leaderboard)
	// Copy the viewer count rather than share a's or b's pointer: the
	// result must not change when the inputs are reused.
	for _, src := range []*int64{a.Viewers, b.Viewers} {
		if src != nil {
			v := *src
			m.Viewers = &v
		}
	}
	if a.Totals != nil || b.Totals != nil {
		t := Totals{}
		for _, src := range []*Totals{a.Totals, b.Totals} {
			if src != nil {
				t.Chat += src.Chat
				t.Reactions += src.Reactions
				t.Votes += src.Votes
				t.Questions += src.Questions
				t.Upvotes += src.Upvotes
				t.Answers += src.Answers
			}
		}
		m.Totals = &t
	}
	if len(m.Chat) == 0 {
		m.Chat = nil
	}
	if len(m.ChatDeleted) == 0 {
		m.ChatDeleted = nil
	}
	m.Custom = mergeCustom(a.Custom, b.Custom)
	return m
}

// mergeRemoved returns the union of a and b in first-seen order, or nil.
func mergeRemoved(a, b []string) []string {
	if len(a)+len(b) == 0 {
		return nil
	}
	m := slices.Clone(a)
	for _, k := range b {
		if !slices.Contains(m, k) {
			m = append(m, k)
		}
	}
	return m
}

func mergeCounts(a, b map[string]int64) map[string]int64 {
	if len(a)+len(b) == 0 {
		return nil
	}
	m := make(map[string]int64, len(a)+len(b))
	for k, v := range a {
		m[k] += v
	}
	for k, v := range b {
		m[k] += v
	}
	return m
}

// Clone returns a deep copy of s.
func (s *RoomState) Clone() RoomState {
	c := NewRoomState()
	for k, v := range s.Reactions {
		c.Reactions[k] = v
	}
	c.Chat = slices.Clone(s.Chat)
	if c.Chat == nil {
		c.Chat = []ChatLine{}
	}
	for id, p := range s.Polls {
		if p == nil {
			continue
		}
		cp := *p
		cp.Options, cp.Votes = slices.Clone(p.Options), slices.Clone(p.Votes)
		cp.PollKindState = p.PollKindState.Clone()
		c.Polls[id] = &cp
	}
	for id, q := range s.Questions {
		if q == nil {
			continue
		}
		cq := *q
		c.Questions[id] = &cq
	}
	for id, z := range s.Quizzes {
		if z == nil {
			continue
		}
		cz := *z
		cz.Options = slices.Clone(z.Options)
		if z.Correct != nil {
			v := *z.Correct
			cz.Correct = &v
		}
		c.Quizzes[id] = &cz
	}
	c.Leaderboard = slices.Clone(s.Leaderboard)
	if c.Leaderboard == nil {
		c.Leaderboard = []LeaderEntry{}
	}
	c.Viewers, c.Totals, c.Closed = s.Viewers, s.Totals, s.Closed
	c.Mod = s.Mod.clone()
	c.Held = cloneHeld(s.Held)
	if s.Pinned != nil {
		l := *s.Pinned
		c.Pinned = &l
	}
	c.Custom = cloneCustom(s.Custom)
	return c
}

// MarshalFrame encodes f with the project's JSON codec.
func MarshalFrame(f *Frame) ([]byte, error) { return json.Marshal(f) }

// UnmarshalFrame decodes a frame record value.
func UnmarshalFrame(b []byte) (Frame, error) {
	var f Frame
	if err := decodeStrict(b, &f, ""); err != nil {
		return f, err
	}
	if err := CheckStream(f.Room); err != nil {
		return f, err
	}
	if f.Seq == 0 {
		return f, &ValidationError{Field: "seq", Rule: RuleRange, Detail: "frame seq starts at 1"}
	}
	if err := f.Delta.normalize(); err != nil {
		return f, err
	}
	return f, nil
}

// normalize rejects null entries (a client folding them would crash) and
// turns empty collections into absent ones. The encoder omits empty
// collections, so "present but empty" cannot survive a re-encode; reading
// it as absent keeps a frame's meaning identical before and after one (an
// empty options list would otherwise reset a poll, an empty leaderboard
// clear it).
func (d *Delta) normalize() error {
	if d.Mod != nil {
		if len(d.Mod.Sanctions) == 0 {
			d.Mod.Sanctions = nil
		}
		if len(d.Mod.Lifted) == 0 {
			d.Mod.Lifted = nil
		}
		if d.Mod.isEmpty() {
			d.Mod = nil
		}
	}
	if len(d.Reactions) == 0 {
		d.Reactions = nil
	}
	if len(d.HeldRemoved) == 0 {
		d.HeldRemoved = nil
	}
	if len(d.Held) == 0 {
		d.Held = nil
	}
	for k, h := range d.Held {
		if h == nil {
			return nullEntry("delta.held", k)
		}
	}
	if len(d.Chat) == 0 {
		d.Chat = nil
	}
	if len(d.ChatDeleted) == 0 {
		d.ChatDeleted = nil
	}
	if len(d.ReactionsRemoved) == 0 {
		d.ReactionsRemoved = nil
	}
	if len(d.QuestionsRemoved) == 0 {
		d.QuestionsRemoved = nil
	}
	if len(d.Leaderboard) == 0 {
		d.Leaderboard = nil
	}
	if len(d.Polls) == 0 {
		d.Polls = nil
	}
	for id, p := range d.Polls {
		if p == nil {
			return nullEntry("delta.polls", id)
		}
		if len(p.Options) == 0 {
			p.Options = nil
		}
		if len(p.Votes) == 0 {
			p.Votes = nil
		}
		p.PollKindState.normalize()
	}
	if len(d.Questions) == 0 {
		d.Questions = nil
	}
	for id, q := range d.Questions {
		if q == nil {
			return nullEntry("delta.questions", id)
		}
	}
	if len(d.Quizzes) == 0 {
		d.Quizzes = nil
	}
	for id, z := range d.Quizzes {
		if z == nil {
			return nullEntry("delta.quizzes", id)
		}
		if len(z.Options) == 0 {
			z.Options = nil
		}
	}
	var err error
	d.Custom, err = normalizeCustom(d.Custom)
	return err
}

func nullEntry(field, id string) error {
	return &ValidationError{Field: field + "." + truncate(id, 40), Rule: RuleType, Detail: "expected an object, got null"}
}

// MarshalSnapshot encodes s with the project's JSON codec.
func MarshalSnapshot(s *Snapshot) ([]byte, error) { return json.Marshal(s) }

// UnmarshalSnapshot decodes a snapshot record value.
func UnmarshalSnapshot(b []byte) (Snapshot, error) {
	var s Snapshot
	if err := decodeStrict(b, &s, ""); err != nil {
		return s, err
	}
	if err := CheckStream(s.Room); err != nil {
		return s, err
	}
	for k, h := range s.State.Held {
		if h == nil {
			return s, nullEntry("state.held", k)
		}
	}
	for id, p := range s.State.Polls {
		if p == nil {
			return s, nullEntry("state.polls", id)
		}
	}
	for id, q := range s.State.Questions {
		if q == nil {
			return s, nullEntry("state.questions", id)
		}
	}
	for id, z := range s.State.Quizzes {
		if z == nil {
			return s, nullEntry("state.quizzes", id)
		}
	}
	for name, c := range s.State.Custom {
		if c == nil {
			return s, nullEntry("state.custom", name)
		}
	}
	s.State.ensure()
	return s, nil
}
