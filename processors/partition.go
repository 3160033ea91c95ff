package processors

import (
	"bytes"
	"fmt"
	"iter"
	"slices"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// Rec is one record to produce: its key and value (a nil value is a
// tombstone). The Kafka loop writes it to the partition the Partition
// belongs to.
type Rec struct {
	Key   []byte
	Value []byte
}

// Batch collects the records one transaction writes for a partition, by
// topic. Frames of a room are in seq order.
type Batch struct {
	Frames    []Rec
	Snapshots []Rec
	Changelog []Rec
	// Events are events the partition writes itself, keyed by room, for
	// the room's events partition: the closes of timers (timers.go).
	Events []Rec
	// Verdicts are the judgements of events analytics must know
	// (schemas.Verdicts; verdicts.go writes them).
	Verdicts []RoomVerdict
	// Copies are the deployment room's deployment-wide events folded in
	// this transaction (deployment.go): the Kafka loop writes each into
	// every events partition.
	Copies [][]byte
}

// Reset empties b, keeping its capacity unless a burst (a mass eviction,
// a restore) grew it far past a usual transaction's.
func (b *Batch) Reset() {
	for _, s := range []*[]Rec{&b.Frames, &b.Snapshots, &b.Changelog, &b.Events} {
		if cap(*s) > batchKeep {
			*s = nil
			continue
		}
		clear(*s)
		*s = (*s)[:0]
	}
	clear(b.Verdicts)
	b.Verdicts = b.Verdicts[:0]
	clear(b.Copies)
	b.Copies = b.Copies[:0]
}

// batchKeep is the most records a Batch's slices keep between uses.
const batchKeep = 4096

// Len is the number of records in b.
func (b *Batch) Len() int {
	return len(b.Frames) + len(b.Snapshots) + len(b.Changelog) + len(b.Events) + len(b.Copies)
}

// Partition is the aggregation state of one events partition: every room
// whose events live there. It is pure code: events in (Apply, Rebuild),
// records out (Flush) — no Kafka, no clock but the one passed in. It is
// owned by one goroutine.
//
// Apply mutates the rooms in place and records what changed; Flush turns
// the changes into frames, snapshots and changelog entries. The Kafka loop
// calls Flush once per transaction and, when the transaction does not
// commit, throws the Partition away and restores it from the changelog:
// the in-place changes are the pending overlay, and the changelog is the
// committed state.
type Partition struct {
	cfg         *Config
	rooms       map[string]*room
	changed     []*room
	watched     map[*room]struct{}     // rooms with presence reports, checked for expiry
	evicted     map[string]evictedRef  // rooms whose state is only in the changelog
	peak        int                    // most rooms since the map was last copied
	watchedPeak int                    // the same for watched
	rebuilds    map[string]*rebuildJob // rooms being rebuilt (see rebuild.go)
	timed       map[*room]struct{}     // rooms with a pending timer (timers.go)
	// lagging holds the rooms whose latest snapshot is behind their
	// latest frame; lagMin is the earliest of their snapDue (0: none).
	lagging map[*room]struct{}
	lagMin  int64
	scored  []*room // rooms scored since TakeStandings (standings.go)
	// HotAfter (processor clock, ms) makes a room hot when it applies an
	// event and its last flush with an event came after it; Hot reports
	// that one did since the last Flush. The Kafka loop sets HotAfter to
	// a tick ago, so a room that had a frame within the tick (a room
	// taking several events per tick) keeps its transaction open to the
	// tick instead of the linger: its frames stay one per tick, while a
	// quiet room's event is still committed at once (see session.endAt).
	HotAfter int64
	Hot      bool
	// dep is the deployment-wide table (deployment.go); depChanged: its
	// g/ record is written at the next Flush.
	dep        *depTable
	depChanged bool
}

// NewPartition returns an empty partition state. cfg must be validated.
func NewPartition(cfg *Config) *Partition {
	return &Partition{cfg: cfg, rooms: map[string]*room{}, watched: map[*room]struct{}{}, evicted: map[string]evictedRef{}, rebuilds: map[string]*rebuildJob{}, timed: map[*room]struct{}{}, lagging: map[*room]struct{}{}, dep: newDepTable()}
}

// Apply folds one valid event (from schemas.ParseEvent) into its room.
// Frames may be written into b before Flush when a room's pending frame
// grows past Config.MaxFrameBytes. An event of an evicted room returns
// NeedsLoad and changes nothing: the caller loads the room (Evicted,
// Load) and applies the event again.
func (p *Partition) Apply(ev *schemas.Event, b *Batch) (Outcome, Reason) {
	r := p.rooms[ev.Room]
	created := false
	if r == nil {
		if _, ok := p.evicted[ev.Room]; ok {
			return NeedsLoad, ""
		}
		if ev.Type == schemas.Presence {
			// Viewers of a room nobody has written to: subscribing
			// alone must not make state that lives forever.
			return Ignored, ReasonNoRoom
		}
		r = newRoom(ev.Room, p.cfg.NewEpoch())
		r.newEpoch = true
		created = true
	}
	if _, dup := r.dedup[idKey{ev.User, ev.ID}]; dup {
		return Ignored, ReasonDuplicate
	}
	if cutsChat(ev) && len(r.pend.Chat) > 0 {
		// Apply appends a delta's chat, then deletes, then trims to
		// ChatHistory; a delete after new lines in one delta could keep a
		// line that event-by-event trimming dropped. Closing the frame
		// first keeps the history independent of frame boundaries.
		r.emitFrame(p.cfg, b)
	}
	r.dep = p.dep
	out, reason := r.apply(p.cfg, ev)
	found := r.verdicts
	r.verdicts = nil
	if out != Applied {
		switch {
		case out != Ignored:
		case schemas.IsVerdictReason(string(reason)):
			b.Verdicts = append(b.Verdicts, RoomVerdict{ev.Room, schemas.Verdict{User: ev.User, ID: ev.ID, Reason: string(reason)}})
		case ev.Type == schemas.ChatDelete:
			// It deleted nothing (the line was not shown then): chat
			// history must not drop the line for it.
			b.Verdicts = append(b.Verdicts, RoomVerdict{ev.Room, schemas.Verdict{User: ev.User, ID: ev.ID, Reason: schemas.VerdictNoEffect}})
		}
		return out, reason
	}
	for _, v := range found {
		b.Verdicts = append(b.Verdicts, RoomVerdict{ev.Room, v})
	}
	if created {
		p.rooms[ev.Room] = r
		p.peak = max(p.peak, len(p.rooms))
	}
	r.accept(ev)
	if c := &r.dchunks[len(r.dchunks)-1]; c.bytes >= p.cfg.chunkBytes() {
		r.closeDedupChunk(b)
	}
	if ev.Room == p.cfg.DeploymentRoom && schemas.IsDeploymentWide(ev.Type) {
		// Written into every events partition in this transaction
		// (deployment.go).
		if v, err := ev.Marshal(); err == nil {
			b.Copies = append(b.Copies, v)
		}
	}
	p.markChanged(r)
	if p.HotAfter > 0 && r.lastActive > p.HotAfter {
		p.Hot = true
	}
	if len(r.nodes) > 0 {
		p.watched[r] = struct{}{}
		p.watchedPeak = max(p.watchedPeak, len(p.watched))
	}
	if r.pendBytes >= p.cfg.frameBytes() {
		r.emitFrame(p.cfg, b)
	}
	if r.mv != nil && r.mv.pendBytes >= p.cfg.frameBytes() {
		r.emitView(b, ev.TS) // the view's frames are cut on their own
	}
	return Applied, ""
}

func (p *Partition) markChanged(r *room) {
	if !r.changed {
		r.changed = true
		p.changed = append(p.changed, r)
	}
}

// accept records an applied event in the dedup window and the frame's ts.
func (r *room) accept(ev *schemas.Event) {
	mk(&r.dedup)[idKey{ev.User, ev.ID}] = struct{}{}
	c := &r.dchunks[len(r.dchunks)-1]
	c.ids = append(c.ids, ev.ID)
	c.users = append(c.users, ev.User)
	c.tss = append(c.tss, ev.TS)
	c.maxTS = max(c.maxTS, ev.TS)
	c.bytes += jsonStringLen(ev.ID) + jsonStringLen(ev.User) + intBytes + 3
	r.maxTS = max(r.maxTS, ev.TS)
	if ev.Type != schemas.Presence {
		r.pendAny = true
		r.pendTS = max(r.pendTS, ev.TS)
		r.active = true
	}
}

// Changed reports how many rooms have changes not yet flushed.
func (p *Partition) Changed() int { return len(p.changed) }

// Rooms returns the number of rooms in the partition.
func (p *Partition) Rooms() int { return len(p.rooms) }

// Flush writes, for every room changed since the last Flush, its frame,
// its snapshot when due (snapshotDue) and its changelog entries into b,
// and the snapshots of unchanged rooms whose snapshot lags past
// Config.SnapshotInterval. now (Unix ms, the processor's clock) expires
// presence reports older than Config.PresenceTTL and stamps the rooms
// that had events as active. Only rooms that changed, that have presence
// reports or whose snapshot lags are looked at.
func (p *Partition) Flush(now int64, b *Batch) {
	p.Hot = false
	ttl := p.cfg.PresenceTTL.Milliseconds()
	// Rooms with viewers change when a pusher stops reporting.
	for r := range p.watched {
		if len(r.nodes) == 0 {
			delete(p.watched, r)
			continue
		}
		if !r.changed {
			for _, rep := range r.nodes {
				if now-rep.TS > ttl {
					p.markChanged(r)
					break
				}
			}
		}
	}
	for _, r := range p.changed {
		if r.hasTimer() {
			p.timed[r] = struct{}{}
		}
		if r.rankDirty && !slices.Contains(p.scored, r) {
			p.scored = append(p.scored, r)
		}
		if v := r.liveViewers(now, ttl); v != r.pub.Viewers {
			r.pend.Viewers = &v
			r.pendAny = true
		}
		if r.active {
			r.lastActive, r.active = now, false
		}
		if r.pendAny {
			r.emitFrame(p.cfg, b)
		}
		// Ids of events that made no frame (presence) are persisted too,
		// so the open chunk never grows without bound.
		r.closeDedupChunk(b)
		r.expireDedup(p.cfg, r.maxTS, b)
		if r.forceCk || r.logBytes >= max(r.ckptBytes, p.cfg.CheckpointMinBytes) {
			r.checkpoint(p.cfg, b)
		}
		p.writeState(r, now, b)
	}
	clear(p.changed)
	p.changed = p.changed[:0]
	if p.depChanged {
		b.Changelog = append(b.Changelog, Rec{Key: depTableKey, Value: p.dep.record()})
		p.depChanged = false
	}
	p.catchUp(now, b)
	p.fireTimers(now, b)
}

// writeState writes r's snapshot (when due) and core record. The public
// state is encoded only for a snapshot: in between, the changelog holds
// the frames after it (f/ records, see changelog.go).
func (p *Partition) writeState(r *room, now int64, b *Batch) {
	if p.snapshotDue(r, now) || r.pseq == 0 && r.seq > 0 && r.fFrom != 1 {
		// (A room read back from a core record that held its state has
		// no p/ record yet: it gets one before a core without the state.)
		p.writeSnapshot(r, encodeJSON(&r.pub), b)
	} else {
		r.viewSnapshot(p.cfg, b, false)
		p.lag(r, now)
	}
	b.Changelog = append(b.Changelog, Rec{Key: coreKey(r.id), Value: r.coreRecord(0)})
	r.changed, r.newEpoch, r.forceCk = false, false, false
}

// snapshotDue is the snapshot rule: a room with frames gets a snapshot
// at its latest seq on an epoch's first frame, once its seq is
// Config.SnapshotEvery frames past the last snapshot, and once the
// snapshot has lagged its frames for Config.SnapshotInterval. So a
// snapshot plus the frames after it is always the room's state, and a
// room that goes quiet has a snapshot at its last frame within
// SnapshotInterval (pushers that lose their window of frames, or evict
// the room, still serve it exactly).
func (p *Partition) snapshotDue(r *room, now int64) bool {
	if r.seq == 0 || r.snapSeq == r.seq {
		return false
	}
	return r.newEpoch || r.seq-r.snapSeq >= uint64(p.cfg.SnapshotEvery) || r.snapDue > 0 && now >= r.snapDue
}

// writeSnapshot writes r's snapshot and, with the same bytes, its p/
// record, whose state the f/ records so far lead to.
func (p *Partition) writeSnapshot(r *room, state []byte, b *Batch) {
	snap := r.snapshot(state)
	b.Snapshots = append(b.Snapshots, Rec{Key: []byte(r.id), Value: snap})
	b.Changelog = append(b.Changelog, Rec{Key: stateKey(r.id), Value: snap})
	r.dropFrames(b)
	r.snapSeq, r.snapDue, r.pseq = r.seq, 0, r.seq
	delete(p.lagging, r)
	// The moderator view's frames come with the room's: its snapshot
	// follows the room's schedule.
	r.viewSnapshot(p.cfg, b, true)
}

// lag notes that r's snapshot is behind its frames (if it is) and when
// it must catch up.
func (p *Partition) lag(r *room, now int64) {
	if r.seq == 0 || r.snapSeq == r.seq || r.snapDue > 0 {
		return
	}
	r.snapDue = now + p.cfg.SnapshotInterval.Milliseconds()
	p.lagging[r] = struct{}{}
	if p.lagMin == 0 || r.snapDue < p.lagMin {
		p.lagMin = r.snapDue
	}
}

// catchUp writes the snapshots that lagged their room's frames for
// Config.SnapshotInterval (rooms that went quiet). The core record is
// not rewritten: a restore takes the snapshot's seq from the p/ record
// written with it.
func (p *Partition) catchUp(now int64, b *Batch) {
	if p.lagMin == 0 || now < p.lagMin {
		return
	}
	p.lagMin = 0
	for r := range p.lagging {
		if r.snapSeq == r.seq {
			r.snapDue = 0
			delete(p.lagging, r)
			continue
		}
		if now >= r.snapDue {
			p.writeSnapshot(r, encodeJSON(&r.pub), b)
			continue
		}
		if p.lagMin == 0 || r.snapDue < p.lagMin {
			p.lagMin = r.snapDue
		}
	}
}

// snapshotAt returns when the earliest lagging snapshot is due (processor
// clock, ms; 0: none).
func (p *Partition) snapshotAt() int64 { return p.lagMin }

// Evict drops from memory the rooms with no event since now − Config.RoomIdle
// and nothing pending. Their state stays in the changelog, written by
// Evict as one contiguous group (fresh d/ records of the ids still inside
// the dedup window by the clock now, a checkpoint, the core record last,
// marked evicted) so Load reads it back with one fetch; the ids outside
// the window are dropped, so idle rooms forget ids too. The caller tells
// the Partition where the group landed (Evicted) once it is produced. It
// returns the number of rooms evicted.
func (p *Partition) Evict(now int64, b *Batch) int {
	idle := p.cfg.RoomIdle.Milliseconds()
	n := 0
	for id, r := range p.rooms {
		// A room with presence reports is watched (and flushed when they
		// expire); it is evicted once they have.
		// A room whose snapshot lags its frames is evicted once the
		// snapshot has caught up (within Config.SnapshotInterval).
		_, timed := p.timed[r]
		if _, lags := p.lagging[r]; lags || r.changed || r.pendAny || r.lastActive > now-idle || len(r.nodes) > 0 || p.rebuilds[id] != nil || timed {
			continue
		}
		if r.lastActive == 0 {
			// Restored from a record without a clock: idle from now.
			r.lastActive = now
			continue
		}
		// Tombstone every d/ record, then write the ids still inside the
		// window by the processor's clock as fresh ones.
		r.closeDedupChunk(b)
		r.expireDedup(p.cfg, max(r.maxTS, now), b)
		var keep []dedupChunk
		for _, c := range r.dchunks {
			if c.n > 0 {
				b.Changelog = append(b.Changelog, Rec{Key: dedupKey(r.id, c.n)})
				keep = append(keep, c)
			}
		}
		r.dropFrames(b)
		tomb := len(b.Changelog)
		r.dchunks = r.dchunks[:0]
		for _, c := range keep {
			r.dseq++
			c.n = r.dseq
			b.Changelog = append(b.Changelog, Rec{Key: dedupKey(r.id, c.n), Value: encodeDedup(&c)})
		}
		r.checkpoint(p.cfg, b)
		// The group Load reads: from the first fresh record to the core,
		// the public state (p/) included.
		r.writeView(b, true)
		b.Changelog = append(b.Changelog, Rec{Key: stateKey(r.id), Value: r.snapshot(encodeJSON(&r.pub))})
		r.pseq = r.seq
		count := len(b.Changelog) - tomb + 1
		b.Changelog = append(b.Changelog, Rec{Key: coreKey(r.id), Value: r.coreRecord(count)})
		// Tombstones of l/ records that the checkpoint wrote sit inside
		// the group; Load skips what is not the room's live record.
		p.evicted[id] = evictedRef{first: -1, n: int32(count)}
		delete(p.rooms, id)
		delete(p.watched, r)
		n++
	}
	if n > 0 {
		// Go maps do not shrink: copy them once they hold far fewer
		// entries than they grew to, so memory follows active rooms.
		// (maps.Clone keeps the capacity; a fresh map does not.)
		if p.peak > 1024 && len(p.rooms) < p.peak/4 {
			p.rooms = copyMap(p.rooms)
			p.peak = len(p.rooms)
		}
		if p.watchedPeak > 1024 && len(p.watched) < p.watchedPeak/4 {
			p.watched = copyMap(p.watched)
			p.watchedPeak = len(p.watched)
		}
		if cap(p.changed) > batchKeep {
			p.changed = nil
		}
	}
	return n
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// presenceDue reports whether a room's presence report expired at now.
func (p *Partition) presenceDue(now, ttl int64) bool {
	for r := range p.watched {
		for _, rep := range r.nodes {
			if now-rep.TS > ttl {
				return true
			}
		}
	}
	return false
}

// idleRooms counts the rooms Evict would evict at now.
func (p *Partition) idleRooms(now int64) int {
	idle := p.cfg.RoomIdle.Milliseconds()
	n := 0
	for id, r := range p.rooms {
		if _, lags := p.lagging[r]; !lags && !r.changed && !r.pendAny && r.lastActive <= now-idle && len(r.nodes) == 0 && p.rebuilds[id] == nil {
			n++
		}
	}
	return n
}

// evictedRef locates an evicted room's changelog group: n records ending
// with its core record at offset first+n−1 (first is −1 until the group
// is produced).
type evictedRef struct {
	first int64
	n     int32
}

// Evicted records where an evicted room's group landed: coreOffset is the
// changelog offset of its core record.
func (p *Partition) Evicted(id string, coreOffset int64) {
	if e, ok := p.evicted[id]; ok {
		e.first = coreOffset - int64(e.n) + 1
		p.evicted[id] = e
	}
}

// EvictedRange returns the changelog offsets [from, to) holding an
// evicted room's state; ok is false for a room that is not evicted.
func (p *Partition) EvictedRange(id string) (from, to int64, ok bool) {
	e, ok := p.evicted[id]
	if !ok || e.first < 0 {
		return 0, 0, false
	}
	return e.first, e.first + int64(e.n), true
}

// Load brings an evicted room back from its changelog records (those of
// EvictedRange, in offset order).
func (p *Partition) Load(id string, recs []Rec) error {
	rs := NewRestorer(p.cfg)
	for _, r := range recs {
		if err := rs.Add(r.Key, r.Value, -1); err != nil {
			return err
		}
	}
	raw, ok := rs.cores[id]
	if !ok {
		return fmt.Errorf("room %s: no core record in its evicted group", id)
	}
	r, err := rs.room(id, raw)
	if err != nil {
		return fmt.Errorf("room %s: %w", id, err)
	}
	delete(p.evicted, id)
	p.rooms[id] = r
	p.peak = max(p.peak, len(p.rooms))
	if len(r.nodes) > 0 {
		p.watched[r] = struct{}{}
	}
	p.restored(r)
	return nil
}

// restored notes a room read back from the changelog whose snapshot is
// behind its frames as far as the core record knows: its snapshot is
// written at the next Flush.
func (p *Partition) restored(r *room) {
	if r.seq > 0 && r.snapSeq != r.seq {
		r.snapDue = 1
		p.lagging[r] = struct{}{}
		p.lagMin = 1
	}
}

// EvictedRooms returns how many rooms are evicted (state only in the
// changelog).
func (p *Partition) EvictedRooms() int { return len(p.evicted) }

// emitFrame turns pend into the next frame, folds it into pub, and writes
// the private changes it carries (l/ and d/ records).
func (r *room) emitFrame(cfg *Config, b *Batch) {
	r.seq++
	ts := r.pendTS
	if ts == 0 {
		ts = r.ts
	}
	if len(r.pend.Chat) > 0 {
		// Lines that new ones push out of the history are listed as
		// removed, so merged deltas (a slow client's) stay exact.
		r.pend.ChatDeleted = append(r.pend.ChatDeleted, r.pub.ChatEvictions(&r.pend)...)
	}
	f := schemas.Frame{Room: r.id, Epoch: r.epoch, Seq: r.seq, TS: ts, Delta: r.pend}
	v, err := schemas.MarshalFrame(&f)
	if err != nil {
		panic("processors: encode frame: " + err.Error()) // plain structs: cannot fail
	}
	b.Frames = append(b.Frames, Rec{Key: []byte(r.id), Value: v})
	// The same bytes, as the changelog's record of the state's change.
	b.Changelog = append(b.Changelog, Rec{Key: frameKey(r.id, r.seq), Value: v})
	if r.fFrom == 0 {
		r.fFrom = r.seq
	}
	r.pub.Apply(&r.pend)
	r.ts = max(r.ts, ts)
	r.pend, r.pendTS, r.pendBytes, r.pendAny = schemas.Delta{}, 0, 0, false
	if r.mv != nil && r.mv.pendAny {
		r.emitView(b, ts)
	}
	r.writeLog(cfg, b)
	r.closeDedupChunk(b)
}

// snapshotOut is schemas.Snapshot with the state already encoded; the
// field names and order are the same, so readers decode it as a
// schemas.Snapshot (TestSnapshotEncoding checks).
type snapshotOut struct {
	Room  string          `json:"room"`
	Epoch string          `json:"epoch"`
	Seq   uint64          `json:"seq"`
	TS    int64           `json:"ts"`
	State json.RawMessage `json:"state"`
}

func (r *room) snapshot(state []byte) []byte {
	return withState(encodeJSON(&snapshotOut{Room: r.id, Epoch: r.epoch, Seq: r.seq, TS: r.ts, State: statePlaceholder}), state)
}

// statePlaceholder stands for the encoded state in a record that
// withState completes: the codec re-scans a RawMessage it is given (24×
// slower than copying it), and a big room's state is megabytes, written
// twice a transaction.
var statePlaceholder = json.RawMessage("0")

// withState puts state where enc has `"state":0`: the first such
// sequence, which is the state field (the fields before it are ids and
// numbers, and text inside strings has its quotes escaped).
func withState(enc, state []byte) []byte {
	const ph = `"state":0`
	i := bytes.Index(enc, []byte(ph))
	if i < 0 {
		panic("processors: record without a state placeholder")
	}
	out := make([]byte, 0, len(enc)+len(state))
	out = append(out, enc[:i+len(ph)-1]...)
	out = append(out, state...)
	return append(out, enc[i+len(ph):]...)
}

// expireDedup drops whole dedup records once every id in them is older
// than the window (by clock: the room's event clock, or the processor's
// when a room is evicted) or the room holds more than
// Config.MaxDedupIDs ids, and tombstones them in the changelog.
func (r *room) expireDedup(cfg *Config, clock int64, b *Batch) {
	cut := clock - cfg.DedupWindow.Milliseconds()
	for len(r.dchunks) > 1 {
		c := r.dchunks[0]
		if c.maxTS >= cut && len(r.dedup) <= cfg.MaxDedupIDs {
			break
		}
		for i, id := range c.ids {
			delete(r.dedup, idKey{c.user(i), id})
		}
		if c.n > 0 && b != nil {
			b.Changelog = append(b.Changelog, Rec{Key: dedupKey(r.id, c.n)})
		}
		r.dchunks[0] = dedupChunk{}
		r.dchunks = r.dchunks[1:]
	}
}

// Rebuild replaces room id with the fold of history (the room's events
// from the events partition, in order) under a new epoch, so subscribers
// get a reset. Changes of the old epoch not yet in a frame are written
// first. The new epoch's first frame carries the whole rebuilt state and
// a snapshot and a checkpoint are written with it. It returns how many
// events the fold applied.
func (p *Partition) Rebuild(id, epoch string, history iter.Seq[*schemas.Event], b *Batch) int {
	f := newFold(p.cfg, id, epoch)
	for ev := range history {
		f.add(ev)
	}
	return p.install(f, b)
}

// fold builds a rebuilt room from its history, one event at a time. It
// touches nothing of the Partition, so it may run in another goroutine
// while the partition goes on (see rebuild.go); install puts it in place.
type fold struct {
	cfg *Config
	nr  *room
	// dep is the deployment table as the copies in the history make it
	// (deployment.go): the fold judges the room's events by it.
	dep     *depTable
	applied int
	foldTS  int64
}

func newFold(cfg *Config, id, epoch string) *fold {
	return &fold{cfg: cfg, nr: newRoom(id, epoch), dep: newDepTable()}
}

// add folds one event of the history (events of other rooms are skipped).
func (f *fold) add(ev *schemas.Event) {
	nr := f.nr
	if ev.Room != nr.id {
		return
	}
	if _, dup := nr.dedup[idKey{ev.User, ev.ID}]; dup {
		return
	}
	if cutsChat(ev) && len(nr.pend.Chat) > 0 {
		nr.pub.Apply(&nr.pend) // as Apply does live: see there
		nr.pend, nr.pendBytes = schemas.Delta{}, 0
	}
	nr.dep = f.dep
	if out, _ := nr.apply(f.cfg, ev); out != Applied {
		return
	}
	nr.accept(ev)
	f.applied++
	f.foldTS = max(f.foldTS, nr.pendTS)
	if c := &nr.dchunks[len(nr.dchunks)-1]; c.bytes >= f.cfg.chunkBytes() {
		nr.dchunks = append(nr.dchunks, dedupChunk{})
		nr.expireDedup(f.cfg, nr.maxTS, nil)
	}
	if nr.pendBytes >= f.cfg.frameBytes() {
		nr.pub.Apply(&nr.pend)
		nr.pend, nr.pendBytes = schemas.Delta{}, 0
	}
}

// install replaces the fold's room in the partition under its new epoch
// and returns how many history events the fold applied.
func (p *Partition) install(f *fold, b *Batch) int {
	nr, id, applied, foldTS := f.nr, f.nr.id, f.applied, f.foldTS
	nr.pub.Apply(&nr.pend)
	nr.pend = schemas.Delta{}
	hadView := false
	nr.logVotes, nr.logUps, nr.logAns, nr.logCloud = nr.logVotes[:0], nr.logUps[:0], nr.logAns[:0], nr.logCloud[:0]
	nr.logCustom = nr.logCustom[:0]
	nr.expireDedup(p.cfg, nr.maxTS, nil)

	if old := p.rooms[id]; old != nil {
		if old.pendAny {
			old.emitFrame(p.cfg, b)
		}
		old.dropFrames(b)
		for _, k := range old.logKeys {
			b.Changelog = append(b.Changelog, Rec{Key: []byte(k)})
		}
		for i := range old.ckptChunks {
			b.Changelog = append(b.Changelog, Rec{Key: ckptKey(id, i)})
		}
		for _, c := range old.dchunks {
			if c.n > 0 {
				b.Changelog = append(b.Changelog, Rec{Key: dedupKey(id, c.n)})
			}
		}
		nr.lseq, nr.dseq = old.lseq, old.dseq
		hadView = old.mv != nil
		nr.nodes = old.nodes
		for n := range nr.nodes {
			nr.size += nodeBytes(n)
		}
		nr.pub.Viewers = old.pub.Viewers
		if old.changed {
			p.changed = slices.DeleteFunc(p.changed, func(x *room) bool { return x == old })
		}
		delete(p.watched, old)
		delete(p.lagging, old)
		if len(nr.nodes) > 0 {
			p.watched[nr] = struct{}{}
		}
	} else {
		nr.pub.Viewers = 0
	}
	// Persist the rebuilt dedup window, one d/ record per chunk.
	for i := range nr.dchunks {
		c := &nr.dchunks[i]
		if len(c.ids) == 0 {
			continue
		}
		nr.dseq++
		c.n = nr.dseq
		b.Changelog = append(b.Changelog, Rec{Key: dedupKey(id, c.n), Value: encodeDedup(c)})
	}
	nr.dchunks = slices.DeleteFunc(nr.dchunks, func(c dedupChunk) bool { return len(c.ids) == 0 })
	nr.dchunks = append(nr.dchunks, dedupChunk{})

	nr.restartView(p.cfg, hadView, foldTS, b)
	state := nr.pub
	nr.pub = schemas.NewRoomState()
	nr.pend = fullDelta(&state)
	nr.pendAny, nr.pendTS = true, foldTS
	nr.newEpoch, nr.forceCk, nr.changed, nr.active = true, true, true, true
	p.rooms[id] = nr
	p.changed = append(p.changed, nr)
	return applied
}

// RoomState returns a copy of a room's public state as of the last Flush,
// with its epoch and seq; ok is false for a room the partition never saw.
func (p *Partition) RoomState(id string) (state schemas.RoomState, epoch string, seq uint64, ok bool) {
	r := p.rooms[id]
	if r == nil {
		return schemas.RoomState{}, "", 0, false
	}
	return r.pub.Clone(), r.epoch, r.seq, true
}

// encodeJSON encodes v with the project's codec; every type it sees is a
// plain struct, so an error is a bug.
func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("processors: encode: " + err.Error())
	}
	return b
}

// addCopy applies a deployment copy met in the history to the fold's
// table, at its place among the room's events.
func (f *fold) addCopy(ev *schemas.Event) { f.dep.apply(ev, f.cfg.MaxRecordBytes) }
