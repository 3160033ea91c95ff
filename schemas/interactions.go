package schemas

import (
	"fmt"
	"slices"
)

// Poll kinds beyond single choice (issue 16). A poll's kind is chosen by
// poll.open and fixes which vote event it takes:
//
//	single   poll.vote  one option per user, moved by a new vote
//	multi    poll.pick  up to max_picks options per user, replaced by a new pick
//	ranking  poll.rank  an order of some or all options per user, replaced by a new one
//	rating   poll.rate  one value of the poll's scale per user, moved by a new rating
//	text     poll.text  one short text per user (the first counts)
//
// Every kind is changeable until poll.close, except text.
const (
	PollSingle   = "single"
	PollMulti    = "multi"
	PollRanking  = "ranking"
	PollRating   = "rating"
	PollOpenText = "text"
)

// PollKinds lists the poll kinds in a stable order.
var PollKinds = []string{PollSingle, PollMulti, PollRanking, PollRating, PollOpenText, PollCloud}

// The vote events of the new poll kinds.
const (
	PollPick Type = "poll.pick"
	PollRank Type = "poll.rank"
	PollRate Type = "poll.rate"
	// PollTextAnswer is the event type of an open-text answer.
	PollTextAnswer Type = "poll.text"
)

// Rating scales of a rating poll: 1–5, 1–10 and the Net Promoter Score
// question's 0–10.
const (
	Scale5   = "1-5"
	Scale10  = "1-10"
	ScaleNPS = "nps"
)

// Scales lists the rating scales in a stable order.
var Scales = []string{Scale5, Scale10, ScaleNPS}

// ScaleRange returns the lowest and highest value of a rating scale, and
// false for an unknown scale.
func ScaleRange(scale string) (lo, hi int, ok bool) {
	switch scale {
	case Scale5:
		return 1, 5, true
	case Scale10:
		return 1, 10, true
	case ScaleNPS:
		return 0, 10, true
	}
	return 0, 0, false
}

// Limits of the new poll kinds.
const (
	MaxPollTextLen = 140 // one open-text answer, in runes
	PollTextWindow = 10  // open-text answers a poll's public state keeps (the latest)
	MaxRating      = 10  // the highest value of any scale
)

// PollPickData is the body of poll.pick: the user's whole choice in a
// multiple-choice poll (zero-based, distinct, at most the poll's
// max_picks). A new pick replaces the previous one.
type PollPickData struct {
	PollID  string `json:"poll_id"`
	Options []int  `json:"options"`
}

// PollRankData is the body of poll.rank: options in the user's order of
// preference, best first (zero-based, distinct; options left out score
// nothing). A new order replaces the previous one.
type PollRankData struct {
	PollID string `json:"poll_id"`
	Order  []int  `json:"order"`
}

// PollRateData is the body of poll.rate: one value of the poll's scale.
type PollRateData struct {
	PollID string `json:"poll_id"`
	Rating int    `json:"rating"`
}

// PollTextData is the body of poll.text: a short single-line answer.
type PollTextData struct {
	PollID string `json:"poll_id"`
	Answer string `json:"answer"`
}

