package processors

import (
	"cmp"
	"slices"

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
		st := &standings{order: make([]schemas.LeaderEntry, 0, len(r.scores)), at: make(map[string]int, len(r.scores))}
		for _, e := range r.scores {
			st.order = append(st.order, *e)
		}
		slices.SortFunc(st.order, compareLeader)
		for i, e := range st.order {
			st.at[e.User] = i
		}
		r.ranked = st
	}
	i, ok := r.ranked.at[user]
	if !ok {
		return Standing{Players: len(r.ranked.order)}, false
	}
	return Standing{Rank: i + 1, Score: r.ranked.order[i].Score, Players: len(r.ranked.order)}, true
}
