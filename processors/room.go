package processors

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/ovation-live/ovation/schemas"
)

// room is one room's state inside a Partition: the public state viewers
// see (pub, changed only through schemas.RoomState.Apply so there is one
// definition of a delta), the private state that decides what an event
// does, and the delta being built for the next frame.
//
// Only the partition's loop touches a room; nothing here is shared.
type room struct {
	id    string
	epoch string
	seq   uint64 // seq of the last frame written
	ts    int64  // largest ingest ts folded into pub
	pub   schemas.RoomState

	// pend is the delta since frame seq; pendTS its largest ingest ts.
	pend      schemas.Delta
	pendTS    int64
	pendBytes int  // upper bound of pend's encoded text, to cut frames
	pendAny   bool // pend holds at least one change

	// size bounds the encoded bytes of what the room holds beyond
	// stateFixedBytes (reactions, polls, quizzes, questions, presence
	// reports): with it, the core record and snapshot stay below
	// Config.MaxRecordBytes (see limits.go).
	size       int
	lastActive int64 // processor clock (ms) of the last flush with an event
	closed     bool  // room.close: every later event is ignored
	active     bool  // an event since the last flush

	// Moderation (moderation.go): the sanctions and controls in force
	// including pend (pub.Mod is as of the last frame), and each user's
	// last chat line ts while slow mode is on.
	// dep is the partition's deployment-wide table (deployment.go), set
	// before each apply: not part of the room's state.
	dep       *depTable
	sanctions map[string]schemas.Sanction
	controls  schemas.Controls
	lastChat  map[string]int64
	// filter is the room's word filter (FilterKey forms, sorted): private
	// state, in the core record only; filterMask masks instead of refusing.
	filter     []string
	filterMask bool
	filterHold bool
	// filterPats are the filter's patterns as written (in the core
	// record), filterRe the same compiled (schemas.CompilePattern).
	filterPats []string
	filterRe   []*regexp.Regexp
	// verdicts are what apply found about events besides the outcome (a
	// line masked, held, a held one approved); Partition.Apply writes
	// them if the event applied, and clears them.
	verdicts []schemas.Verdict
	// mv is the room's moderator view, with the pending queue (hold.go);
	// nil until the room first holds.
	mv *modView

	emojiBy map[string]string // emoji slot → user who opened it (per-user cap)
	openQs  map[string]int    // user → questions asked and not answered or removed

	polls     map[string]*pollPriv
	questions map[string]*questionPriv
	quizzes   map[string]*quizPriv
	scores    map[string]*schemas.LeaderEntry
	ranked    *standings // every player's place, built on demand (timers.go)
	rankDirty bool       // scored since the last TakeStandings (standings.go)
	nodes     map[string]nodeReport
	viewers   int64 // sum of live node reports, as last put in a delta

	dedup   map[idKey]struct{}
	dchunks []dedupChunk // oldest first; the last one is open
	maxTS   int64        // largest event ts accepted, the dedup clock

	// Changelog bookkeeping (see changelog.go).
	lseq       uint64   // last l/ record number written
	dseq       uint64   // last d/ record number written
	logKeys    []string // live l/ keys since the last checkpoint
	logBytes   int      // bytes of those records
	ckptLSeq   uint64   // lseq covered by the checkpoint
	ckptChunks int      // c/ records of the checkpoint
	ckptBytes  int      // size of the checkpoint
	snapSeq    uint64   // seq of the last snapshot written
	// snapDue is when (processor clock, ms) the snapshot must catch up
	// with seq at the latest; 0 while it has (Partition.lagging).
	snapDue int64
	// pseq is the seq of the public state in the p/ record (0: none yet,
	// or a core record from before p/ records holds it); fFrom is the
	// first seq of the live f/ records after it (0: none).
	pseq, fFrom uint64
	// tick logs: private changes since the last l/ record.
	logVotes []voteRec
	logUps   []upRec
	logAns   []ansRec
	logCloud []cloudRec
	// Custom types (custom.go): private state and the bytes their public
	// state reserves (within schemas.MaxCustomStateBytes).
	custom      map[string]*customPriv
	customBytes int
	logCustom   []customRec

	changed  bool // in Partition.changed
	newEpoch bool // epoch began in the open transaction: snapshot and checkpoint
	forceCk  bool // write a checkpoint at the end of the transaction
}

