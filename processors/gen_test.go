package processors

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// gen makes a realistic random event stream over some rooms: polls opened
// then voted on (and votes changed), reactions, chat and deletes, Q&A,
// quizzes answered and revealed, client retries (a repeated id), and now
// and then an event naming a poll, quiz or question that does not exist.
type gen struct {
	// moderation mixes in bans, timeouts, unbans and room controls
	// (off by default, so the streams of existing seeds stay the same).
	moderation bool
	// hold mixes in hold-for-review controls, approvals and rejections
	// (off by default, for the same reason).
	hold bool
	// deployment, when set, mixes in deployment-wide bans, timeouts,
	// unbans and filters published to that room (deployment_kafka_test.go).
	deployment string
	rnd        *rand.Rand
	rooms      []*genRoom
	n          int
	last       []*schemas.Event
}

type genRoom struct {
	id                       string
	polls, quizzes, qs, msgs []string
	openPolls, openQuizzes   []string
	nPoll, nQuiz             int
}

func newGen(seed uint64, rooms int) *gen {
	g := &gen{rnd: rand.New(rand.NewPCG(seed, seed*7+1))}
	for i := range rooms {
		g.rooms = append(g.rooms, &genRoom{id: fmt.Sprintf("room%d", i)})
	}
	return g
}

func (g *gen) pick(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return s[g.rnd.IntN(len(s))]
}

