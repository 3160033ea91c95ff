package processors

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ovation-live/ovation/schemas"
)

// Word clouds (schemas/words.go). A cloud poll counts each normalised
// word once per user: the private state is, per user, the words already
// counted for them (at most schemas.MaxCloudAnswers answers of
// schemas.MaxPollTextLen characters each), and per poll the number of
// users per word, at most schemas.MaxCloudWords distinct words (a new
// word after that is not counted: the long tail is bounded, and the
// top is exact as long as no word that would reach it arrives only after
// the table filled). The public state is the top schemas.CloudTop, kept
// incrementally: counts only grow, so a word enters the top only when
// its own count grows, and each counted word costs at most CloudTop
// steps. The changelog keeps each answer's newly counted words (cloudRec);
// a restore replays them and sorts the top once.

type cloudRec struct {
	P string   `json:"p"`
	U string   `json:"u"`
	W []string `json:"w"`
}

func cloudBytes(c *cloudRec) int {
	n := jsonStringLen(c.P) + jsonStringLen(c.U) + 16
	for _, w := range c.W {
		n += jsonStringLen(w) + 1
	}
	return n
}

// cloudPriv is a cloud poll's private state.
type cloudPriv struct {
	stop   []string
	fold   *schemas.WordFolder
	counts map[string]int64
	users  map[string][]string // user → words counted for them
	top    []schemas.WordCount
}

func newCloud(stop []string) *cloudPriv {
	return &cloudPriv{stop: stop, fold: schemas.NewWordFolder(), counts: map[string]int64{}, users: map[string][]string{}}
}

// better orders the top: count descending, then word.
func better(a, b schemas.WordCount) bool {
	return a.Count > b.Count || a.Count == b.Count && a.Word < b.Word
}

// count adds user's words not yet counted for them and returns them.
func (c *cloudPriv) count(user string, words []string) []string {
	var added []string
	have := c.users[user]
	for _, w := range words {
		if slices.Contains(have, w) {
			continue
		}
		n, known := c.counts[w]
		if !known && len(c.counts) >= schemas.MaxCloudWords {
			continue
		}
		c.counts[w] = n + 1
		have = append(have, w)
		added = append(added, w)
		c.raise(schemas.WordCount{Word: w, Count: n + 1})
	}
	if len(added) > 0 {
		c.users[user] = have
	}
	return added
}

// raise puts wc (a word whose count just grew) where it belongs in top.
func (c *cloudPriv) raise(wc schemas.WordCount) {
	if len(c.top) == schemas.CloudTop && wc.Count < c.top[len(c.top)-1].Count {
		// Most words of a big cloud: every word in the top counts at
		// least the last one's count, so a word below it (its old count
		// lower still) is not in the top and does not enter it.
		return
	}
	i := slices.IndexFunc(c.top, func(e schemas.WordCount) bool { return e.Word == wc.Word })
	switch {
	case i >= 0:
		c.top[i] = wc
	case len(c.top) < schemas.CloudTop:
		c.top = append(c.top, wc)
		i = len(c.top) - 1
	case better(wc, c.top[len(c.top)-1]):
		i = len(c.top) - 1
		c.top[i] = wc
	default:
		return
	}
	for ; i > 0 && better(c.top[i], c.top[i-1]); i-- {
		c.top[i], c.top[i-1] = c.top[i-1], c.top[i]
	}
}

// resort builds the top from all counts (after a restore).
func (c *cloudPriv) resort() {
	all := make([]schemas.WordCount, 0, len(c.counts))
	for w, n := range c.counts {
		all = append(all, schemas.WordCount{Word: w, Count: n})
	}
	slices.SortFunc(all, func(a, b schemas.WordCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Word, b.Word))
	})
	c.top = all[:min(len(all), schemas.CloudTop)]
}

// applyCloud applies a poll.text answer to a cloud poll.
func (r *room) applyCloud(p *pollPriv, id string, ev *schemas.Event, answer string) (Outcome, Reason) {
	n, had := p.votes[ev.User]
	if n >= schemas.MaxCloudAnswers {
		return Ignored, ReasonAnswered
	}
	added := p.cloud.count(ev.User, p.cloud.fold.Words(answer, p.cloud.stop))
	pd := r.pollDelta(id, 0)
	if !had {
		pd.Voters++
	}
	if len(added) > 0 {
		pd.Words = p.cloud.top // the latest top when the frame is cut; Apply copies it
		r.logCloud = append(r.logCloud, cloudRec{P: id, U: ev.User, W: added})
	}
	r.vote(p, id, ev.User, n+1)
	return Applied, ""
}

// cloudWordsBytes bounds a cloud's top in a frame or snapshot: CloudTop
// words of MaxWordRunes 4-byte characters (letters, marks and digits
// only: nothing JSON escapes) with their counts.
var cloudWordsBytes = schemas.CloudTop * (schemas.MaxWordRunes*4 + 2 + intBytes + 20)

func (r *room) replayCloud(cs []cloudRec) error {
	for _, c := range cs {
		p := r.polls[c.P]
		if p == nil || p.cloud == nil {
			return fmt.Errorf("cloud words for poll %s that the core record lacks", c.P)
		}
		for _, w := range c.W {
			p.cloud.counts[w]++
		}
		p.cloud.users[c.U] = append(p.cloud.users[c.U], c.W...)
	}
	return nil
}