type pollPriv struct {
	opts   int
	closed bool
	votes  map[string]int // user → option (or the kind's code: interactions.go)
	kind   string         // "" for single choice
	picks  int            // multi: the most options one pick may hold
	values int            // counters in the public Votes
	lo, hi int            // rating: the scale's range

	cloud     *cloudPriv // cloud polls (cloud.go)
	closesAt  int64      // timed poll: the deadline (event time, ms); 0 without a timer
	timerSent bool       // the timer's poll.close was written (timers.go)
}

type questionPriv struct {
	user     string
	answered bool
	upvoters map[string]struct{}
}

type quizPriv struct {
	opts     int
	correct  int
	points   int
	revealed bool
	answers  map[string]answer

	askTS, closesAt int64 // timed question: ask time and deadline (event time)
	timerSent       bool  // the timer's quiz.reveal was written (timers.go)
}

type answer struct {
	opt int
	ts  int64
}

type nodeReport struct {
	Viewers int64 `json:"v"`
	TS      int64 `json:"ts"`
}

// idKey is an event's identity inside its room: the same id from two users
// is two events.
type idKey struct{ user, id string }

// dedupChunk is the ids accepted in one frame (or a slice of a rebuild, or
// a part of a frame that passed chunkBytes), persisted as one d/ record so
// expiry drops whole records.
type dedupChunk struct {
	n     uint64 // d/ record number; 0 while open
	ids   []string
	users []string
	tss   []int64
	maxTS int64
	bytes int // encoded size bound of the d/ record
}

// user returns the user of the chunk's i-th id ("" in records written
// before identity included the user).
func (c *dedupChunk) user(i int) string {
	if i < len(c.users) {
		return c.users[i]
	}
	return ""
}

func newRoom(id, epoch string) *room {
	// The private maps are made on first write: most rooms use few of
	// them, and an empty map costs a few hundred bytes.
	return &room{id: id, epoch: epoch, pub: schemas.NewRoomState(), dchunks: []dedupChunk{{}}}
}