// next returns the next event at ts. About 2% are retries of an earlier
// event (same id, same body).
func (g *gen) next(t testing.TB, ts int64) *schemas.Event {
	if len(g.last) > 0 && g.rnd.IntN(50) == 0 {
		return g.last[g.rnd.IntN(len(g.last))]
	}
	if g.deployment != "" && g.rnd.IntN(1000) < 12 {
		g.n++
		return g.deploymentEvent(t, fmt.Sprintf("ev%d", g.n), ts)
	}
	r := g.rooms[g.rnd.IntN(len(g.rooms))]
	g.n++
	id := fmt.Sprintf("ev%d", g.n)
	user := fmt.Sprintf("user%d", g.rnd.IntN(30))
	var typ schemas.Type
	var data any
	if g.hold && g.rnd.IntN(1000) < 60 {
		var typ schemas.Type
		var data any
		recent := append(slices.Clone(r.msgs[max(0, len(r.msgs)-20):]), r.qs[max(0, len(r.qs)-5):]...)
		switch k := g.rnd.IntN(10); {
		case k < 1:
			typ, data = schemas.RoomControls, schemas.Controls{HoldChat: g.rnd.IntN(2) == 0, HoldQuestions: g.rnd.IntN(2) == 0, SlowMode: []int{0, 0, 1}[g.rnd.IntN(3)]}
		case k < 7:
			typ, data = schemas.ModApprove, schemas.ModApproveData{ID: g.pick(recent)}
		default:
			typ, data = schemas.ModReject, schemas.ModRejectData{ID: g.pick(recent)}
		}
		return ev(t, id, r.id, "mod", typ, ts, data)
	}
	if g.moderation && g.rnd.IntN(1000) < 40 {
		target := fmt.Sprintf("user%d", g.rnd.IntN(30))
		switch k := g.rnd.IntN(8); {
		case k < 1:
			typ, data = schemas.ModBan, schemas.ModBanData{Target: target, Reason: "spam", Hide: g.rnd.IntN(2) == 0}
		case k < 4:
			typ, data = schemas.ModTimeout, schemas.ModTimeoutData{Target: target, Seconds: 1 + g.rnd.IntN(5), Hide: g.rnd.IntN(4) == 0}
		case k < 6:
			typ, data = schemas.ModUnban, schemas.ModUnbanData{Target: target}
		default:
			c := schemas.Controls{SlowMode: []int{0, 0, 1, 2, 3}[g.rnd.IntN(5)]}
			switch g.rnd.IntN(10) {
			case 0:
				c.ChatOff = true
			case 1:
				c.ReactionsOff = true
			case 2:
				c.QuestionsOff = true
			case 3:
				c.EmoteOnly = true
			}
			typ, data = schemas.RoomControls, c
		}
		e := ev(t, id, r.id, "mod", typ, ts, data)
		return e
	}
	switch k := g.rnd.IntN(100); {
	case k < 3 && r.nPoll < 20:
		r.nPoll++
		pid := fmt.Sprintf("poll%d", r.nPoll)
		r.polls = append(r.polls, pid)
		r.openPolls = append(r.openPolls, pid)
		typ, data = schemas.PollOpen, schemas.PollOpenData{PollID: pid, Question: "Which?", Options: []string{"a", "b", "c", "d"}[:2+g.rnd.IntN(3)]}
	case k < 30:
		pid := g.pick(r.openPolls)
		if g.rnd.IntN(20) == 0 {
			pid = g.pick(r.polls) // maybe closed
		}
		typ, data = schemas.PollVote, schemas.PollVoteData{PollID: pid, Option: g.rnd.IntN(4)}
	case k < 31 && len(r.openPolls) > 0:
		i := g.rnd.IntN(len(r.openPolls))
		pid := r.openPolls[i]
		r.openPolls = slices.Delete(r.openPolls, i, i+1)
		typ, data = schemas.PollClose, schemas.PollCloseData{PollID: pid}
	case k < 55:
		typ, data = schemas.Reaction, schemas.ReactionData{Emoji: []string{"👏", "🔥", "😂", "❤️"}[g.rnd.IntN(4)]}
	case k < 70:
		r.msgs = append(r.msgs, id)
		text := "message " + id
		if g.moderation && g.rnd.IntN(4) == 0 {
			text = "👏 🔥"
		}
		typ, data = schemas.ChatMessage, schemas.ChatMessageData{Text: text, Name: strings.ToUpper(user)}
	case k < 72:
		typ, data = schemas.ChatDelete, schemas.ChatDeleteData{MessageID: g.pick(r.msgs)}
	case k < 76:
		r.qs = append(r.qs, id)
		typ, data = schemas.QAAsk, schemas.QAAskData{Text: "question " + id}
	case k < 84:
		typ, data = schemas.QAUpvote, schemas.QAUpvoteData{QuestionID: g.pick(r.qs)}
	case k < 85:
		typ, data = schemas.QAAnswered, schemas.QAAnsweredData{QuestionID: g.pick(r.qs)}
	case k < 87 && r.nQuiz < 20:
		r.nQuiz++
		zid := fmt.Sprintf("quiz%d", r.nQuiz)
		r.quizzes = append(r.quizzes, zid)
		r.openQuizzes = append(r.openQuizzes, zid)
		typ, data = schemas.QuizAsk, schemas.QuizAskData{QuizID: zid, Question: "?", Options: []string{"x", "y", "z"}, Correct: g.rnd.IntN(3), Points: g.rnd.IntN(10)}
	case k < 98:
		typ, data = schemas.QuizAnswer, schemas.QuizAnswerData{QuizID: g.pick(r.openQuizzes), Option: g.rnd.IntN(3)}
	default:
		if len(r.openQuizzes) == 0 {
			typ, data = schemas.Reaction, schemas.ReactionData{Emoji: "👏"}
			break
		}
		i := g.rnd.IntN(len(r.openQuizzes))
		zid := r.openQuizzes[i]
		r.openQuizzes = slices.Delete(r.openQuizzes, i, i+1)
		typ, data = schemas.QuizReveal, schemas.QuizRevealData{QuizID: zid}
	}
	e := ev(t, id, r.id, user, typ, ts, data)
	if len(g.last) < 200 {
		g.last = append(g.last, e)
	} else {
		g.last[g.rnd.IntN(len(g.last))] = e
	}
	return e
}

// model is an independent, deliberately naive implementation of the
// semantics of DESIGN.md that computes public state directly, without
// deltas, frames or the core's code. Tests compare the processor against
// it.
type model struct {
	rooms map[string]*mroom
	// dep is the deployment table the next events are judged by (the
	// one of their partition, as deployment_kafka_test.go reads the log);
	// nil: none.
	dep *mdep
}

