package processors

import (
	"cmp"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// Timed polls and quiz questions (schemas/timers.go). The deadline is in
// event time (the opening event's ts + seconds): a vote or answer whose
// ts is after it is ignored (ReasonTimeUp) whatever the processor's
// clock, so every replay decides the same. The close itself is an event:
// when the processor's clock passes a deadline, Flush writes a poll.close
// or quiz.reveal by schemas.TimerUser into Batch.Events, which the Kafka
// loop produces to the room's events partition in the same transaction.
// It is folded when it is read back, at its position in the log, like a
// host's close; a replay or rebuild reads it at the same place. Who
// writes it is the partition's owner, so exactly one processor does; a
// transaction that aborts writes it again from the restored state, and a
// close written twice is a duplicate of its (room, user, id).
//
// Rooms with a pending timer are kept in Partition.timed and are never
// evicted while it is pending.

// ReasonTimeUp: a vote or answer after its poll's or question's timer.
const ReasonTimeUp Reason = "time_up"

func init() { ignoreReasons = append(ignoreReasons, ReasonTimeUp) }

// timeUp reports whether an event at ts comes after a deadline.
func timeUp(closesAt, ts int64) bool { return closesAt > 0 && ts > closesAt }

// hasTimer reports whether r has a timed poll or question whose close it
// has not written yet.
func (r *room) hasTimer() bool {
	for _, p := range r.polls {
		if p.closesAt > 0 && !p.closed && !p.timerSent {
			return true
		}
	}
	for _, z := range r.quizzes {
		if z.closesAt > 0 && !z.revealed && !z.timerSent {
			return true
		}
	}
	return false
}

// fireTimers writes the close events of every deadline at or before now
// (the processor's clock, ms) into b.Events, in deadline order, and drops
// rooms with nothing left pending from p.timed.
func (p *Partition) fireTimers(now int64, b *Batch) {
	for r := range p.timed {
		if r.closed {
			delete(p.timed, r)
			continue
		}
		type due struct {
			id  string
			at  int64
			typ schemas.Type
		}
		var ds []due
		for id, pp := range r.polls {
			if pp.closesAt > 0 && !pp.closed && !pp.timerSent && pp.closesAt <= now {
				pp.timerSent = true
				ds = append(ds, due{id, pp.closesAt, schemas.PollClose})
			}
		}
		for id, z := range r.quizzes {
			if z.closesAt > 0 && !z.revealed && !z.timerSent && z.closesAt <= now {
				z.timerSent = true
				ds = append(ds, due{id, z.closesAt, schemas.QuizReveal})
			}
		}
		slices.SortFunc(ds, func(a, b due) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.id, b.id)) })
		for _, d := range ds {
			var data []byte
			if d.typ == schemas.PollClose {
				data, _ = json.Marshal(schemas.PollCloseData{PollID: d.id})
			} else {
				data, _ = json.Marshal(schemas.QuizRevealData{QuizID: d.id})
			}
			ev := schemas.Event{V: schemas.Version, ID: schemas.TimerID(d.id), Room: r.id, User: schemas.TimerUser, Type: d.typ, TS: d.at, Data: data}
			v, err := ev.Marshal()
			if err != nil {
				continue // cannot happen: ids and room passed validation
			}
			b.Events = append(b.Events, Rec{Key: []byte(r.id), Value: v})
		}
		if !r.hasTimer() {
			delete(p.timed, r)
		}
	}
}

// Standing is one player's place in a room's quiz: Rank 1 is the top of
// the leaderboard (the same order: score, then the last scoring answer's
// time, then user); Players counts everyone with a score.
type Standing struct {
	Rank    int   `json:"rank"`
	Score   int64 `json:"score"`
	Players int   `json:"players"`
}

// standings is a room's full ranking, built on the first lookup after a
// reveal: a sorted copy of the scores and each user's index in it. It
// lives in processor memory only (it grows with the players, so it is
// never public state); a restore rebuilds it from the changelog's answers.
type standings struct {
	order []schemas.LeaderEntry
	at    map[string]int
}

// Standing returns user's place in room's quiz; ok is false when the room
// is not held here (evicted, or another partition) or the user has no
// score.
func (p *Partition) Standing(room, user string) (s Standing, ok bool) {
	r := p.rooms[room]
	if r == nil {
		return s, false
	}
	if r.ranked == nil {
		r.ranked = r.buildStandings()
	}
	return r.ranked.lookup(user)
}

// nextTimer returns the earliest deadline whose close p has not written,
// or 0 when there is none.
func (p *Partition) nextTimer() int64 {
	var next int64
	for r := range p.timed {
		for _, pp := range r.polls {
			if pp.closesAt > 0 && !pp.closed && !pp.timerSent && (next == 0 || pp.closesAt < next) {
				next = pp.closesAt
			}
		}
		for _, z := range r.quizzes {
			if z.closesAt > 0 && !z.revealed && !z.timerSent && (next == 0 || z.closesAt < next) {
				next = z.closesAt
			}
		}
	}
	return next
}

// nextTimer is the earliest pending deadline of the session's partitions
// (0: none): a timer's close, or a lagging snapshot's catch-up
// (Partition.snapshotAt).
func (s *session) nextTimer() int64 {
	var next int64
	for _, pt := range s.parts {
		for _, n := range [2]int64{pt.core.nextTimer(), s.catchUpAt(pt)} {
			if n > 0 && (next == 0 || n < next) {
				next = n
			}
		}
	}
	return next
}

// idleWait is how long an idle loop waits for records: a second, or less
// when a timer or a snapshot catch-up is due sooner, so either is written
// within a tick of its deadline even when no event comes.
func (s *session) idleWait() time.Duration {
	wait := time.Second
	if n := s.nextTimer(); n > 0 {
		wait = min(wait, max(time.Until(time.UnixMilli(n)), time.Millisecond))
	}
	return wait
}

// timerDue reports whether a deadline has passed whose close is not
// written yet.
func (s *session) timerDue() bool {
	n := s.nextTimer()
	return n > 0 && n <= time.Now().UnixMilli()
}

// catchUpQuiet is how long a session must have had no records before a
// transaction of its own writes lagging snapshots: while records come,
// the next transaction's Flush writes them anyway. (A transaction that
// consumed nothing makes franz-go's GroupTransactSession.End hold its
// lock for 500 ms after the commit, as for a broker without KIP-447, so
// the next transaction's End waits: such transactions are kept rare.)
const catchUpQuiet = 250 * time.Millisecond

// catchUpAt is when pt's lagging snapshots call for a transaction of
// their own (processor clock, ms; 0: none lags).
func (s *session) catchUpAt(pt *part) int64 {
	at := pt.core.snapshotAt()
	if at == 0 {
		return 0
	}
	return max(at, s.lastIn.Add(catchUpQuiet).UnixMilli())
}