// apply decides what ev does to the room and records it in pend and the
// private state. The caller has checked the dedup window.
func (r *room) apply(cfg *Config, ev *schemas.Event) (Outcome, Reason) {
	if r.closed && ev.Type != schemas.Presence {
		return Ignored, ReasonRoomClosed
	}
	if reason := r.moderated(ev); reason != "" {
		return Ignored, reason
	}
	fits := func(n int) bool { return r.fits(cfg, n) }
	switch d := ev.Body.(type) {
	case *schemas.ChatMessageData:
		if _, ok := r.chatID(ev); !ok {
			return Ignored, ReasonDuplicate
		}
		text, verdict := r.filtered(d.Text)
		if verdict == filterRefused {
			return Ignored, ReasonFiltered
		}
		if verdict == filterPassed && text != d.Text {
			r.verdicts = append(r.verdicts, schemas.Verdict{User: ev.User, ID: ev.ID, Reason: schemas.VerdictMasked, Text: text})
		}
		_, hadLast := r.lastChat[ev.User]
		if r.controls.SlowMode > 0 && !r.slowModeFits(cfg, ev.User, ev.TS) {
			return Ignored, ReasonSlowMode // the room's slow-mode book is full until entries age out
		}
		var out Outcome
		var reason Reason
		if verdict == filterHeld || r.controls.HoldChat {
			out, reason = r.hold(cfg, ev, schemas.HeldChat, d.Name, text, verdict == filterHeld)
		} else {
			out, reason = r.addChat(ev, d.Name, text)
		}
		if r.controls.SlowMode > 0 {
			if out == Applied {
				mk(&r.lastChat)[ev.User] = ev.TS
			} else if !hadLast {
				r.size -= lastChatBytes(ev.User) // slowModeFits counted the entry
			}
		}
		return out, reason
	case *schemas.ChatDeleteData:
		if slices.Contains(r.pend.ChatDeleted, d.MessageID) || !r.hasChat(d.MessageID) {
			return Ignored, ReasonUnknownChat
		}
		r.pend.ChatDeleted = append(r.pend.ChatDeleted, d.MessageID)
		r.pendBytes += jsonStringLen(d.MessageID) + 1
		if p := r.pinned(); p != nil && p.ID == d.MessageID {
			r.unpin()
		}
	case *schemas.ReactionData:
		if r.pend.Reactions == nil {
			r.pend.Reactions = map[string]int64{}
		}
		if _, ok := r.pend.Reactions[d.Emoji]; !ok {
			if _, ok := r.emojiBy[d.Emoji]; !ok {
				// A new slot: the room's limit, the user's share of it,
				// and the record limit.
				switch {
				case len(r.emojiBy) >= schemas.MaxEmojisPerRoom:
					return DeadLettered, ReasonLimit
				case r.userEmojis(ev.User) >= cfg.MaxEmojisPerUser:
					return DeadLettered, ReasonUserLimit
				case !fits(emojiSlotBytes(d.Emoji, ev.User)):
					return DeadLettered, ReasonTooLarge
				}
				mk(&r.emojiBy)[d.Emoji] = ev.User
				r.size += emojiSlotBytes(d.Emoji, ev.User)
				r.pendBytes += emojiBytes(d.Emoji)
			}
		}
		r.pend.Reactions[d.Emoji]++
		r.totals().Reactions++
	case *schemas.PollOpenData:
		if _, ok := r.polls[d.PollID]; ok {
			return DeadLettered, ReasonExists
		}
		if len(r.polls) >= schemas.MaxPollsPerRoom {
			return DeadLettered, ReasonLimit
		}
		n := pollBytes(d.PollID, d.Question, d.Options)
		if d.Kind != "" {
			n += pollKindBytes(d.Kind, d.Scale, len(d.Options))
		}
		if !fits(n) {
			return DeadLettered, ReasonTooLarge
		}
		r.size += n
		p := newPollPriv(d.Kind, d.Scale, len(d.Options), d.MaxPicks)
		if d.Kind == schemas.PollCloud {
			p.cloud = newCloud(d.StopWords)
		}
		mk(&r.polls)[d.PollID] = p
		pd := r.pollDelta(d.PollID, p.values)
		pd.Question, pd.Options = d.Question, d.Options
		pd.Kind, pd.MaxPicks, pd.Scale, pd.StopWords = d.Kind, d.MaxPicks, d.Scale, d.StopWords
		if d.Seconds > 0 {
			p.closesAt = ev.TS + int64(d.Seconds)*1000
			pd.ClosesAt = p.closesAt
		}
		if d.Kind == schemas.PollRanking {
			// The whole matrix from the start: every state of the poll
			// has the same shape, whatever ballots came.
			pd.Ranks = make([][]int64, len(d.Options))
			for i := range pd.Ranks {
				pd.Ranks[i] = make([]int64, len(d.Options))
			}
		}
		r.pendBytes += n
	case *schemas.PollVoteData:
		p := r.polls[d.PollID]
		switch {
		case p == nil:
			return DeadLettered, ReasonUnknownPoll
		case p.kind != "":
			return DeadLettered, ReasonWrongKind
		case d.Option >= p.opts:
			return DeadLettered, ReasonBadOption
		case p.closed:
			return Ignored, ReasonClosed
		case timeUp(p.closesAt, ev.TS):
			return Ignored, ReasonTimeUp
		}
		prev, had := p.votes[ev.User]
		if had && prev == d.Option {
			return Ignored, ReasonSameVote
		}
		pd := r.pollDelta(d.PollID, p.opts)
		if had {
			pd.Votes[prev]--
		}
		pd.Votes[d.Option]++
		p.votes[ev.User] = d.Option
		r.totals().Votes++
		r.logVotes = append(r.logVotes, voteRec{P: d.PollID, U: ev.User, O: d.Option})
	case *schemas.PollPickData, *schemas.PollRankData, *schemas.PollRateData, *schemas.PollTextData:
		return r.applyPollKind(ev)
	case *schemas.PollCloseData:
		p := r.polls[d.PollID]
		if p == nil {
			return DeadLettered, ReasonUnknownPoll
		}
		if p.closed {
			return Ignored, ReasonAlreadyClosed
		}
		p.closed = true
		r.pollDelta(d.PollID, p.values).Closed = true
	case *schemas.QAAskData:
		if _, ok := r.questionID(ev); !ok {
			return Ignored, ReasonDuplicate
		}
		text, verdict := r.filtered(d.Text)
		if verdict == filterRefused {
			return Ignored, ReasonFiltered
		}
		if verdict == filterPassed && text != d.Text {
			r.verdicts = append(r.verdicts, schemas.Verdict{User: ev.User, ID: ev.ID, Reason: schemas.VerdictMasked, Text: text})
		}
		if verdict == filterHeld || r.controls.HoldQuestions {
			return r.hold(cfg, ev, schemas.HeldQuestion, "", text, verdict == filterHeld)
		}
		return r.addQuestion(cfg, ev, text)
	case *schemas.QAUpvoteData:
		q := r.questions[d.QuestionID]
		if q == nil {
			return DeadLettered, ReasonUnknownQ
		}
		if _, ok := q.upvoters[ev.User]; ok {
			return Ignored, ReasonUpvoted
		}
		q.upvoters[ev.User] = struct{}{}
		r.questionDelta(d.QuestionID).Upvotes++
		r.totals().Upvotes++
		r.logUps = append(r.logUps, upRec{Q: d.QuestionID, U: ev.User})
	case *schemas.QAAnsweredData:
		q := r.questions[d.QuestionID]
		if q == nil {
			return DeadLettered, ReasonUnknownQ
		}
		if q.answered {
			return Ignored, ReasonAlreadyClosed
		}
		q.answered = true
		r.closeQuestion(q)
		r.questionDelta(d.QuestionID).Answered = true
	case *schemas.QuizAskData:
		if _, ok := r.quizzes[d.QuizID]; ok {
			return DeadLettered, ReasonExists
		}
		if len(r.quizzes) >= schemas.MaxQuizzesPerRoom {
			return DeadLettered, ReasonLimit
		}
		n := pollBytes(d.QuizID, d.Question, d.Options) + jsonStringLen(d.QuizID) + intBytes + 2
		if !fits(n) {
			return DeadLettered, ReasonTooLarge
		}
		r.size += n
		r.pendBytes += n
		pts := d.Points
		if pts == 0 {
			pts = 1
		}
		z := &quizPriv{opts: len(d.Options), correct: d.Correct, points: pts, answers: map[string]answer{}}
		mk(&r.quizzes)[d.QuizID] = z
		zd := r.quizDelta(d.QuizID)
		zd.Question, zd.Options, zd.Points = d.Question, d.Options, pts
		if d.Seconds > 0 {
			z.askTS, z.closesAt = ev.TS, ev.TS+int64(d.Seconds)*1000
			zd.AskTS, zd.ClosesAt = z.askTS, z.closesAt
		}
	case *schemas.QuizAnswerData:
		z := r.quizzes[d.QuizID]
		switch {
		case z == nil:
			return DeadLettered, ReasonUnknownQuiz
		case d.Option >= z.opts:
			return DeadLettered, ReasonBadOption
		case z.revealed:
			return Ignored, ReasonRevealed
		case timeUp(z.closesAt, ev.TS):
			return Ignored, ReasonTimeUp
		}
		if _, ok := z.answers[ev.User]; ok {
			return Ignored, ReasonAnswered
		}
		z.answers[ev.User] = answer{opt: d.Option, ts: ev.TS}
		r.quizDelta(d.QuizID).Answers++
		r.totals().Answers++
		r.logAns = append(r.logAns, ansRec{Z: d.QuizID, U: ev.User, O: d.Option, TS: ev.TS})
	case *schemas.QuizRevealData:
		z := r.quizzes[d.QuizID]
		if z == nil {
			return DeadLettered, ReasonUnknownQuiz
		}
		if z.revealed {
			return Ignored, ReasonAlreadyClosed
		}
		z.revealed = true
		zd := r.quizDelta(d.QuizID)
		zd.Revealed = true
		c := z.correct
		zd.Correct = &c
		r.score(z)
		if lb := r.leaderboard(); !slices.Equal(lb, r.currentLeaderboard()) {
			r.pend.Leaderboard = lb
		}
	case *schemas.RoomCloseData:
		r.closed = true
		r.pend.Closed = true
	case *schemas.QARemoveData:
		if !r.removeQuestion(d.QuestionID) {
			return Ignored, ReasonAlreadyClosed // removed already (two moderators), or never asked
		}
	case *schemas.ModBanData:
		return r.sanction(cfg, ev, d.Target, schemas.Sanction{Kind: schemas.SanctionBan, By: ev.User, TS: ev.TS, Reason: d.Reason}, d.Hide)
	case *schemas.ModTimeoutData:
		return r.sanction(cfg, ev, d.Target, schemas.Sanction{Kind: schemas.SanctionTimeout, Until: ev.TS + int64(d.Seconds)*1000, By: ev.User, TS: ev.TS, Reason: d.Reason}, d.Hide)
	case *schemas.ModUnbanData:
		if _, ok := r.sanctions[d.Target]; !ok {
			return Ignored, ReasonAlreadyClosed
		}
		r.lift(d.Target)
	case *schemas.Controls:
		r.setControls(*d)
	case *schemas.ModApproveData:
		return r.approve(cfg, d.ID)
	case *schemas.ModRejectData:
		return r.reject(d.ID)
	case *schemas.ChatPinData:
		l := r.chatLine(d.MessageID)
		if l == nil {
			return Ignored, ReasonUnknownChat
		}
		// stateFixedBytes counts a pinned line of the longest kind.
		r.unpin()
		c := *l
		r.pend.Pinned = &c
		r.pendBytes += r.pinnedBytes()
	case *schemas.ModFiltersData:
		keys, res, n, err := compileFilter(d)
		if err != nil {
			return DeadLettered, ReasonInvalid // validated already: cannot happen
		}
		if !fits(n - r.filterBytes()) {
			return DeadLettered, ReasonTooLarge
		}
		r.size += n - r.filterBytes()
		r.filter, r.filterMask, r.filterHold = keys, d.Action == schemas.FilterMask, d.Action == schemas.FilterHold
		r.filterPats, r.filterRe = d.Patterns, res
		if len(keys) == 0 {
			r.filter = nil
		}
		if len(res) == 0 {
			r.filterPats, r.filterRe = nil, nil
		}
		if r.filterHold && (r.filter != nil || r.filterRe != nil) {
			r.view() // moderators can watch the queue before the first hold
		}
	case *schemas.ChatUnpinData:
		if r.pinned() == nil {
			return Ignored, ReasonAlreadyClosed
		}
		r.unpin()
	case *schemas.ReactionRemoveData:
		opener, ok := r.emojiBy[d.Emoji]
		if !ok {
			return Ignored, ReasonAlreadyClosed // removed already, or never used
		}
		if _, inPub := r.pub.Reactions[d.Emoji]; inPub && !slices.Contains(r.pend.ReactionsRemoved, d.Emoji) {
			r.pend.ReactionsRemoved = append(r.pend.ReactionsRemoved, d.Emoji)
		}
		delete(r.pend.Reactions, d.Emoji)
		delete(r.emojiBy, d.Emoji)
		r.size -= emojiSlotBytes(d.Emoji, opener)
		r.pendBytes += emojiBytes(d.Emoji)
	case *schemas.CustomData:
		return r.applyCustom(cfg, ev, d)
	case *schemas.PresenceData:
		if _, ok := r.nodes[d.Node]; !ok {
			switch {
			case len(r.nodes) >= cfg.MaxPresenceNodes:
				return DeadLettered, ReasonLimit
			case !fits(nodeBytes(d.Node)):
				return DeadLettered, ReasonTooLarge
			}
			r.size += nodeBytes(d.Node)
		}
		mk(&r.nodes)[d.Node] = nodeReport{Viewers: d.Viewers, TS: ev.TS}
		// The viewers count is recomputed at flush, against the clock.
	default:
		return DeadLettered, ReasonInvalid
	}
	return Applied, ""
}

