package processors

import (
	"maps"
	"slices"

	"github.com/ovation-live/ovation/schemas"
)

// Hold for review (docs/moderation.md#hold-for-review). A room that holds
// chat or questions (controls hold_chat, hold_questions, or a word filter
// with action hold) puts such an event into its pending queue instead of
// its state. The queue is the state of the room's moderator view
// (schemas.ModView), a companion stream the room folds and writes itself:
// its frames and snapshots go out in the same transaction as the room's,
// with the room's epoch and a seq of their own, so the view is exactly
// once and resumes like any room. A held event is accepted (it enters the
// dedup window, and slow mode counts it) but counted nowhere until
// mod.approve folds it into the room at the approval's position; a
// mod.reject, or a ban that hides its writer, drops it.

// ReasonHeldFull: a held event found the room's pending queue at
// schemas.MaxHeldPerRoom items. ReasonUnknownHeld: mod.approve or
// mod.reject of a key the queue does not have (approved or rejected
// already, or never held).
const (
	ReasonHeldFull    Reason = "held_full"
	ReasonUnknownHeld Reason = "unknown_held"
)

// modView is a room's moderator view: its public state (only Held is
// used) as of its last frame, the change since, and its own frame
// bookkeeping. Only the room's partition loop touches it.
type modView struct {
	seq       uint64 // seq of the view's last frame
	snapSeq   uint64 // seq of its last snapshot
	pub       schemas.RoomState
	pend      schemas.Delta
	pendAny   bool
	pendBytes int  // bound of pend's encoded size, to cut the view's frames
	newEpoch  bool // the view began (or the room's epoch did): snapshot with the next frame
	n         int  // items held, pend included
	dirty     bool // changed since its h/ record was last written
}

// mvRec is the moderator view's changelog record, h/R (and, in core
// records written before h/ records existed, the core's "mv"). It is
// rewritten only in a transaction that changed the view, so a room's
// other changes do not rewrite a full queue (up to ~450 KB).
type mvRec struct {
	Seq     uint64                       `json:"seq"`
	SnapSeq uint64                       `json:"snap_seq"`
	Held    map[string]*schemas.HeldItem `json:"held,omitempty"`
}

// heldBytes bounds one held item's encoded size (key included), in the
// core record and in the view's snapshot.
func heldBytes(key string, h *schemas.HeldItem) int {
	return jsonStringLen(key) + jsonStringLen(h.Kind) + jsonStringLen(h.User) + jsonStringLen(h.ID) + jsonStringLen(h.Name) + jsonStringLen(h.Text) + intBytes + objFixed
}

// view returns the room's moderator view, making it when the room has
// none: its first frame and a snapshot go out with the room's next flush.
func (r *room) view() *modView {
	if r.mv == nil {
		r.mv = &modView{pendAny: true, newEpoch: true}
	}
	return r.mv
}

// heldItem returns the queue's item key (pend included), or nil.
func (r *room) heldItem(key string) *schemas.HeldItem {
	mv := r.mv
	if mv == nil {
		return nil
	}
	if h := mv.pend.Held[key]; h != nil {
		return h
	}
	if slices.Contains(mv.pend.HeldRemoved, key) {
		return nil
	}
	return mv.pub.Held[key]
}

// heldKey returns the queue key for ev: its id, or when another user's
// held item has that id, one derived from (user, id) (scopedID, as chat
// lines and questions do). ok is false when ev's own (user, id) is
// already held: a duplicate.
func (r *room) heldKey(ev *schemas.Event) (string, bool) {
	key := ev.ID
	for range 2 {
		h := r.heldItem(key)
		if h == nil {
			return key, true
		}
		if h.User == ev.User && h.ID == ev.ID {
			return "", false
		}
		key = scopedID(ev.User, ev.ID)
	}
	return "", false
}

