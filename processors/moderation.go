package processors

import (
	"maps"
	"regexp"
	"slices"

	"github.com/ovation-live/ovation/schemas"
)

// Moderation in the fold (docs/moderation.md). A sanction or a control is
// an event of the room's log: it applies to the events folded after it,
// so its effect is fixed by its position and identical after any crash,
// replay or rebuild. What it refuses is decided by the refused event's own
// ts (a timeout's end, slow mode), never by a clock, for the same reason.
// Refused events are ignored with a reason: they change nothing, are
// counted nowhere and do not enter the dedup window (a retry after the
// sanction ends is a new event).

// controlsBytes bounds the encoded mod object's controls with their keys:
// counted as fixed, like stateFixedBytes (WorstCaseStateBytes adds it).
const controlsBytes = 160

// fits reports whether n more bytes keep the core record and snapshot
// below the record limit.
func (r *room) fits(cfg *Config, n int) bool {
	return stateFixedBytes+controlsBytes+r.size+n <= cfg.MaxRecordBytes
}

// sanctionBytes bounds one sanctions entry (key included).
func sanctionBytes(user string, s schemas.Sanction) int {
	return jsonStringLen(user) + jsonStringLen(s.Kind) + jsonStringLen(s.By) + jsonStringLen(s.Reason) + 2*intBytes + objFixed
}

// lastChatBytes bounds one slow-mode entry of the core record.
func lastChatBytes(user string) int { return jsonStringLen(user) + intBytes + 2 }

// moderated returns the reason the room's moderation refuses ev, or "".
func (r *room) moderated(ev *schemas.Event) Reason {
	if ev.Type == schemas.Presence {
		return ""
	}
	if s, ok := r.sanctions[ev.User]; ok && s.Active(ev.TS) {
		if s.Kind == schemas.SanctionTimeout {
			return ReasonTimedOut
		}
		return ReasonBanned
	}
	if reason := r.dep.refuses(ev.User, ev.TS); reason != "" {
		return reason // deployment-wide (deployment.go)
	}
	var text string
	chat, isChat := ev.Body.(*schemas.ChatMessageData)
	if isChat {
		text = chat.Text
	}
	switch r.controls.ControlRefusal(ev.Type, text) {
	case "chat_off":
		return ReasonChatOff
	case "emote_only":
		return ReasonEmoteOnly
	case "reactions_off":
		return ReasonReactionsOff
	case "questions_off":
		return ReasonQuestionsOff
	}
	if isChat && r.controls.SlowMode > 0 {
		if last, ok := r.lastChat[ev.User]; ok && ev.TS-last < int64(r.controls.SlowMode)*1000 {
			return ReasonSlowMode
		}
	}
	return ""
}

// slowModeFits makes room for user's entry in lastChat, which the core
// record carries: entries a chat line at ts can no longer be refused by
// are dropped (deterministically, at this event) when the map is large.
// It reports false when the entry still does not fit the record.
func (r *room) slowModeFits(cfg *Config, user string, ts int64) bool {
	if _, ok := r.lastChat[user]; ok {
		return true
	}
	n := lastChatBytes(user)
	if !r.fits(cfg, n) || len(r.lastChat) >= 1024 && len(r.lastChat)&1023 == 0 {
		cut := ts - int64(r.controls.SlowMode)*1000
		for u, last := range r.lastChat {
			if last <= cut {
				delete(r.lastChat, u)
				r.size -= lastChatBytes(u)
			}
		}
	}
	if !r.fits(cfg, n) {
		return false
	}
	r.size += n
	return true
}

func (r *room) modDelta() *schemas.ModDelta {
	if r.pend.Mod == nil {
		r.pend.Mod = &schemas.ModDelta{}
	}
	return r.pend.Mod
}

// sanction applies mod.ban or mod.timeout of target.
func (r *room) sanction(cfg *Config, ev *schemas.Event, target string, s schemas.Sanction, hide bool) (Outcome, Reason) {
	r.pruneSanctions(ev.TS)
	old, had := r.sanctions[target]
	n := sanctionBytes(target, s)
	grow := n
	if had {
		grow -= sanctionBytes(target, old)
	}
	if !had && len(r.sanctions) >= schemas.MaxSanctionsPerRoom {
		return DeadLettered, ReasonLimit
	}
	if !r.fits(cfg, grow) {
		return DeadLettered, ReasonTooLarge
	}
	r.size += grow
	mk(&r.sanctions)[target] = s
	md := r.modDelta()
	if md.Sanctions == nil {
		md.Sanctions = map[string]schemas.Sanction{}
	}
	md.Sanctions[target] = s
	r.pendBytes += n
	if hide {
		r.hideUser(target)
	}
	return Applied, ""
}

