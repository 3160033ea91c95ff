package schemas

import (
	"maps"
	"slices"
	"strings"
)

// Hold for review (docs/moderation.md). A room whose controls hold chat
// or questions (Controls.HoldChat, HoldQuestions), or whose word filter
// holds, puts such an event into a pending queue instead of its public
// state. Only moderators see the queue: it is the state of the room's
// moderator view, a companion stream whose id is the room's with
// ModViewSuffix. The processors fold it with the room, in the same
// transaction, with its own seq, frames and snapshots, so it resumes
// like any room. mod.approve puts a held item into the room at the
// approval's position; mod.reject drops it.
const (
	// ModApprove approves a held item: it enters the room as if it were
	// published at the approval's position.
	ModApprove Type = "mod.approve"
	// ModReject drops a held item: it never appears in the room.
	ModReject Type = "mod.reject"
)

// ModViewSuffix ends the id of a room's moderator view. "~" is not an id
// byte, so no room's id can end with it: the view never collides with a
// room.
const ModViewSuffix = "~mod"

// MaxHeldPerRoom bounds a room's pending queue: one more held event is
// ignored with reason held_full until a moderator approves or rejects.
const MaxHeldPerRoom = 100

// Held item kinds (HeldItem.Kind).
const (
	HeldChat     = "chat"
	HeldQuestion = "question"
)

// ModApproveData is the body of mod.approve; ModRejectData of mod.reject.
// ID is the held item's key in the moderator view's held map: the held
// event's id, or, when another user's held event already has that id, a
// key derived from (user, id), so it names one item without doubt.
type ModApproveData struct {
	ID string `json:"id"`
}

// ModRejectData is the body of mod.reject.
type ModRejectData struct {
	ID string `json:"id"`
}

func (d *ModApproveData) validate(f *fieldPath) error { return checkID(f.name("id"), d.ID) }

func (d *ModRejectData) validate(f *fieldPath) error { return checkID(f.name("id"), d.ID) }

// HeldItem is one event in a room's pending queue, as its moderators see
// it: a chat line (Name as published) or a question, with the text the
// room's filter left (masked when the filter masks), the user who wrote
// it, the event's own id and ts.
type HeldItem struct {
	Kind string `json:"kind"`
	User string `json:"user"`
	ID   string `json:"id"` // the event's id
	Name string `json:"name,omitempty"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
	// Filtered is set when the room's word filter held it (rather than
	// a hold control).
	Filtered bool `json:"filtered,omitempty"`
}

// ModView returns the id of room's moderator view.
func ModView(room string) string { return room + ModViewSuffix }

// ModViewOf returns the room a moderator view id belongs to; ok is false
// for an id that is not a moderator view.
func ModViewOf(id string) (room string, ok bool) {
	return strings.CutSuffix(id, ModViewSuffix)
}

// CheckStream validates the id of a stream a client subscribes to: a
// room id (CheckRoom), or a room's moderator view (ModView).
func CheckStream(id string) error {
	if room, ok := ModViewOf(id); ok {
		return CheckRoom(room)
	}
	return CheckRoom(id)
}

// applyHeld folds a delta's held changes: removals first, then additions.
func (s *RoomState) applyHeld(d *Delta) {
	for _, k := range d.HeldRemoved {
		delete(s.Held, k)
	}
	if len(d.Held) > 0 && s.Held == nil {
		s.Held = make(map[string]*HeldItem, len(d.Held))
	}
	for k, h := range d.Held {
		if h != nil {
			c := *h
			s.Held[k] = &c
		}
	}
	if len(s.Held) == 0 {
		s.Held = nil
	}
}

// mergeHeld sets m's held changes to a's then b's.
func mergeHeld(m, a, b *Delta) {
	m.HeldRemoved = mergeRemoved(a.HeldRemoved, b.HeldRemoved)
	if len(a.Held)+len(b.Held) == 0 {
		return
	}
	m.Held = make(map[string]*HeldItem, len(a.Held)+len(b.Held))
	for k, h := range a.Held {
		if h != nil && !slices.Contains(b.HeldRemoved, k) {
			c := *h
			m.Held[k] = &c
		}
	}
	for k, h := range b.Held {
		if h != nil {
			c := *h
			m.Held[k] = &c
		}
	}
	if len(m.Held) == 0 {
		m.Held = nil
	}
}

func cloneHeld(m map[string]*HeldItem) map[string]*HeldItem {
	if len(m) == 0 {
		return nil
	}
	c := maps.Clone(m)
	for k, h := range c {
		if h != nil {
			v := *h
			c[k] = &v
		}
	}
	return c
}