// mk returns *m, made if it is nil.
func mk[K comparable, V any](m *map[K]V) map[K]V {
	if *m == nil {
		*m = map[K]V{}
	}
	return *m
}

func (r *room) totals() *schemas.Totals {
	if r.pend.Totals == nil {
		r.pend.Totals = &schemas.Totals{}
	}
	return r.pend.Totals
}

func (r *room) pollDelta(id string, opts int) *schemas.PollDelta {
	if r.pend.Polls == nil {
		r.pend.Polls = map[string]*schemas.PollDelta{}
	}
	pd := r.pend.Polls[id]
	if pd == nil {
		pd = &schemas.PollDelta{}
		r.pend.Polls[id] = pd
	}
	if len(pd.Votes) < opts {
		pd.Votes = append(pd.Votes, make([]int64, opts-len(pd.Votes))...)
	}
	return pd
}

func (r *room) questionDelta(id string) *schemas.QuestionDelta {
	if r.pend.Questions == nil {
		r.pend.Questions = map[string]*schemas.QuestionDelta{}
	}
	qd := r.pend.Questions[id]
	if qd == nil {
		qd = &schemas.QuestionDelta{}
		r.pend.Questions[id] = qd
	}
	return qd
}

func (r *room) quizDelta(id string) *schemas.QuizDelta {
	if r.pend.Quizzes == nil {
		r.pend.Quizzes = map[string]*schemas.QuizDelta{}
	}
	zd := r.pend.Quizzes[id]
	if zd == nil {
		zd = &schemas.QuizDelta{}
		r.pend.Quizzes[id] = zd
	}
	return zd
}