type mroom struct {
	st      schemas.RoomState
	seen    map[string]bool
	votes   map[string]map[string]int
	ups     map[string]map[string]bool
	answers map[string]map[string]answer
	correct map[string]int
	scores  map[string]*schemas.LeaderEntry
	openQs  map[string]int    // user → open questions (the per-user cap)
	emojiBy map[string]string // emoji slot → who opened it
	closed  bool
	// Moderation, naively: sanctions by user, the controls, each user's
	// last chat line ts; refused counts moderation refusals by reason.
	sanctions map[string]schemas.Sanction
	controls  schemas.Controls
	lastChat  map[string]int64
	refused   map[string]int
	// refusedIDs holds (user, id) of every event moderation refused.
	refusedIDs map[string]bool
	// held is the pending queue by key (hold for review).
	held map[string]schemas.HeldItem
	// nHeld, nApproved and nRejected count what hold for review did.
	nHeld, nApproved, nRejected int
	dropped                     []schemas.HeldItem // rejected, or hidden with their writer
	kinds                       *kindModel         // poll kinds (interactions_test.go)
	dep                         *mdep              // the model's dep when the event came
}

// modelOpenQuestions is Config.MaxOpenQuestionsPerUser's default.
const modelOpenQuestions = 10

// modelEmojisPerUser is Config.MaxEmojisPerUser's default.
const modelEmojisPerUser = 4

func newModel() *model { return &model{rooms: map[string]*mroom{}} }