// hold puts ev's chat line or question into the pending queue.
func (r *room) hold(cfg *Config, ev *schemas.Event, kind, name, text string, filtered bool) (Outcome, Reason) {
	key, ok := r.heldKey(ev)
	if !ok {
		return Ignored, ReasonDuplicate
	}
	if r.mv != nil && r.mv.n >= schemas.MaxHeldPerRoom {
		return Ignored, ReasonHeldFull
	}
	h := &schemas.HeldItem{Kind: kind, User: ev.User, ID: ev.ID, Name: name, Text: text, TS: ev.TS, Filtered: filtered}
	n := heldBytes(key, h)
	if !r.fits(cfg, n) {
		return DeadLettered, ReasonTooLarge
	}
	mv := r.view()
	r.size += n
	mv.n++
	if mv.pend.Held == nil {
		mv.pend.Held = map[string]*schemas.HeldItem{}
	}
	mv.pend.Held[key] = h
	mv.pendAny = true
	mv.pendBytes += n
	r.verdicts = append(r.verdicts, schemas.Verdict{User: ev.User, ID: ev.ID, Reason: schemas.VerdictHeld})
	return Applied, ""
}

// unhold takes key out of the queue (approved, rejected or hidden).
func (r *room) unhold(key string) {
	h := r.heldItem(key)
	if h == nil {
		return
	}
	mv := r.mv
	r.size -= heldBytes(key, h)
	mv.n--
	delete(mv.pend.Held, key)
	if _, ok := mv.pub.Held[key]; ok && !slices.Contains(mv.pend.HeldRemoved, key) {
		mv.pend.HeldRemoved = append(mv.pend.HeldRemoved, key)
	}
	mv.pendAny = true
	mv.pendBytes += jsonStringLen(key) + 1
}

// approve folds held item key into the room as its event would have been
// folded here, but for the controls, slow mode and the filter, which
// judged it when it was held. What the room refuses now (a question past
// the room's limits, a chat id the same user took since) leaves it held.
func (r *room) approve(cfg *Config, key string) (Outcome, Reason) {
	h := r.heldItem(key)
	if h == nil {
		return Ignored, ReasonUnknownHeld
	}
	ev := &schemas.Event{ID: h.ID, Room: r.id, User: h.User, TS: h.TS}
	var out Outcome
	var reason Reason
	switch h.Kind {
	case schemas.HeldChat:
		out, reason = r.addChat(ev, h.Name, h.Text)
	default:
		out, reason = r.addQuestion(cfg, ev, h.Text)
	}
	if out == Applied {
		r.unhold(key)
		r.verdicts = append(r.verdicts, schemas.Verdict{User: h.User, ID: h.ID, Reason: schemas.VerdictApproved})
	}
	return out, reason
}

// reject drops held item key.
func (r *room) reject(key string) (Outcome, Reason) {
	if r.heldItem(key) == nil {
		return Ignored, ReasonUnknownHeld
	}
	r.unhold(key)
	return Applied, ""
}