// lift ends target's sanction.
func (r *room) lift(target string) {
	old := r.sanctions[target]
	delete(r.sanctions, target)
	r.size -= sanctionBytes(target, old)
	md := r.modDelta()
	delete(md.Sanctions, target)
	if r.pub.Mod != nil {
		if _, ok := r.pub.Mod.Sanctions[target]; ok && !slices.Contains(md.Lifted, target) {
			md.Lifted = append(md.Lifted, target)
			r.pendBytes += jsonStringLen(target) + 1
		}
	}
}

// pruneSanctions lifts the timeouts that ended at or before ts, so the
// state holds only sanctions that can still refuse something. It runs at
// sanction events only, so where an ended timeout leaves the state is
// fixed by the log, not by ticks.
func (r *room) pruneSanctions(ts int64) {
	var ended []string
	for u, s := range r.sanctions {
		if !s.Active(ts) {
			ended = append(ended, u)
		}
	}
	slices.Sort(ended)
	for _, u := range ended {
		r.lift(u)
	}
}

// setControls applies room.controls.
func (r *room) setControls(c schemas.Controls) {
	r.controls = c
	if c.HoldChat || c.HoldQuestions {
		r.view() // moderators can watch the queue before the first hold
	}
	cc := c
	r.modDelta().Controls = &cc
	r.pendBytes += controlsBytes
	if c.SlowMode == 0 {
		for u := range r.lastChat {
			r.size -= lastChatBytes(u)
		}
		r.lastChat = nil
	}
}

// hideUser removes what user wrote that the room still shows: chat lines
// (listed in ChatDeleted, so merged deltas stay exact) and questions.
// The caller closed the pending frame if it held chat lines (see
// cutsChat).
func (r *room) hideUser(user string) {
	for _, list := range [][]schemas.ChatLine{r.pub.Chat, r.pend.Chat} {
		for i := range list {
			if l := &list[i]; l.User == user && !slices.Contains(r.pend.ChatDeleted, l.ID) {
				r.pend.ChatDeleted = append(r.pend.ChatDeleted, l.ID)
				r.pendBytes += jsonStringLen(l.ID) + 1
				r.verdicts = append(r.verdicts, schemas.Verdict{User: l.User, ID: l.ID, Reason: schemas.VerdictHidden})
			}
		}
	}
	if p := r.pinned(); p != nil && p.User == user {
		r.unpin()
	}
	r.unholdUser(user)
	for _, id := range slices.Sorted(maps.Keys(r.questions)) {
		if r.questions[id].user == user {
			r.removeQuestion(id)
		}
	}
}

// cutsChat reports whether ev deletes chat lines, so that the pending
// frame must be closed before it when it holds new lines (see Apply).
func cutsChat(ev *schemas.Event) bool {
	switch d := ev.Body.(type) {
	case *schemas.ChatDeleteData:
		return true
	case *schemas.ModBanData:
		return d.Hide
	case *schemas.ModTimeoutData:
		return d.Hide
	}
	return false
}

// removeQuestion removes question id from the room (qa.remove, or a
// sanction that hides its asker); false if the room does not have it.
func (r *room) removeQuestion(id string) bool {
	q := r.questions[id]
	if q == nil {
		return false
	}
	var user, text string
	if pq := r.pub.Questions[id]; pq != nil {
		user, text = pq.User, pq.Text
		r.pend.QuestionsRemoved = append(r.pend.QuestionsRemoved, id)
	}
	if qd := r.pend.Questions[id]; qd != nil {
		if qd.Text != "" {
			user, text = qd.User, qd.Text
		}
		// Removals apply before a delta's additions: what this delta
		// added to the question goes with it.
		delete(r.pend.Questions, id)
	}
	r.size -= questionBytes(id, user, text)
	r.pendBytes += jsonStringLen(id) + 1
	if !q.answered {
		r.closeQuestion(q)
	}
	delete(r.questions, id)
	// Its upvotes leave the private state: the next checkpoint
	// supersedes the l/ records that name it.
	r.logUps = slices.DeleteFunc(r.logUps, func(u upRec) bool { return u.Q == id })
	r.forceCk = true
	return true
}

