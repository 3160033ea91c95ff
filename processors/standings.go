package processors

import (
	"net/http"
	"slices"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// Every player's own place in a quiz (issue 16), without the room's
// public state growing with the audience: the snapshot keeps the top
// schemas.LeaderboardSize, and the full ranking lives in the processor
// that owns the room. After each committed transaction that scored a
// reveal, the session loop builds the room's ranking (sorted once,
// O(n log n): ~15 ms for 100,000 players) and publishes it, immutable, to
// the Processor; StandingHandler answers lookups from it without touching
// the loop's state. Only the owner of the room's partition can answer; a
// processor that does not hold the room says so (404 not_here), and a
// revoked or lost partition's rankings are withdrawn at once.

type publishedStandings struct {
	partition int32
	st        *standings
}

// buildStandings sorts r's scores into a ranking.
func (r *room) buildStandings() *standings {
	st := &standings{order: make([]schemas.LeaderEntry, 0, len(r.scores)), at: make(map[string]int, len(r.scores))}
	for _, e := range r.scores {
		st.order = append(st.order, *e)
	}
	slices.SortFunc(st.order, compareLeader)
	for i, e := range st.order {
		st.at[e.User] = i
	}
	return st
}

func (st *standings) lookup(user string) (Standing, bool) {
	i, ok := st.at[user]
	if !ok {
		return Standing{Players: len(st.order)}, false
	}
	return Standing{Rank: i + 1, Score: st.order[i].Score, Players: len(st.order)}, true
}

// TakeStandings returns the rankings of the rooms scored since the last
// call, built for publishing (the loop never changes them afterwards).
func (p *Partition) TakeStandings() map[string]*standings {
	var out map[string]*standings
	for _, r := range p.scored {
		if !r.rankDirty || p.rooms[r.id] != r {
			continue // taken already, or evicted
		}
		r.rankDirty = false
		if r.ranked == nil {
			r.ranked = r.buildStandings()
		}
		if out == nil {
			out = map[string]*standings{}
		}
		out[r.id] = r.ranked
	}
	clear(p.scored)
	p.scored = p.scored[:0]
	return out
}

// publishStandings makes a partition's new rankings visible to
// StandingHandler.
func (p *Processor) publishStandings(partition int32, m map[string]*standings) {
	if len(m) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.standings == nil {
		p.standings = map[string]publishedStandings{}
	}
	for room, st := range m {
		p.standings[room] = publishedStandings{partition: partition, st: st}
	}
}

// withdrawStandings drops the rankings of partitions this processor no
// longer owns (all of them when parts is nil). p.mu must be held.
func (p *Processor) withdrawStandings(parts []int32) {
	for room, ps := range p.standings {
		if parts == nil || slices.Contains(parts, ps.partition) {
			delete(p.standings, room)
		}
	}
}

// LookupStanding returns user's place in room's quiz as this processor
// last committed it; held is false when no room of that id with scores
// is held here.
func (p *Processor) LookupStanding(room, user string) (s Standing, ok, held bool) {
	p.mu.Lock()
	ps, held := p.standings[room]
	p.mu.Unlock()
	if !held {
		return s, false, false
	}
	s, ok = ps.st.lookup(user)
	return s, ok, true
}

// StandingHandler serves GET /v1/rooms/{room}/quiz/standing?user=U:
// 200 {"rank","score","players"} for a player with a score, 404
// {"error":"no_score","players":N} for one without, 404
// {"error":"not_here"} when this processor does not hold the room's
// ranking (another owns its partition, or no question was revealed), 400
// for a bad room or user.
func (p *Processor) StandingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		room, user := r.PathValue("room"), r.URL.Query().Get("user")
		if err := schemas.CheckRoom(room); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_room", "detail": err.Error()})
			return
		}
		if err := schemas.CheckUser(user); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_user", "detail": err.Error()})
			return
		}
		s, ok, held := p.LookupStanding(room, user)
		switch {
		case !held:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_here"})
		case !ok:
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "no_score", "players": s.Players})
		default:
			writeJSON(w, http.StatusOK, s)
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
