package ingest

import (
	"bytes"
	"net/http"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// Poll refusal codes (docs/ingest.md). The processors' fold is the
// authority and ignores the same votes and answers with the same names
// (time_up, closed, revealed) or dead-letters them (wrong_kind); ingest
// refuses them early from its pollView, which lags the fold like the
// ModView does.
const (
	CodeTimeUp    = "time_up"    // 409: a vote or answer after its timed poll's or question's deadline
	CodePollShut  = "closed"     // 409: a vote on a closed poll
	CodeWrongKind = "wrong_kind" // 409: a vote event of another kind than the poll's (poll.vote on a multi poll)
	CodeRevealed  = "revealed"   // 409: a quiz answer after the question was revealed
)

// pollView is ingest's copy of what the polls and quiz questions of each
// room need to refuse a vote or answer early: kind, closed or revealed,
// deadline. It is kept by the moderation watch from the same frames and
// snapshots (a frame is decoded only when it opens, closes or reveals
// something), and checked in ModView.check.
//
// Memory is bounded: schemas.MaxPollsPerRoom polls and MaxQuizzesPerRoom
// questions a room, and maxPollRooms rooms (past it, a room with nothing
// open is dropped first; what the view forgets it does not refuse).
type pollView struct {
	mu    sync.RWMutex
	rooms map[string]*pollRoom
	max   int
}

type pollRoom struct {
	epoch   string
	seq     uint64
	polls   map[string]pollInfo
	quizzes map[string]pollInfo
}

type pollInfo struct {
	kind     string // "" for single choice
	closed   bool   // poll closed, question revealed
	closesAt int64  // deadline (event time, ms); 0 without a timer
}

const maxPollRooms = 100_000

// pollEntry is what the view reads of a poll's or question's delta or
// state; everything else in the record is skipped by the decoder.
type pollEntry struct {
	Question string `json:"question"`
	Kind     string `json:"kind"`
	Closed   bool   `json:"closed"`
	Revealed bool   `json:"revealed"`
	ClosesAt int64  `json:"closes_at"`
}

type pollFrame struct {
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	Delta struct {
		Polls   map[string]pollEntry `json:"polls"`
		Quizzes map[string]pollEntry `json:"quizzes"`
	} `json:"delta"`
}

type pollSnapshot struct {
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	State struct {
		Polls   map[string]pollEntry `json:"polls"`
		Quizzes map[string]pollEntry `json:"quizzes"`
	} `json:"state"`
}

var (
	keyQuestion = []byte(`"question":`)
	keyClosed   = []byte(`"closed":true`)
	keyRevealed = []byte(`"revealed":true`)
	keyPolls    = []byte(`"polls":{"`)
	keyQuizzes  = []byte(`"quizzes":{"`)
)

// relevant reports whether a frame may open, close or reveal something:
// most frames (chat, reactions, votes) do not, and are never decoded. A
// match inside a chat line's text is impossible: there the quotes are
// escaped.
func relevant(b []byte) bool {
	return bytes.Contains(b, keyQuestion) || bytes.Contains(b, keyClosed) || bytes.Contains(b, keyRevealed)
}

func (v *pollView) room(id, epoch string) *pollRoom {
	if v.rooms == nil {
		v.rooms = map[string]*pollRoom{}
	}
	r := v.rooms[id]
	if r == nil {
		if len(v.rooms) >= v.maxRooms() {
			v.shed()
		}
		r = &pollRoom{epoch: epoch}
		v.rooms[id] = r
	}
	return r
}

func (v *pollView) maxRooms() int {
	if v.max > 0 {
		return v.max
	}
	return maxPollRooms
}

// shed drops rooms with nothing open, or else any room, until a tenth of
// the bound is free.
func (v *pollView) shed() {
	target := v.maxRooms() - v.maxRooms()/10 - 1
	for id, r := range v.rooms {
		if len(v.rooms) <= target {
			return
		}
		if !r.anyOpen() {
			delete(v.rooms, id)
		}
	}
	for id := range v.rooms {
		if len(v.rooms) <= target {
			return
		}
		delete(v.rooms, id)
	}
}

func (r *pollRoom) anyOpen() bool {
	for _, p := range r.polls {
		if !p.closed {
			return true
		}
	}
	for _, z := range r.quizzes {
		if !z.closed {
			return true
		}
	}
	return false
}

// applyFrame folds a frame's poll and quiz openings, closings and
// reveals into the view.
func (v *pollView) applyFrame(b []byte) {
	if !relevant(b) {
		return
	}
	var f pollFrame
	if _, err := json.Parse(b, &f, 0); err != nil || len(f.Delta.Polls)+len(f.Delta.Quizzes) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.room(f.Room, f.Epoch)
	switch {
	case r.epoch == f.Epoch && r.seq != 0 && f.Seq <= r.seq:
		return
	case r.epoch != f.Epoch:
		// A new epoch's first frame carries the whole state; a later one
		// starts a view that knows only what comes next.
		r.epoch, r.polls, r.quizzes = f.Epoch, nil, nil
	}
	r.seq = f.Seq
	r.polls = mergeEntries(r.polls, f.Delta.Polls, false)
	r.quizzes = mergeEntries(r.quizzes, f.Delta.Quizzes, true)
}

// applySnapshot takes a snapshot's polls and questions when the view
// knows nothing newer of the room (at start, or after an epoch change);
// otherwise the frames keep it current and the snapshot is not decoded.
func (v *pollView) applySnapshot(b []byte) {
	if !bytes.Contains(b, keyPolls) && !bytes.Contains(b, keyQuizzes) {
		return
	}
	h, _, ok := schemas.PeekSnapshotMod(b)
	if !ok {
		return
	}
	v.mu.RLock()
	r := v.rooms[h.Room]
	known := r != nil && r.epoch == h.Epoch && r.seq >= h.Seq
	v.mu.RUnlock()
	if known {
		return
	}
	var s pollSnapshot
	if _, err := json.Parse(b, &s, 0); err != nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	r = v.room(s.Room, s.Epoch)
	if r.epoch == s.Epoch && s.Seq <= r.seq {
		return
	}
	r.epoch, r.seq = s.Epoch, s.Seq
	r.polls = mergeEntries(nil, s.State.Polls, false)
	r.quizzes = mergeEntries(nil, s.State.Quizzes, true)
}

// mergeEntries folds decoded entries into m: an entry with a question is
// an opening (or a state), the rest only latch closed or revealed.
func mergeEntries(m map[string]pollInfo, in map[string]pollEntry, quiz bool) map[string]pollInfo {
	for id, e := range in {
		if m == nil {
			m = map[string]pollInfo{}
		}
		cur, had := m[id]
		if e.Question != "" {
			kind := e.Kind
			if kind == schemas.PollSingle {
				kind = ""
			}
			cur = pollInfo{kind: kind, closesAt: e.ClosesAt, closed: cur.closed}
			had = true
		}
		if !had {
			continue // a change of something the view never saw open
		}
		cur.closed = cur.closed || e.Closed || (quiz && e.Revealed)
		m[id] = cur
	}
	return m
}

// check returns the refusal of a vote or answer (body validated) in room
// at now (ms), or nil. Events that are neither cost nothing.
func (v *pollView) check(room string, body schemas.Payload, now int64) *schemas.PublishError {
	var id, kind string
	quiz := false
	switch d := body.(type) {
	case *schemas.PollVoteData:
		id, kind = d.PollID, ""
	case *schemas.PollPickData:
		id, kind = d.PollID, schemas.PollMulti
	case *schemas.PollRankData:
		id, kind = d.PollID, schemas.PollRanking
	case *schemas.PollRateData:
		id, kind = d.PollID, schemas.PollRating
	case *schemas.PollTextData:
		id = d.PollID
		kind = "text|cloud"
	case *schemas.QuizAnswerData:
		id, quiz = d.QuizID, true
	default:
		return nil
	}
	v.mu.RLock()
	r := v.rooms[room]
	var p pollInfo
	var ok bool
	if r != nil {
		if quiz {
			p, ok = r.quizzes[id]
		} else {
			p, ok = r.polls[id]
		}
	}
	v.mu.RUnlock()
	if !ok {
		return nil // unknown here: the fold decides
	}
	switch {
	case !quiz && kind != p.kind && !(kind == "text|cloud" && (p.kind == schemas.PollOpenText || p.kind == schemas.PollCloud)):
		have := p.kind
		if have == "" {
			have = schemas.PollSingle
		}
		return perr(http.StatusConflict, CodeWrongKind, "type", "poll %s is a %s poll; this vote is for another kind", id, have)
	case quiz && p.closed:
		return perr(http.StatusConflict, CodeRevealed, "", "quiz question %s was revealed; answers no longer count", id)
	case p.closed:
		return perr(http.StatusConflict, CodePollShut, "", "poll %s is closed", id)
	case p.closesAt > 0 && now > p.closesAt:
		what := "poll"
		if quiz {
			what = "quiz question"
		}
		return perr(http.StatusConflict, CodeTimeUp, "", "%s %s closed at %s", what, id, time.UnixMilli(p.closesAt).UTC().Format(time.RFC3339Nano))
	}
	return nil
}