// PollText is one open-text answer in a poll's public state.
type PollText struct {
	User string `json:"user"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
}

var numRating = []string{"rating"}

func (*PollRateData) requiredNumbers() []string { return numRating }

// checkPicks checks a list of distinct option indexes of 1..MaxOptions
// entries.
func checkPicks(field string, opts []int) error {
	if opts == nil {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is missing"}
	}
	if len(opts) < 1 || len(opts) > MaxOptions {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d entries, allowed are 1 to %d", len(opts), MaxOptions)}
	}
	var seen uint32
	for i, o := range opts {
		f := fmt.Sprintf("%s[%d]", field, i)
		if o < 0 || o >= MaxOptions {
			return &ValidationError{Field: f, Rule: RuleRange, Detail: fmt.Sprintf("option %d is outside 0..%d", o, MaxOptions-1)}
		}
		if seen&(1<<o) != 0 {
			return &ValidationError{Field: f, Rule: RuleUnique, Detail: fmt.Sprintf("option %d is listed twice", o)}
		}
		seen |= 1 << o
	}
	return nil
}

func (d *PollPickData) validate(f *fieldPath) error {
	if err := checkID(f.name("poll_id"), d.PollID); err != nil {
		return err
	}
	return checkPicks(f.name("options"), d.Options)
}

func (d *PollRankData) validate(f *fieldPath) error {
	if err := checkID(f.name("poll_id"), d.PollID); err != nil {
		return err
	}
	return checkPicks(f.name("order"), d.Order)
}

func (d *PollRateData) validate(f *fieldPath) error {
	if err := checkID(f.name("poll_id"), d.PollID); err != nil {
		return err
	}
	if d.Rating < 0 || d.Rating > MaxRating {
		return &ValidationError{Field: f.name("rating"), Rule: RuleRange, Detail: fmt.Sprintf("rating %d is outside 0..%d", d.Rating, MaxRating)}
	}
	return nil
}

func (d *PollTextData) validate(f *fieldPath) error {
	if err := checkID(f.name("poll_id"), d.PollID); err != nil {
		return err
	}
	return checkText(f.name("answer"), d.Answer, 1, MaxPollTextLen, false)
}

// validatePollKind checks poll.open's kind-specific fields: options for
// the kinds that have them, max_picks only on multi, scale only (and
// always) on rating.
func (d *PollOpenData) validatePollKind(f *fieldPath) error {
	switch d.Kind {
	case "", PollSingle, PollMulti, PollRanking:
		if err := checkOptions(f, d.Options); err != nil {
			return err
		}
	case PollRating, PollOpenText, PollCloud:
		if d.Options != nil {
			return &ValidationError{Field: f.name("options"), Rule: RuleUnknown, Detail: fmt.Sprintf("a %s poll has no options", d.Kind)}
		}
	default:
		return &ValidationError{Field: f.name("kind"), Rule: RuleEnum, Detail: fmt.Sprintf("unknown poll kind %q (allowed: single, multi, ranking, rating, text, cloud)", truncate(d.Kind, 40))}
	}
	if d.MaxPicks != 0 {
		if d.Kind != PollMulti {
			return &ValidationError{Field: f.name("max_picks"), Rule: RuleUnknown, Detail: "max_picks is only for multi polls"}
		}
		if d.MaxPicks < 1 || d.MaxPicks > len(d.Options) {
			return &ValidationError{Field: f.name("max_picks"), Rule: RuleRange, Detail: fmt.Sprintf("max_picks %d is outside 1..%d (the number of options)", d.MaxPicks, len(d.Options))}
		}
	}
	if d.Kind == PollRating {
		if d.Scale == "" {
			return &ValidationError{Field: f.name("scale"), Rule: RuleRequired, Detail: "a rating poll needs a scale (1-5, 1-10 or nps)"}
		}
		if _, _, ok := ScaleRange(d.Scale); !ok {
			return &ValidationError{Field: f.name("scale"), Rule: RuleEnum, Detail: fmt.Sprintf("unknown scale %q (allowed: 1-5, 1-10, nps)", truncate(d.Scale, 40))}
		}
	} else if d.Scale != "" {
		return &ValidationError{Field: f.name("scale"), Rule: RuleUnknown, Detail: "scale is only for rating polls"}
	}
	return checkStopWords(f, d.StopWords, d.Kind)
}

// PollPicks returns the most options a user may pick in a poll: max_picks,
// or every option when it is 0.
func PollPicks(maxPicks, options int) int {
	if maxPicks == 0 {
		return options
	}
	return maxPicks
}

// PollValues returns how many counters a poll of kind has in Votes: one
// per option, one per value of a rating scale, none for text.
func PollValues(kind, scale string, options int) int {
	switch kind {
	case PollRating:
		lo, hi, _ := ScaleRange(scale)
		return hi - lo + 1
	case PollOpenText, PollCloud:
		return 0
	}
	return options
}

// addCounts adds b into a elementwise, growing a as needed.
func addCounts(a, b []int64) []int64 {
	for i, n := range b {
		for len(a) <= i {
			a = append(a, 0)
		}
		a[i] += n
	}
	return a
}

// applyPollKind folds a poll delta's kind counters into s (a poll's state
// or a merged delta: both add and append the same way).
func applyPollKind(s, d *PollKindState) {
	s.Voters += d.Voters
	for i, row := range d.Ranks {
		for len(s.Ranks) <= i {
			s.Ranks = append(s.Ranks, nil)
		}
		s.Ranks[i] = addCounts(s.Ranks[i], row)
	}
	if d.Words != nil {
		s.Words = slices.Clone(d.Words)
	}
	if len(d.Texts) > 0 {
		s.Texts = append(s.Texts, d.Texts...)
		if n := len(s.Texts) - PollTextWindow; n > 0 {
			s.Texts = slices.Delete(s.Texts, 0, n)
		}
	}
}

// Clone returns a deep copy of s.
func (s PollKindState) Clone() PollKindState {
	c := s
	c.Texts = slices.Clone(s.Texts)
	c.Words = slices.Clone(s.Words)
	c.StopWords = slices.Clone(s.StopWords)
	if s.Ranks != nil {
		c.Ranks = make([][]int64, len(s.Ranks))
		for i, r := range s.Ranks {
			c.Ranks[i] = slices.Clone(r)
		}
	}
	return c
}

// normalize turns empty lists into absent ones, as a re-encode would.
func (s *PollKindState) normalize() {
	if len(s.Ranks) == 0 {
		s.Ranks = nil
	}
	if len(s.Texts) == 0 {
		s.Texts = nil
	}
	if len(s.Words) == 0 {
		s.Words = nil
	}
	if len(s.StopWords) == 0 {
		s.StopWords = nil
	}
}

// PollMean returns the mean rating of a rating poll's state, and false
// when it has no ratings.
func PollMean(p *Poll) (float64, bool) {
	lo, _, ok := ScaleRange(p.Scale)
	if !ok || p.Voters == 0 {
		return 0, false
	}
	var sum int64
	for j, n := range p.Votes {
		sum += int64(lo+j) * n
	}
	return float64(sum) / float64(p.Voters), true
}
