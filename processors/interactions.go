package processors

import (
	"strings"

	"github.com/ovation-live/ovation/schemas"
)

// The poll kinds of issue 16 (schemas/interactions.go). A poll's private
// state stays one int per user (pollPriv.votes), so the changelog's vote
// records, checkpoints and restore are those of single-choice polls:
//
//	single   the option
//	multi    a bit mask of the picked options (never 0)
//	ranking  the order, option+1 in 4 bits per position, best first
//	rating   the rating
//	text     0: the user answered (the text itself is public state)
//
// Every vote is deterministic by event position: it replaces the user's
// previous one (except text, where the first counts), and what it adds
// to the public counters is the difference.

// ReasonWrongKind: a vote event of another kind than the poll's
// (poll.pick on a rating poll, poll.vote on a multi poll).
const ReasonWrongKind Reason = "wrong_kind"

func init() { deadLetterReasons = append(deadLetterReasons, ReasonWrongKind) }

// newPollPriv returns the private state of a poll opened with d's kind.
func newPollPriv(kind, scale string, options, maxPicks int) *pollPriv {
	p := &pollPriv{opts: options, kind: kind, votes: map[string]int{}}
	if p.kind == schemas.PollSingle {
		p.kind = ""
	}
	p.picks = schemas.PollPicks(maxPicks, options)
	p.lo, p.hi, _ = schemas.ScaleRange(scale)
	p.values = schemas.PollValues(kind, scale, options)
	return p
}

// pollKindBytes bounds what a poll's kind adds to its encoded size beyond
// pollBytes (kind, scale, max_picks, voters, the ranks matrix, a rating
// scale's counters, the text window at its worst). It is reserved when
// the poll opens, so answers never grow the room's bound.
func pollKindBytes(kind, scale string, options int) int {
	n := 64 + 2*intBytes // "kind", "scale", "max_picks", "voters" and values
	switch kind {
	case schemas.PollRanking:
		n += options * (options*(intBytes+1) + 3)
	case schemas.PollRating:
		n += schemas.PollValues(kind, scale, options) * (intBytes + 1)
	case schemas.PollOpenText:
		n += schemas.PollTextWindow * (worstPollText + 1)
	case schemas.PollCloud:
		n += cloudWordsBytes + 64 // and the stop_words languages
	}
	return n
}

// pollTextBytes bounds one open-text answer in a frame or snapshot.
func pollTextBytes(user, text string) int {
	return jsonStringLen(user) + jsonStringLen(text) + intBytes + objFixed
}

var worstPollText = pollTextBytes(strings.Repeat("<", schemas.MaxUserLen), strings.Repeat("<", schemas.MaxPollTextLen))

// worstPollBytes bounds one poll of any kind with the longest id and
// question: a kind with options at MaxOptions of the longest, or a
// rating or text poll (no options) with its kind's reservation.
func worstPollBytes(id, question string, opts []string) int {
	n := pollBytes(id, question, opts)
	for _, k := range schemas.PollKinds {
		o := opts
		if k == schemas.PollRating || k == schemas.PollOpenText {
			o = nil
		}
		for _, sc := range schemas.Scales {
			n = max(n, pollBytes(id, question, o)+pollKindBytes(k, sc, len(o)))
		}
	}
	return n
}

// pollFor returns the poll a vote names, or why it is refused: unknown,
// of another kind, or closed.
func (r *room) pollFor(id, kind string, ts int64) (*pollPriv, Outcome, Reason) {
	p := r.polls[id]
	switch {
	case p == nil:
		return nil, DeadLettered, ReasonUnknownPoll
	case p.kind != kind:
		return nil, DeadLettered, ReasonWrongKind
	case p.closed:
		return nil, Ignored, ReasonClosed
	case timeUp(p.closesAt, ts):
		return nil, Ignored, ReasonTimeUp
	}
	return p, Applied, ""
}