// apply folds e and reports whether it changed the room (accepted).
func (m *model) apply(e *schemas.Event) bool {
	r := m.rooms[e.Room]
	if r == nil {
		r = &mroom{st: schemas.NewRoomState(), seen: map[string]bool{}, votes: map[string]map[string]int{},
			ups: map[string]map[string]bool{}, answers: map[string]map[string]answer{}, correct: map[string]int{},
			scores: map[string]*schemas.LeaderEntry{}, openQs: map[string]int{}, emojiBy: map[string]string{}}
	}
	if r.seen[e.User+"\x00"+e.ID] || r.closed {
		return false
	}
	s := &r.st
	r.dep = m.dep
	reason := r.moderated(e)
	if reason == "" {
		switch d := e.Body.(type) {
		case *schemas.ChatMessageData:
			if text, ok := r.dep.filter(d.Text); !ok {
				reason = "filtered"
			} else if text != d.Text {
				c := *d
				c.Text = text
				e = &schemas.Event{ID: e.ID, Room: e.Room, User: e.User, Type: e.Type, TS: e.TS, Body: &c}
			}
		case *schemas.QAAskData:
			if text, ok := r.dep.filter(d.Text); !ok {
				reason = "filtered"
			} else if text != d.Text {
				c := *d
				c.Text = text
				e = &schemas.Event{ID: e.ID, Room: e.Room, User: e.User, Type: e.Type, TS: e.TS, Body: &c}
			}
		}
	}
	if reason != "" {
		if r.refused == nil {
			r.refused, r.refusedIDs = map[string]int{}, map[string]bool{}
		}
		r.refused[reason]++
		r.refusedIDs[e.User+"\x00"+e.ID] = true
		return false
	}
	switch d := e.Body.(type) {
	case *schemas.ChatMessageData:
		if r.controls.HoldChat {
			if _, ok := r.chatID(e); !ok || !r.hold(e, schemas.HeldChat, d.Name, d.Text) {
				return false
			}
			break
		}
		if !r.addChat(e, d.Name, d.Text) {
			return false
		}
	case *schemas.ModApproveData:
		h, ok := r.held[d.ID]
		if !ok {
			return false
		}
		he := &schemas.Event{ID: h.ID, User: h.User, TS: h.TS}
		if h.Kind == schemas.HeldChat && !r.addChat(he, h.Name, h.Text) || h.Kind == schemas.HeldQuestion && !r.addQuestion(he, h.Text) {
			return false
		}
		delete(r.held, d.ID)
		r.nApproved++
	case *schemas.ModRejectData:
		if _, ok := r.held[d.ID]; !ok {
			return false
		}
		r.dropped = append(r.dropped, r.held[d.ID])
		delete(r.held, d.ID)
		r.nRejected++
	case *schemas.ChatDeleteData:
		i := slices.IndexFunc(s.Chat, func(l schemas.ChatLine) bool { return l.ID == d.MessageID })
		if i < 0 {
			return false
		}
		s.Chat = slices.Delete(s.Chat, i, i+1)
	case *schemas.ReactionData:
		if _, ok := s.Reactions[d.Emoji]; !ok {
			mine := 0
			for _, u := range r.emojiBy {
				if u == e.User {
					mine++
				}
			}
			if len(s.Reactions) >= schemas.MaxEmojisPerRoom || mine >= modelEmojisPerUser {
				return false
			}
			r.emojiBy[d.Emoji] = e.User
		}
		s.Reactions[d.Emoji]++
		s.Totals.Reactions++
	case *schemas.PollOpenData:
		if s.Polls[d.PollID] != nil {
			return false
		}
		if d.Kind != "" || d.Seconds > 0 {
			r.openKind(d, e.TS)
			break
		}
		s.Polls[d.PollID] = &schemas.Poll{Question: d.Question, Options: d.Options, Votes: make([]int64, len(d.Options))}
		r.votes[d.PollID] = map[string]int{}
	case *schemas.PollVoteData:
		p := s.Polls[d.PollID]
		if p == nil || p.Closed || d.Option >= len(p.Options) || p.Kind != "" && p.Kind != schemas.PollSingle ||
			p.ClosesAt > 0 && e.TS > p.ClosesAt {
			return false
		}
		prev, had := r.votes[d.PollID][e.User]
		if had && prev == d.Option {
			return false
		}
		if had {
			p.Votes[prev]--
		}
		p.Votes[d.Option]++
		r.votes[d.PollID][e.User] = d.Option
		s.Totals.Votes++
	case *schemas.PollCloseData:
		p := s.Polls[d.PollID]
		if p == nil || p.Closed {
			return false
		}
		p.Closed = true
	case *schemas.QAAskData:
		if r.controls.HoldQuestions {
			id := e.ID
			if q := s.Questions[id]; q != nil {
				if q.User == e.User {
					return false
				}
				id = scopedID(e.User, e.ID)
			}
			if s.Questions[id] != nil || !r.hold(e, schemas.HeldQuestion, "", d.Text) {
				return false
			}
			break
		}
		if !r.addQuestion(e, d.Text) {
			return false
		}
	case *schemas.ReactionRemoveData:
		if _, ok := s.Reactions[d.Emoji]; !ok {
			return false
		}
		delete(s.Reactions, d.Emoji)
		delete(r.emojiBy, d.Emoji)
	case *schemas.QARemoveData:
		q := s.Questions[d.QuestionID]
		if q == nil {
			return false
		}
		if !q.Answered {
			r.openQs[q.User]--
		}
		delete(s.Questions, d.QuestionID)
		delete(r.ups, d.QuestionID)
	case *schemas.RoomCloseData:
		r.closed = true
		s.Closed = true
	case *schemas.ModBanData:
		if !r.sanction(e, d.Target, schemas.Sanction{Kind: schemas.SanctionBan, By: e.User, TS: e.TS, Reason: d.Reason}, d.Hide) {
			return false
		}
	case *schemas.ModTimeoutData:
		if !r.sanction(e, d.Target, schemas.Sanction{Kind: schemas.SanctionTimeout, Until: e.TS + int64(d.Seconds)*1000, By: e.User, TS: e.TS, Reason: d.Reason}, d.Hide) {
			return false
		}
	case *schemas.ModUnbanData:
		if _, ok := r.sanctions[d.Target]; !ok {
			return false
		}
		delete(r.sanctions, d.Target)
		r.syncMod()
	case *schemas.Controls:
		r.controls = *d
		if d.SlowMode == 0 {
			r.lastChat = nil
		}
		r.syncMod()
	case *schemas.QAUpvoteData:
		q := s.Questions[d.QuestionID]
		if q == nil || r.ups[d.QuestionID][e.User] {
			return false
		}
		r.ups[d.QuestionID][e.User] = true
		q.Upvotes++
		s.Totals.Upvotes++
	case *schemas.QAAnsweredData:
		q := s.Questions[d.QuestionID]
		if q == nil || q.Answered {
			return false
		}
		q.Answered = true
		r.openQs[q.User]--
	case *schemas.QuizAskData:
		if s.Quizzes[d.QuizID] != nil {
			return false
		}
		pts := cmp.Or(d.Points, 1)
		s.Quizzes[d.QuizID] = &schemas.Quiz{Question: d.Question, Options: d.Options, Points: pts}
		r.answers[d.QuizID] = map[string]answer{}
		r.correct[d.QuizID] = d.Correct
	case *schemas.QuizAnswerData:
		z := s.Quizzes[d.QuizID]
		if z == nil || z.Revealed || d.Option >= len(z.Options) {
			return false
		}
		if _, ok := r.answers[d.QuizID][e.User]; ok {
			return false
		}
		r.answers[d.QuizID][e.User] = answer{opt: d.Option, ts: e.TS}
		z.Answers++
		s.Totals.Answers++
	case *schemas.QuizRevealData:
		z := s.Quizzes[d.QuizID]
		if z == nil || z.Revealed {
			return false
		}
		z.Revealed = true
		c := r.correct[d.QuizID]
		z.Correct = &c
		for u, a := range r.answers[d.QuizID] {
			if a.opt == c {
				sc := r.scores[u]
				if sc == nil {
					sc = &schemas.LeaderEntry{User: u}
					r.scores[u] = sc
				}
				sc.Score += int64(z.Points)
				sc.LastTS = max(sc.LastTS, a.ts)
			}
		}
		var all []schemas.LeaderEntry
		for _, sc := range r.scores {
			all = append(all, *sc)
		}
		slices.SortFunc(all, compareLeader)
		s.Leaderboard = all[:min(len(all), schemas.LeaderboardSize)]
	case *schemas.PollPickData, *schemas.PollRankData, *schemas.PollRateData, *schemas.PollTextData:
		if !r.voteKind(e) {
			return false
		}
	default:
		return false
	}
	r.seen[e.User+"\x00"+e.ID] = true
	m.rooms[e.Room] = r
	return true
}