// emojiSlotBytes bounds an emoji slot in the state and the core record
// (who opened it).
func emojiSlotBytes(e, user string) int {
	return emojiBytes(e) + jsonStringLen(e) + jsonStringLen(user) + 2
}

// userEmojis counts the emoji slots user opened that the room still has.
func (r *room) userEmojis(user string) int {
	n := 0
	for _, u := range r.emojiBy {
		if u == user {
			n++
		}
	}
	return n
}

// closeQuestion stops q counting against its asker's open questions.
func (r *room) closeQuestion(q *questionPriv) {
	if r.openQs[q.user] <= 1 {
		delete(r.openQs, q.user)
	} else {
		r.openQs[q.user]--
	}
}

// chatID is the id of a chat line: the event id, unless a line of another
// user in the history has it (the same id from two users is two events;
// line ids must stay unique for deletes and merges), then scopedID.
// ok is false when the user's own line with that id is still in the
// history (a retry after the dedup window).
func (r *room) chatID(ev *schemas.Event) (id string, ok bool) {
	id = ev.ID
	for pass := 0; pass < 2; pass++ {
		taken := false
		for _, list := range [][]schemas.ChatLine{r.pub.Chat, r.pend.Chat} {
			for i := range list {
				if list[i].ID == id {
					if list[i].User == ev.User {
						return "", false
					}
					taken = true
				}
			}
		}
		if !taken {
			return id, true
		}
		id = scopedID(ev.User, ev.ID)
	}
	return "", false
}

