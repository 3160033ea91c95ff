package processors

import (
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
}

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.Frames)
	clear(b.Snapshots)
	clear(b.Changelog)
	b.Frames, b.Snapshots, b.Changelog = b.Frames[:0], b.Snapshots[:0], b.Changelog[:0]
}

// Len is the number of records in b.
func (b *Batch) Len() int { return len(b.Frames) + len(b.Snapshots) + len(b.Changelog) }

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
	cfg     *Config
	rooms   map[string]*room
	changed []*room
}

// NewPartition returns an empty partition state. cfg must be validated.
func NewPartition(cfg *Config) *Partition {
	return &Partition{cfg: cfg, rooms: map[string]*room{}}
}

// Apply folds one valid event (from schemas.ParseEvent) into its room.
// Frames may be written into b before Flush when a room's pending frame
// grows past Config.MaxFrameBytes.
func (p *Partition) Apply(ev *schemas.Event, b *Batch) (Outcome, Reason) {
	r := p.rooms[ev.Room]
	created := false
	if r == nil {
		r = newRoom(ev.Room, p.cfg.NewEpoch())
		r.newEpoch = true
		created = true
	}
	if _, dup := r.dedup[ev.ID]; dup {
		return Ignored, ReasonDuplicate
	}
	if ev.Type == schemas.ChatDelete && len(r.pend.Chat) > 0 {
		// Apply appends a delta's chat, then deletes, then trims to
		// ChatHistory; a delete after new lines in one delta could keep a
		// line that event-by-event trimming dropped. Closing the frame
		// first keeps the history independent of frame boundaries.
		r.emitFrame(p.cfg, b)
	}
	out, reason := r.apply(ev)
	if out != Applied {
		return out, reason
	}
	if created {
		p.rooms[ev.Room] = r
	}
	r.accept(ev)
	if !r.changed {
		r.changed = true
		p.changed = append(p.changed, r)
	}
	if r.pendBytes >= p.cfg.MaxFrameBytes {
		r.emitFrame(p.cfg, b)
	}
	return Applied, ""
}

// accept records an applied event in the dedup window and the frame's ts.
func (r *room) accept(ev *schemas.Event) {
	r.dedup[ev.ID] = struct{}{}
	c := &r.dchunks[len(r.dchunks)-1]
	c.ids = append(c.ids, ev.ID)
	c.tss = append(c.tss, ev.TS)
	c.maxTS = max(c.maxTS, ev.TS)
	r.maxTS = max(r.maxTS, ev.TS)
	if ev.Type != schemas.Presence {
		r.pendAny = true
		r.pendTS = max(r.pendTS, ev.TS)
	}
}

// Changed reports how many rooms have changes not yet flushed.
func (p *Partition) Changed() int { return len(p.changed) }

// Rooms returns the number of rooms in the partition.
func (p *Partition) Rooms() int { return len(p.rooms) }