// unholdUser drops user's held items (a ban or timeout that hides).
func (r *room) unholdUser(user string) {
	mv := r.mv
	if mv == nil {
		return
	}
	var keys []string
	for _, m := range []map[string]*schemas.HeldItem{mv.pub.Held, mv.pend.Held} {
		for k, h := range m {
			if h.User == user && !slices.Contains(keys, k) && r.heldItem(k) == h {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		r.unhold(k)
	}
}

// emitView writes the moderator view's next frame (after the room's own,
// in the same batch) and folds it into the view's state.
func (r *room) emitView(b *Batch, ts int64) {
	mv := r.mv
	mv.seq++
	f := schemas.Frame{Room: schemas.ModView(r.id), Epoch: r.epoch, Seq: mv.seq, TS: ts, Delta: mv.pend}
	v, err := schemas.MarshalFrame(&f)
	if err != nil {
		panic("processors: encode frame: " + err.Error()) // plain structs: cannot fail
	}
	b.Frames = append(b.Frames, Rec{Key: []byte(f.Room), Value: v})
	mv.pub.Apply(&mv.pend)
	mv.pend, mv.pendAny, mv.pendBytes = schemas.Delta{}, false, 0
	mv.dirty = true
}

// viewSnapshot writes the view's snapshot when it is due: with its first
// frame of an epoch, then every Config.SnapshotEvery frames, and with
// every snapshot of the room (withRoom) if it lags, so it never lags its
// frames longer than the room's does (Config.SnapshotInterval).
func (r *room) viewSnapshot(cfg *Config, b *Batch, withRoom bool) {
	mv := r.mv
	if mv == nil || mv.seq == 0 {
		return
	}
	if mv.snapSeq != mv.seq && (mv.newEpoch || withRoom) || mv.seq-mv.snapSeq >= uint64(cfg.SnapshotEvery) {
		id := schemas.ModView(r.id)
		v := withState(encodeJSON(&snapshotOut{Room: id, Epoch: r.epoch, Seq: mv.seq, TS: r.ts, State: statePlaceholder}), encodeJSON(&mv.pub))
		b.Snapshots = append(b.Snapshots, Rec{Key: []byte(id), Value: v})
		mv.snapSeq = mv.seq
		mv.dirty = true
	}
	mv.newEpoch = false
	r.writeView(b, false)
}

// writeView writes the view's h/ record when the view changed since the
// last one (always, with force: an eviction's group holds it).
func (r *room) writeView(b *Batch, force bool) {
	mv := r.mv
	if mv == nil || !mv.dirty && !force {
		return
	}
	b.Changelog = append(b.Changelog, Rec{Key: viewKey(r.id), Value: encodeJSON(r.viewRecord())})
	mv.dirty = false
}

// viewRecord is the view's h/ record (nil without a view).
func (r *room) viewRecord() *mvRec {
	mv := r.mv
	if mv == nil {
		return nil
	}
	return &mvRec{Seq: mv.seq, SnapSeq: mv.snapSeq, Held: mv.pub.Held}
}

// restoreView rebuilds the view from its h/ record, or from an older core
// record's "mv" (fromCore): then the next flush writes the h/ record
// before a core record without it.
func (r *room) restoreView(rec *mvRec, fromCore bool) {
	if rec == nil {
		return
	}
	r.mv = &modView{seq: rec.Seq, snapSeq: rec.SnapSeq, pub: schemas.RoomState{Held: rec.Held}, n: len(rec.Held), dirty: fromCore}
	r.mv.pub.Apply(&schemas.Delta{})
	for k, h := range rec.Held {
		r.size += heldBytes(k, h)
	}
}

// restartView starts the view over in r's new epoch (a rebuild): its
// first frames carry the whole queue, cut at Config.MaxFrameBytes, and a
// snapshot follows with the room's. A room that had a view and has none
// after the rebuild gets an empty one, so moderators watching it learn
// of the new epoch.
func (r *room) restartView(cfg *Config, had bool, ts int64, b *Batch) {
	mv := r.mv
	if mv == nil {
		if !had {
			return
		}
		r.mv = &modView{}
		mv = r.mv
	}
	mv.pub.Apply(&mv.pend)
	held := mv.pub.Held
	*mv = modView{newEpoch: true, n: len(held)}
	for _, k := range slices.Sorted(maps.Keys(held)) {
		if mv.pendBytes >= cfg.frameBytes() {
			r.emitView(b, ts)
		}
		if mv.pend.Held == nil {
			mv.pend.Held = map[string]*schemas.HeldItem{}
		}
		mv.pend.Held[k] = held[k]
		mv.pendBytes += heldBytes(k, held[k])
	}
	r.emitView(b, ts)
}

// ViewState returns a copy of room id's moderator view state (its pending
// queue) as of the last Flush, with the room's epoch and the view's seq;
// ok is false for a room without a view.
func (p *Partition) ViewState(id string) (state schemas.RoomState, epoch string, seq uint64, ok bool) {
	r := p.rooms[id]
	if r == nil || r.mv == nil {
		return schemas.RoomState{}, "", 0, false
	}
	return r.mv.pub.Clone(), r.epoch, r.mv.seq, true
}