// addChat appends ev's chat line (text as the filter left it) to the
// room: a chat.message, or a held one a moderator approved.
func (r *room) addChat(ev *schemas.Event, name, text string) (Outcome, Reason) {
	id, ok := r.chatID(ev)
	if !ok {
		return Ignored, ReasonDuplicate
	}
	r.pend.Chat = append(r.pend.Chat, schemas.ChatLine{ID: id, User: ev.User, Name: name, Text: text, TS: ev.TS})
	r.totals().Chat++
	// The line, and its id again should a later line evict it.
	r.pendBytes += chatLineBytes(id, ev.User, name, text) + jsonStringLen(id) + 1
	return Applied, ""
}

// questionID returns the id ev's question takes: its event id, or when
// another user's question has it, scopedID. ok is false for a duplicate.
func (r *room) questionID(ev *schemas.Event) (string, bool) {
	id := ev.ID
	if q, ok := r.questions[id]; ok {
		if q.user == ev.User {
			return "", false
		}
		id = scopedID(ev.User, ev.ID) // another user's id: a different question
		if _, ok := r.questions[id]; ok {
			return "", false
		}
	}
	return id, true
}

// addQuestion adds ev's question (text as the filter left it) to the
// room: a qa.ask, or a held one a moderator approved.
func (r *room) addQuestion(cfg *Config, ev *schemas.Event, text string) (Outcome, Reason) {
	id, ok := r.questionID(ev)
	if !ok {
		return Ignored, ReasonDuplicate
	}
	n := questionBytes(id, ev.User, text)
	switch {
	case len(r.questions) >= schemas.MaxQuestionsInRoom:
		return DeadLettered, ReasonLimit
	case r.openQs[ev.User] >= cfg.MaxOpenQuestionsPerUser:
		return DeadLettered, ReasonUserLimit
	case !r.fits(cfg, n):
		return DeadLettered, ReasonTooLarge
	}
	r.size += n
	mk(&r.questions)[id] = &questionPriv{user: ev.User, upvoters: map[string]struct{}{}}
	mk(&r.openQs)[ev.User]++
	qd := r.questionDelta(id)
	qd.User, qd.Text, qd.TS = ev.User, text, ev.TS
	r.totals().Questions++
	r.pendBytes += n
	return Applied, ""
}