// Flush writes, for every room changed since the last Flush, its frame,
// its snapshot (Config.SnapshotEvery) and its changelog entries into b.
// now (Unix ms) expires presence reports older than Config.PresenceTTL.
func (p *Partition) Flush(now int64, b *Batch) {
	ttl := p.cfg.PresenceTTL.Milliseconds()
	// Rooms with viewers change when a pusher stops reporting.
	for _, r := range p.rooms {
		if len(r.nodes) > 0 && !r.changed {
			for _, rep := range r.nodes {
				if now-rep.TS > ttl {
					r.changed = true
					p.changed = append(p.changed, r)
					break
				}
			}
		}
	}
	for _, r := range p.changed {
		if v := r.liveViewers(now, ttl); v != r.pub.Viewers {
			r.pend.Viewers = &v
			r.pendAny = true
		}
		if r.pendAny {
			r.emitFrame(p.cfg, b)
		}
		// Ids of events that made no frame (presence) are persisted too,
		// so the open chunk never grows without bound.
		r.closeDedupChunk(b)
		r.expireDedup(p.cfg, b)
		if r.forceCk || r.logBytes >= max(r.ckptBytes, p.cfg.CheckpointMinBytes) {
			r.checkpoint(b)
		}
		// The public state is encoded once for the snapshot and the
		// core changelog record: it is most of the bytes of both.
		state := encodeJSON(&r.pub)
		if r.seq > 0 && (r.newEpoch && r.snapSeq != r.seq || r.seq-r.snapSeq >= uint64(p.cfg.SnapshotEvery)) {
			b.Snapshots = append(b.Snapshots, Rec{Key: []byte(r.id), Value: r.snapshot(state)})
			r.snapSeq = r.seq
		}
		b.Changelog = append(b.Changelog, Rec{Key: coreKey(r.id), Value: r.coreRecord(state)})
		r.changed, r.newEpoch, r.forceCk = false, false, false
	}
	clear(p.changed)
	p.changed = p.changed[:0]
}

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
	r.pub.Apply(&r.pend)
	r.ts = max(r.ts, ts)
	r.pend, r.pendTS, r.pendBytes, r.pendAny = schemas.Delta{}, 0, 0, false
	r.writeLog(b)
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
	return encodeJSON(&snapshotOut{Room: r.id, Epoch: r.epoch, Seq: r.seq, TS: r.ts, State: state})
}

// expireDedup drops whole dedup records once every id in them is older
// than the window (by the room's event clock) or the room holds more than
// Config.MaxDedupIDs ids, and tombstones them in the changelog.
func (r *room) expireDedup(cfg *Config, b *Batch) {
	cut := r.maxTS - cfg.DedupWindow.Milliseconds()
	for len(r.dchunks) > 1 {
		c := r.dchunks[0]
		if c.maxTS >= cut && len(r.dedup) <= cfg.MaxDedupIDs {
			break
		}
		for _, id := range c.ids {
			delete(r.dedup, id)
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
	nr := newRoom(id, epoch)
	applied := 0
	var foldTS int64
	for ev := range history {
		if ev.Room != id {
			continue
		}
		if _, dup := nr.dedup[ev.ID]; dup {
			continue
		}
		if ev.Type == schemas.ChatDelete && len(nr.pend.Chat) > 0 {
			nr.pub.Apply(&nr.pend) // as Apply does live: see there
			nr.pend, nr.pendBytes = schemas.Delta{}, 0
		}
		if out, _ := nr.apply(ev); out != Applied {
			continue
		}
		nr.accept(ev)
		applied++
		foldTS = max(foldTS, nr.pendTS)
		if c := &nr.dchunks[len(nr.dchunks)-1]; len(c.ids) >= dedupChunkIDs {
			nr.dchunks = append(nr.dchunks, dedupChunk{})
			nr.expireDedup(p.cfg, nil)
		}
		if nr.pendBytes >= p.cfg.MaxFrameBytes {
			nr.pub.Apply(&nr.pend)
			nr.pend, nr.pendBytes = schemas.Delta{}, 0
		}
	}
	nr.pub.Apply(&nr.pend)
	nr.pend = schemas.Delta{}
	nr.logVotes, nr.logUps, nr.logAns = nr.logVotes[:0], nr.logUps[:0], nr.logAns[:0]
	nr.expireDedup(p.cfg, nil)

	if old := p.rooms[id]; old != nil {
		if old.pendAny {
			old.emitFrame(p.cfg, b)
		}
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
		nr.nodes = old.nodes
		nr.pub.Viewers = old.pub.Viewers
		if old.changed {
			p.changed = slices.DeleteFunc(p.changed, func(x *room) bool { return x == old })
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

	state := nr.pub
	nr.pub = schemas.NewRoomState()
	nr.pend = fullDelta(&state)
	nr.pendAny, nr.pendTS = true, foldTS
	nr.newEpoch, nr.forceCk, nr.changed = true, true, true
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

// dedupChunkIDs bounds one d/ record written by a rebuild.
const dedupChunkIDs = 4096

// encodeJSON encodes v with the project's codec; every type it sees is a
// plain struct, so an error is a bug.
func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("processors: encode: " + err.Error())
	}
	return b
}