// chatID is the id e's line takes: its id, or a derived one when
// another user's line has it; ok is false for a duplicate.
func (r *mroom) chatID(e *schemas.Event) (string, bool) {
	s := &r.st
	id := e.ID
	for _, try := range []string{e.ID, scopedID(e.User, e.ID)} {
		i := slices.IndexFunc(s.Chat, func(l schemas.ChatLine) bool { return l.ID == try })
		if i >= 0 && s.Chat[i].User == e.User {
			return "", false
		}
		if id = try; i < 0 {
			break
		}
		id = ""
	}
	return id, id != ""
}

// addChat appends e's line, as a chat.message or an approval does.
func (r *mroom) addChat(e *schemas.Event, name, text string) bool {
	s := &r.st
	id, ok := r.chatID(e)
	if !ok {
		return false
	}
	s.Chat = append(s.Chat, schemas.ChatLine{ID: id, User: e.User, Name: name, Text: text, TS: e.TS})
	if _, ok := e.Body.(*schemas.ChatMessageData); ok {
		r.noteChat(e)
	}
	if len(s.Chat) > schemas.ChatHistory {
		s.Chat = s.Chat[1:]
	}
	s.Totals.Chat++
	return true
}

// noteChat records e's ts for slow mode.
func (r *mroom) noteChat(e *schemas.Event) {
	if r.controls.SlowMode > 0 {
		if r.lastChat == nil {
			r.lastChat = map[string]int64{}
		}
		r.lastChat[e.User] = e.TS
	}
}

// addQuestion adds e's question, as a qa.ask or an approval does.
func (r *mroom) addQuestion(e *schemas.Event, text string) bool {
	s := &r.st
	id := e.ID
	if q := s.Questions[id]; q != nil {
		if q.User == e.User {
			return false
		}
		id = scopedID(e.User, e.ID)
	}
	if s.Questions[id] != nil || r.openQs[e.User] >= modelOpenQuestions {
		return false
	}
	r.openQs[e.User]++
	s.Questions[id] = &schemas.Question{User: e.User, Text: text, TS: e.TS}
	r.ups[id] = map[string]bool{}
	s.Totals.Questions++
	return true
}