// scopedID derives a room-unique id for an event whose id another user
// already used for a chat line or question: deterministic, so a replay
// or rebuild gives the same id, and a valid id for chat.delete and
// qa.upvote.
func scopedID(user, id string) string {
	h := sha256.Sum256([]byte(user + "\x00" + id))
	return "u-" + hex.EncodeToString(h[:12])
}

// hasChat reports whether message id is in the visible history, counting
// lines added in pend (Apply appends before it deletes).
func (r *room) hasChat(id string) bool {
	for i := range r.pend.Chat {
		if r.pend.Chat[i].ID == id {
			return true
		}
	}
	for i := range r.pub.Chat {
		if r.pub.Chat[i].ID == id {
			return true
		}
	}
	return false
}

// score adds z's correct answers into the users' scores.
func (r *room) score(z *quizPriv) {
	for u, a := range z.answers {
		if a.opt != z.correct {
			continue
		}
		s := r.scores[u]
		if s == nil {
			s = &schemas.LeaderEntry{User: u}
			mk(&r.scores)[u] = s
		}
		s.Score += schemas.QuizPoints(z.points, z.askTS, z.closesAt, a.ts)
		s.LastTS = max(s.LastTS, a.ts)
	}
	r.ranked, r.rankDirty = nil, true
}