// restoreMod rebuilds the private moderation state from the public state
// and the core record's slow-mode entries.
func (r *room) restoreMod(lastChat map[string]int64) {
	m := r.pub.Mod
	if m == nil {
		return
	}
	r.controls = m.Controls
	for u, s := range m.Sanctions {
		mk(&r.sanctions)[u] = s
		r.size += sanctionBytes(u, s)
	}
	if m.Controls.SlowMode > 0 {
		for u, ts := range lastChat {
			mk(&r.lastChat)[u] = ts
			r.size += lastChatBytes(u)
		}
	}
}

// pinned returns the pinned chat line, pend included, or nil.
func (r *room) pinned() *schemas.ChatLine {
	switch {
	case r.pend.Pinned != nil:
		return r.pend.Pinned
	case r.pend.Unpinned:
		return nil
	}
	return r.pub.Pinned
}

// pinnedBytes bounds the pinned line's encoded size (0 without one).
func (r *room) pinnedBytes() int {
	if p := r.pinned(); p != nil {
		return chatLineBytes(p.ID, p.User, p.Name, p.Text)
	}
	return 0
}

// unpin takes the pinned line down (chat.unpin, or the line is deleted
// or its writer hidden).
func (r *room) unpin() {
	r.pend.Pinned, r.pend.Unpinned = nil, true
	r.pendBytes += 16
}

// chatLine returns the history's line id (pend included, deleted ones
// not), or nil.
func (r *room) chatLine(id string) *schemas.ChatLine {
	if slices.Contains(r.pend.ChatDeleted, id) {
		return nil
	}
	for _, list := range [][]schemas.ChatLine{r.pend.Chat, r.pub.Chat} {
		for i := range list {
			if list[i].ID == id {
				return &list[i]
			}
		}
	}
	return nil
}

// filterVerdict is what the room's word filter does to a text.
type filterVerdict uint8

const (
	filterPassed  filterVerdict = iota // no match, or masked
	filterRefused                      // a refusing filter matched
	filterHeld                         // a holding filter matched: into the pending queue
)

// filtered applies the room's word filter, then the deployment's
// (deployment.go), to text: the text to keep (masked if a masking filter
// matched; as written when held) and the verdict. A refusing filter that
// matches refuses; else a holding one holds; else the masks of both
// apply.
func (r *room) filtered(text string) (string, filterVerdict) {
	masked, hit := schemas.FilterMatch(text, r.filter, r.filterRe)
	v := filterPassed
	switch {
	case !hit:
	case r.filterMask:
	case r.filterHold:
		v, masked = filterHeld, text
	default:
		return "", filterRefused
	}
	if d := r.dep; d.hasFilter() {
		dm, dhit := schemas.FilterMatch(masked, d.filter, d.filterRe)
		switch {
		case !dhit:
		case d.filterMask:
			if v == filterPassed {
				masked = dm
			}
		case d.filterHold:
			v, masked = filterHeld, text
		default:
			return "", filterRefused
		}
	}
	return masked, v
}

// filterBytes bounds the filter's share of the core record.
func (r *room) filterBytes() int {
	n := 0
	for _, k := range r.filter {
		n += jsonStringLen(k) + 1
	}
	for _, p := range r.filterPats {
		n += jsonStringLen(p) + 1
	}
	return n
}

// compileFilter turns a mod.filters body into the filter a room or the
// deployment table keeps: its words' keys (normalised, distinct, sorted),
// its compiled patterns, and the bytes both add to the record that holds
// them.
func compileFilter(d *schemas.ModFiltersData) (keys []string, res []*regexp.Regexp, n int, err error) {
	keys = make([]string, 0, len(d.Words))
	for _, w := range d.Words {
		if k := schemas.FilterKey(w); !slices.Contains(keys, k) {
			keys = append(keys, k)
			n += jsonStringLen(k) + 1
		}
	}
	slices.Sort(keys)
	res = make([]*regexp.Regexp, 0, len(d.Patterns))
	for _, pat := range d.Patterns {
		re, err := schemas.CompilePattern(pat)
		if err != nil {
			return nil, nil, 0, err
		}
		res = append(res, re)
		n += jsonStringLen(pat) + 1
	}
	return keys, res, n, nil
}