// applyPollKind applies poll.pick, poll.rank, poll.rate and poll.text.
func (r *room) applyPollKind(ev *schemas.Event) (Outcome, Reason) {
	switch d := ev.Body.(type) {
	case *schemas.PollPickData:
		p, out, why := r.pollFor(d.PollID, schemas.PollMulti, ev.TS)
		if p == nil {
			return out, why
		}
		if len(d.Options) > p.picks {
			return DeadLettered, ReasonBadOption
		}
		mask := 0
		for _, o := range d.Options {
			if o >= p.opts {
				return DeadLettered, ReasonBadOption
			}
			mask |= 1 << o
		}
		prev, had := p.votes[ev.User]
		if had && prev == mask {
			return Ignored, ReasonSameVote
		}
		pd := r.pollDelta(d.PollID, p.opts)
		for i := range p.opts {
			if had && prev&(1<<i) != 0 {
				pd.Votes[i]--
			}
			if mask&(1<<i) != 0 {
				pd.Votes[i]++
			}
		}
		if !had {
			pd.Voters++
		}
		r.vote(p, d.PollID, ev.User, mask)
	case *schemas.PollRankData:
		p, out, why := r.pollFor(d.PollID, schemas.PollRanking, ev.TS)
		if p == nil {
			return out, why
		}
		code := 0
		for i, o := range d.Order {
			if o >= p.opts {
				return DeadLettered, ReasonBadOption
			}
			code |= (o + 1) << (4 * i)
		}
		prev, had := p.votes[ev.User]
		if had && prev == code {
			return Ignored, ReasonSameVote
		}
		pd := r.pollDelta(d.PollID, p.opts)
		if had {
			rankBallot(pd, p.opts, decodeOrder(prev), -1)
		} else {
			pd.Voters++
		}
		rankBallot(pd, p.opts, d.Order, 1)
		r.vote(p, d.PollID, ev.User, code)
	case *schemas.PollRateData:
		p, out, why := r.pollFor(d.PollID, schemas.PollRating, ev.TS)
		if p == nil {
			return out, why
		}
		if d.Rating < p.lo || d.Rating > p.hi {
			return DeadLettered, ReasonBadOption
		}
		prev, had := p.votes[ev.User]
		if had && prev == d.Rating {
			return Ignored, ReasonSameVote
		}
		pd := r.pollDelta(d.PollID, p.values)
		if had {
			pd.Votes[prev-p.lo]--
		} else {
			pd.Voters++
		}
		pd.Votes[d.Rating-p.lo]++
		r.vote(p, d.PollID, ev.User, d.Rating)
	case *schemas.PollTextData:
		if p := r.polls[d.PollID]; p != nil && p.kind == schemas.PollCloud {
			if _, out, why := r.pollFor(d.PollID, schemas.PollCloud, ev.TS); out != Applied {
				return out, why
			}
			// The room's word filter applies before anything is counted:
			// a refusing filter drops the answer, a masking one masks the
			// word, which the cloud then does not count (a mask is not a
			// word). A poll answer is not held: a holding filter
			// refuses it.
			answer, verdict := r.filtered(d.Answer)
			if verdict != filterPassed {
				return Ignored, ReasonFiltered
			}
			return r.applyCloud(p, d.PollID, ev, answer)
		}
		p, out, why := r.pollFor(d.PollID, schemas.PollOpenText, ev.TS)
		if p == nil {
			return out, why
		}
		answer, verdict := r.filtered(d.Answer)
		if verdict != filterPassed {
			return Ignored, ReasonFiltered
		}
		if _, had := p.votes[ev.User]; had {
			return Ignored, ReasonAnswered
		}
		pd := r.pollDelta(d.PollID, 0)
		pd.Voters++
		pd.Texts = append(pd.Texts, schemas.PollText{User: ev.User, Text: answer, TS: ev.TS})
		if n := len(pd.Texts) - schemas.PollTextWindow; n > 0 {
			// Only the latest answers reach the state: cutting the pending
			// list's front now is what Apply would do.
			pd.Texts = append(pd.Texts[:0], pd.Texts[n:]...)
		} else {
			r.pendBytes += pollTextBytes(ev.User, answer)
		}
		r.vote(p, d.PollID, ev.User, 0)
	default:
		return DeadLettered, ReasonInvalid
	}
	return Applied, ""
}

// vote records a user's current vote value in the private state, the
// changelog's tick log and the totals.
func (r *room) vote(p *pollPriv, poll, user string, v int) {
	p.votes[user] = v
	r.totals().Votes++
	r.logVotes = append(r.logVotes, voteRec{P: poll, U: user, O: v})
}

// rankBallot adds (sign 1) or takes back (-1) one ranking ballot: Borda
// points into Votes, positions into Ranks.
func rankBallot(pd *schemas.PollDelta, n int, order []int, sign int64) {
	for pos, o := range order {
		pd.Votes[o] += sign * int64(n-1-pos)
		for len(pd.Ranks) <= o {
			pd.Ranks = append(pd.Ranks, nil)
		}
		for len(pd.Ranks[o]) <= pos {
			pd.Ranks[o] = append(pd.Ranks[o], 0)
		}
		pd.Ranks[o][pos] += sign
	}
}

// decodeOrder reverses the ranking code of pollPriv.votes.
func decodeOrder(code int) []int {
	var order []int
	for ; code != 0; code >>= 4 {
		order = append(order, code&15-1)
	}
	return order
}