// leaderboard returns the top schemas.LeaderboardSize scores: by score
// descending, then by the last scoring answer's time, then by user.
func (r *room) leaderboard() []schemas.LeaderEntry {
	top := make([]schemas.LeaderEntry, 0, schemas.LeaderboardSize+1)
	for _, s := range r.scores {
		i, _ := slices.BinarySearchFunc(top, *s, compareLeader)
		if i >= schemas.LeaderboardSize {
			continue
		}
		top = slices.Insert(top, i, *s)
		if len(top) > schemas.LeaderboardSize {
			top = top[:schemas.LeaderboardSize]
		}
	}
	return top
}

func compareLeader(a, b schemas.LeaderEntry) int {
	if c := cmp.Compare(b.Score, a.Score); c != 0 {
		return c
	}
	if c := cmp.Compare(a.LastTS, b.LastTS); c != 0 {
		return c
	}
	return strings.Compare(a.User, b.User)
}

func (r *room) currentLeaderboard() []schemas.LeaderEntry {
	if r.pend.Leaderboard != nil {
		return r.pend.Leaderboard
	}
	return r.pub.Leaderboard
}

// liveViewers sums the node reports younger than ttl at now (ms) and drops
// the others: a pusher that stopped reporting stops counting.
func (r *room) liveViewers(now, ttl int64) int64 {
	var n int64
	for node, rep := range r.nodes {
		if now-rep.TS > ttl {
			delete(r.nodes, node)
			r.size -= nodeBytes(node)
			continue
		}
		n += rep.Viewers
	}
	return n
}

// fullDelta returns the delta that turns an empty room into s: the first
// frame of a rebuilt epoch, so the fold of the epoch's frames is s.
func fullDelta(s *schemas.RoomState) schemas.Delta {
	var d schemas.Delta
	if len(s.Reactions) > 0 {
		d.Reactions = make(map[string]int64, len(s.Reactions))
		for e, n := range s.Reactions {
			d.Reactions[e] = n
		}
	}
	d.Chat = slices.Clone(s.Chat)
	if len(d.Chat) == 0 {
		d.Chat = nil
	}
	if len(s.Polls) > 0 {
		d.Polls = make(map[string]*schemas.PollDelta, len(s.Polls))
		for id, p := range s.Polls {
			d.Polls[id] = &schemas.PollDelta{Question: p.Question, Options: slices.Clone(p.Options), Votes: slices.Clone(p.Votes), Closed: p.Closed, PollKindState: p.PollKindState.Clone()}
		}
	}
	if len(s.Questions) > 0 {
		d.Questions = make(map[string]*schemas.QuestionDelta, len(s.Questions))
		for id, q := range s.Questions {
			d.Questions[id] = &schemas.QuestionDelta{User: q.User, Text: q.Text, TS: q.TS, Upvotes: q.Upvotes, Answered: q.Answered}
		}
	}
	if len(s.Quizzes) > 0 {
		d.Quizzes = make(map[string]*schemas.QuizDelta, len(s.Quizzes))
		for id, z := range s.Quizzes {
			zd := &schemas.QuizDelta{Question: z.Question, Options: slices.Clone(z.Options), Points: z.Points, Answers: z.Answers, Revealed: z.Revealed, AskTS: z.AskTS, ClosesAt: z.ClosesAt}
			if z.Correct != nil {
				c := *z.Correct
				zd.Correct = &c
			}
			d.Quizzes[id] = zd
		}
	}
	if len(s.Leaderboard) > 0 {
		d.Leaderboard = slices.Clone(s.Leaderboard)
	}
	v := s.Viewers
	d.Viewers = &v
	t := s.Totals
	d.Totals = &t
	d.Closed = s.Closed
	if s.Pinned != nil {
		l := *s.Pinned
		d.Pinned = &l
	}
	d.Custom = schemas.CustomFullDelta(s.Custom)
	if s.Mod != nil {
		c := s.Mod.Controls
		d.Mod = &schemas.ModDelta{Controls: &c}
		if len(s.Mod.Sanctions) > 0 {
			d.Mod.Sanctions = maps.Clone(s.Mod.Sanctions)
		}
	}
	return d
}