// hold puts e into the pending queue: its key is its id, or the derived
// one when another user's held item has the id.
func (r *mroom) hold(e *schemas.Event, kind, name, text string) bool {
	key := e.ID
	if h, ok := r.held[key]; ok {
		if h.User == e.User && h.ID == e.ID {
			return false
		}
		key = scopedID(e.User, e.ID)
		if _, ok := r.held[key]; ok {
			return false
		}
	}
	if len(r.held) >= schemas.MaxHeldPerRoom {
		return false
	}
	if r.held == nil {
		r.held = map[string]schemas.HeldItem{}
	}
	r.held[key] = schemas.HeldItem{Kind: kind, User: e.User, ID: e.ID, Name: name, Text: text, TS: e.TS}
	r.nHeld++
	if kind == schemas.HeldChat {
		r.noteChat(e)
	}
	return true
}

// moderated is the model's moderation check: sanctions by the event's ts,
// then the controls, then slow mode.
func (r *mroom) moderated(e *schemas.Event) string {
	if sn, ok := r.sanctions[e.User]; ok && (sn.Until == 0 || e.TS < sn.Until) {
		if sn.Kind == schemas.SanctionTimeout {
			return "timed_out"
		}
		return "banned"
	}
	if sn, ok := r.dep.sanction(e.User); ok && (sn.Until == 0 || e.TS < sn.Until) {
		if sn.Kind == schemas.SanctionTimeout {
			return "timed_out"
		}
		return "banned"
	}
	switch d := e.Body.(type) {
	case *schemas.ChatMessageData:
		switch {
		case r.controls.ChatOff:
			return "chat_off"
		case r.controls.EmoteOnly && !schemas.IsEmoteOnly(d.Text):
			return "emote_only"
		}
		if last, ok := r.lastChat[e.User]; ok && r.controls.SlowMode > 0 && e.TS-last < int64(r.controls.SlowMode)*1000 {
			return "slow_mode"
		}
	case *schemas.ReactionData:
		if r.controls.ReactionsOff {
			return "reactions_off"
		}
	case *schemas.QAAskData:
		if r.controls.QuestionsOff {
			return "questions_off"
		}
	}
	return ""
}

// sanction bans or times out target; ended timeouts leave first.
func (r *mroom) sanction(e *schemas.Event, target string, sn schemas.Sanction, hide bool) bool {
	for u, old := range r.sanctions {
		if old.Until != 0 && old.Until <= e.TS {
			delete(r.sanctions, u)
		}
	}
	if _, had := r.sanctions[target]; !had && len(r.sanctions) >= schemas.MaxSanctionsPerRoom {
		return false
	}
	if r.sanctions == nil {
		r.sanctions = map[string]schemas.Sanction{}
	}
	r.sanctions[target] = sn
	if hide {
		for k, h := range r.held {
			if h.User == target {
				r.dropped = append(r.dropped, h)
				delete(r.held, k)
			}
		}
		s := &r.st
		s.Chat = slices.DeleteFunc(s.Chat, func(l schemas.ChatLine) bool { return l.User == target })
		for id, q := range s.Questions {
			if q.User != target {
				continue
			}
			if !q.Answered {
				r.openQs[q.User]--
			}
			delete(s.Questions, id)
			delete(r.ups, id)
		}
	}
	r.syncMod()
	return true
}

// syncMod writes the model's moderation into its public state.
func (r *mroom) syncMod() {
	m := &schemas.Moderation{Controls: r.controls}
	if len(r.sanctions) > 0 {
		m.Sanctions = maps.Clone(r.sanctions)
	}
	if m.Controls == (schemas.Controls{}) && m.Sanctions == nil {
		m = nil
	}
	r.st.Mod = m
}

// heldPtrs returns the model's pending queue in the state's form.
func (r *mroom) heldPtrs() map[string]*schemas.HeldItem {
	out := make(map[string]*schemas.HeldItem, len(r.held))
	for k, h := range r.held {
		out[k] = &h
	}
	return out
}

// neverShown reports whether (user, id) was held and then rejected,
// dropped, or is still pending: no room frame may show it. (Ids are
// unique in the generated streams, so a line's or question's id is its
// event's.)
func (r *mroom) neverShown(user, id string) bool {
	for _, h := range r.dropped {
		if h.User == user && h.ID == id {
			return true
		}
	}
	for _, h := range r.held {
		if h.User == user && h.ID == id {
			return true
		}
	}
	return false
}
