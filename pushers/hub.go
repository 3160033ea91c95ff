package pushers

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// frameMsg is one frame encoded for the wire. Frames read from Kafka are
// shared by every subscriber and never modified after they enter a room's
// window; merged frames are owned by one connection's queue.
type frameMsg struct {
	room  string
	epoch string
	seq   uint64
	from  uint64 // first seq of a merged frame; 0 for an ordinary frame
	ts    int64
	recTS int64 // Kafka record timestamp (ms), for window eviction
	part  int32 // where the frame is in the frames topic, for checkpoints
	off   int64
	wire  []byte
	// delta is kept only on merged frames, so merging again does not
	// re-decode; shared frames decode from wire on the (rare) merge path.
	delta *schemas.Delta
	// mod is the frame's moderation change, if any (moderation.go).
	mod *schemas.ModDelta

	pmOnce sync.Once
	pm     *websocket.PreparedMessage
}

func (f *frameMsg) fromSeq() uint64 {
	if f.from != 0 {
		return f.from
	}
	return f.seq
}

// prepared returns the frame's PreparedMessage, built on first use so a
// frame no socket wants costs only its bytes.
func (f *frameMsg) prepared() *websocket.PreparedMessage {
	f.pmOnce.Do(func() {
		f.pm, _ = websocket.NewPreparedMessage(websocket.TextMessage, f.wire)
	})
	return f.pm
}

func (f *frameMsg) decodedDelta() (*schemas.Delta, error) {
	if f.delta != nil {
		return f.delta, nil
	}
	var w wireFrame
	if err := json.Unmarshal(f.wire, &w); err != nil {
		return nil, err
	}
	if w.Delta == nil {
		w.Delta = &schemas.Delta{}
	}
	return w.Delta, nil
}

// snapMsg is a room's latest snapshot. raw is the Kafka record value; the
// wire message is built (and validated) once, on first use.
type snapMsg struct {
	room  string
	epoch string
	seq   uint64
	ts    int64
	raw   []byte
	// part and off locate the record; a cold snapshot (over the memory
	// budget, no subscribers) keeps only them and is read back on demand.
	part  int32
	off   int64
	bytes int // memory it holds while warm
	cold  bool
	recTS int64 // Kafka record timestamp (ms)
	// modKnown: sanctions are the state's (schemas.PeekSnapshotMod); a
	// cold index entry has none and leaves the room's as they are.
	modKnown  bool
	sanctions map[string]schemas.Sanction

	once sync.Once
	pm   *websocket.PreparedMessage
	size int
	err  error
}

func (s *snapMsg) prepared() (*websocket.PreparedMessage, int, error) {
	s.once.Do(func() {
		snap, err := schemas.UnmarshalSnapshot(s.raw)
		if err != nil {
			s.err = err
			return
		}
		b := mustJSON(&wireSnapshot{Type: "snapshot", Room: s.room, Epoch: s.epoch, Seq: s.seq, TS: s.ts, State: &snap.State})
		s.pm, s.err = websocket.NewPreparedMessage(websocket.TextMessage, b)
		s.size = len(b)
		s.raw = nil
	})
	return s.pm, s.size, s.err
}

// emptyStateJSON is the encoded empty room state (immutable).
var emptyStateJSON = func() []byte { st := schemas.NewRoomState(); return mustJSON(&st) }()

// emptySnapshot is the wire snapshot of an empty room at (epoch, 0), the
// answer to every subscribe of a room without history: built by appending
// rather than encoding a fresh state each time.
func emptySnapshot(room, epoch string) []byte {
	b := make([]byte, 0, 72+len(room)+len(epoch)+len(emptyStateJSON))
	b = append(b, `{"type":"snapshot","room":`...)
	b = append(b, mustJSON(room)...)
	b = append(b, `,"epoch":`...)
	b = append(b, mustJSON(epoch)...)
	b = append(b, `,"seq":0,"ts":0,"state":`...)
	b = append(b, emptyStateJSON...)
	return append(b, '}')
}

// sub is one connection's subscription to a room: the position of the
// last message queued for it.
type sub struct {
	epoch string
	seq   uint64
	// pending: waiting for a snapshot consistent with the window; no
	// frames are queued meanwhile.
	pending      bool
	pendingSince time.Time
	// fetching: a Kafka read for the frames before the window is under
	// way; its completion answers the subscribe.
	fetching bool
	// ahead: the subscribe's position (epoch, seq) is ahead of what this
	// pusher has read; it waits (pending) until the room reaches seq, or
	// Config.AheadWait passes and it is answered with a snapshot.
	ahead bool
	// reply: the subscribed reply is still owed (pending subscribe).
	reply   bool
	reqID   string
	resumed bool // the subscribe carried a position
}

// room is one room's state on this pusher. mu guards everything; the lock
// order is room.mu, then Conn.qmu.
type room struct {
	id string
	mu sync.Mutex

	epoch    string      // epoch of the frames stream
	last     uint64      // last frame seq seen in epoch
	win      []*frameMsg // contiguous seqs of epoch, oldest first
	winBytes int
	snap     *snapMsg
	// ckpts remember where some frames that left the window are in
	// Kafka, so older positions can still be served by reading the frames
	// topic from there (oldest first, one every ckptEvery seqs).
	ckpts []ckpt

	deleted      bool // removed from the map by the sweeper: use a fresh one
	subs         map[*Conn]*sub
	pending      int
	snapFetching bool  // a cold snapshot is being read back
	reported     int64 // viewers last reported to presence
	// active is when (Unix ms) the room last had a frame, a snapshot, a
	// subscribe or an unsubscribe; Config.RoomIdle after it, a room with
	// nothing else holding it is evicted.
	active int64
	// mod is what the room's frames and snapshots said of its sanctions.
	mod roomMod
}

const numShards = 64

// roomShard holds the rooms in memory and the evicted ones. The lock
// order is roomShard.mu, then room.mu.
type roomShard struct {
	mu    sync.Mutex
	rooms map[string]*room
	// idle holds the rooms evicted for idleness that have a snapshot:
	// where it is in Kafka, about 100 bytes each, so the room is served
	// again (restored) on its next subscribe or frame.
	idle map[string]snapLoc
	// peakRooms and peakIdle are the maps' sizes since they were last
	// rebuilt: Go maps keep their buckets when entries are deleted, so a
	// map that shrank to a quarter is copied into a fresh one.
	peakRooms, peakIdle int
}

// shrinkThreshold is the map size below which a shard's maps are never
// rebuilt: small maps cost little.
const shrinkThreshold = 256

// shrink rebuilds the shard's maps that shrank to a quarter of their
// peak. sh.mu is held.
func (sh *roomShard) shrink() {
	if n := len(sh.rooms); sh.peakRooms >= shrinkThreshold && n < sh.peakRooms/4 {
		m := make(map[string]*room, n)
		for id, r := range sh.rooms {
			m[id] = r
		}
		sh.rooms, sh.peakRooms = m, n
	}
	if n := len(sh.idle); sh.peakIdle >= shrinkThreshold && n < sh.peakIdle/4 {
		m := make(map[string]snapLoc, n)
		for id, l := range sh.idle {
			m[id] = l
		}
		sh.idle, sh.peakIdle = m, n
	}
}

// snapLoc locates an evicted room's latest snapshot in Kafka.
type snapLoc struct {
	epoch string
	seq   uint64
	ts    int64
	off   int64
	part  int32
	bytes int32
}

func locOf(sn *snapMsg) snapLoc {
	return snapLoc{epoch: sn.epoch, seq: sn.seq, ts: sn.ts, off: sn.off, part: sn.part, bytes: int32(sn.bytes)}
}

// cold returns the snapshot as a cold snapMsg, read back on first use.
func (l snapLoc) cold(room string) *snapMsg {
	return &snapMsg{room: room, epoch: l.epoch, seq: l.seq, ts: l.ts, part: l.part, off: l.off, bytes: int(l.bytes), cold: true}
}

// hub is the sharded room map and the fan-out.
type hub struct {
	srv    *Server
	shards [numShards]roomShard

	winTotal  atomic.Int64 // bytes in all windows
	snapTotal atomic.Int64 // bytes of warm snapshots

	// dep is the deployment room's sanctions (deployment.go).
	depMu sync.Mutex
	dep   roomMod
}

func (h *hub) winAdd(n int) {
	h.winTotal.Add(int64(n))
	h.srv.m.windowBytes.Add(float64(n))
}

func newHub(s *Server) *hub {
	h := &hub{srv: s}
	for i := range h.shards {
		h.shards[i].rooms = map[string]*room{}
		h.shards[i].idle = map[string]snapLoc{}
	}
	return h
}

func shardOf(id string) int {
	var x uint32 = 2166136261
	for i := 0; i < len(id); i++ {
		x ^= uint32(id[i])
		x *= 16777619
	}
	return int(x % numShards)
}

func (h *hub) get(id string) *room {
	sh := &h.shards[shardOf(id)]
	sh.mu.Lock()
	r := sh.rooms[id]
	if r == nil {
		r = &room{id: id, active: time.Now().UnixMilli()}
		if loc, ok := sh.idle[id]; ok {
			// Restore an evicted room: its snapshot is read back from
			// Kafka when a subscriber needs it.
			delete(sh.idle, id)
			h.srv.m.idleRooms.Dec()
			r.snap = loc.cold(id)
		}
		sh.rooms[id] = r
		sh.peakRooms = max(sh.peakRooms, len(sh.rooms))
		h.srv.m.rooms.Inc()
	}
	sh.mu.Unlock()
	return r
}

// lock returns room id locked, creating it if needed; it never returns a
// room the sweeper has just removed from the map.
func (h *hub) lock(id string) *room {
	for {
		r := h.get(id)
		r.mu.Lock()
		if !r.deleted {
			return r
		}
		r.mu.Unlock()
	}
}

// removeIdle drops rooms that hold nothing (no subscriber, frame,
// snapshot or checkpoint) at once, so subscribing to made-up room names
// cannot grow memory, and evicts rooms idle for Config.RoomIdle (no
// subscriber, no frame in the window, no presence still owed): such a
// room keeps only its snapshot's Kafka location in the shard's idle map.
// Its window checkpoints go, so a resume older than the snapshot is then
// answered with the snapshot (recovered false) rather than from Kafka.
func (h *hub) removeIdle(now time.Time) {
	idleBefore := now.Add(-h.srv.cfg.RoomIdle).UnixMilli()
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for id, r := range sh.rooms {
			r.mu.Lock()
			if len(r.subs) == 0 && r.pending == 0 && len(r.win) == 0 && !r.snapFetching && r.reported == 0 {
				empty := r.snap == nil && len(r.ckpts) == 0
				if empty || r.active <= idleBefore {
					r.deleted = true
					delete(sh.rooms, id)
					h.srv.m.rooms.Dec()
					if sn := r.snap; sn != nil {
						if !sn.cold {
							h.snapTotal.Add(-int64(sn.bytes))
						}
						sh.idle[id] = locOf(sn)
						sh.peakIdle = max(sh.peakIdle, len(sh.idle))
						h.srv.m.idleRooms.Inc()
					}
					if !empty {
						h.srv.m.evictions.Inc()
					}
				}
			}
			r.mu.Unlock()
		}
		sh.shrink()
		sh.mu.Unlock()
	}
}

// indexIdle records sn in the idle map when its room is not in memory and
// reports whether it did; the snapshots reader uses it for records older
// than Config.RoomIdle, so reading the compacted topic at start does not
// load every room ever seen.
func (h *hub) indexIdle(sn *snapMsg) bool {
	sh := &h.shards[shardOf(sn.room)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.rooms[sn.room] != nil {
		return false
	}
	o, ok := sh.idle[sn.room]
	if ok && o.epoch == sn.epoch && o.seq > sn.seq {
		return true
	}
	if !ok {
		h.srv.m.idleRooms.Inc()
	}
	sh.idle[sn.room] = locOf(sn)
	sh.peakIdle = max(sh.peakIdle, len(sh.idle))
	return true
}

// dropSnapshot handles a snapshot tombstone: the room has no snapshot to
// serve any more.
func (h *hub) dropSnapshot(id string) {
	sh := &h.shards[shardOf(id)]
	sh.mu.Lock()
	if _, ok := sh.idle[id]; ok {
		delete(sh.idle, id)
		h.srv.m.idleRooms.Dec()
	}
	r := sh.rooms[id]
	sh.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	if sn := r.snap; sn != nil && len(r.subs) == 0 && !r.snapFetching {
		if !sn.cold {
			h.snapTotal.Add(-int64(sn.bytes))
		}
		r.snap = nil
	}
	r.mu.Unlock()
}

// each calls fn for every room, holding no lock but the room's own.
func (h *hub) each(fn func(r *room)) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		rs := make([]*room, 0, len(sh.rooms))
		for _, r := range sh.rooms {
			rs = append(rs, r)
		}
		sh.mu.Unlock()
		for _, r := range rs {
			r.mu.Lock()
			fn(r)
			r.mu.Unlock()
		}
	}
}

// addFrame appends a frame read from Kafka to the room's window and
// queues it for the subscribers. Called by the frames reader only.
func (h *hub) addFrame(f *frameMsg) {
	r := h.lock(f.room)
	defer r.mu.Unlock()
	r.active = time.Now().UnixMilli()
	switch {
	case f.epoch != r.epoch:
		// A new epoch (or the first frame this pusher sees): the old
		// window says nothing about it.
		h.dropWindow(r)
		r.ckpts = nil
		r.epoch = f.epoch
	case f.seq <= r.last:
		h.srv.m.badRecords.WithLabelValues("frame", "duplicate").Inc()
		return
	case f.seq > r.last+1:
		// Frames are gapless per epoch; a hole means records were lost
		// (retention). Start a fresh window; subscribers resync.
		h.srv.m.badRecords.WithLabelValues("frame", "gap").Inc()
		h.dropWindow(r)
		r.ckpts = nil
	}
	r.last = f.seq
	r.win = append(r.win, f)
	r.winBytes += len(f.wire)
	h.winAdd(len(f.wire))
	h.evict(r, f.recTS)
	for c, s := range r.subs {
		if s.pending {
			continue
		}
		switch {
		case s.epoch == "" && s.seq == 0 && f.seq == 1,
			s.epoch == f.epoch && f.seq == s.seq+1:
			s.epoch, s.seq = f.epoch, f.seq
			c.sendFrame(f)
		case s.epoch == f.epoch && f.seq <= s.seq:
			// The client is ahead of this pusher (it resumed from a
			// pusher that had read further): skip what it has.
		default:
			h.resync(r, c, s)
		}
	}
	if f.mod != nil {
		h.applyFrameMod(r, f)
	}
	if r.pending > 0 {
		h.retryPending(r)
	}
}

func (h *hub) dropWindow(r *room) {
	if len(r.win) > 0 {
		r.checkpoint(r.win[0])
	}
	for i := range r.win {
		r.win[i] = nil
	}
	r.win = r.win[:0]
	h.winAdd(-r.winBytes)
	r.winBytes = 0
}

// evict drops frames older than the window or past the room's byte bound,
// always keeping the newest.
func (h *hub) evict(r *room, nowMS int64) {
	cut := nowMS - h.srv.cfg.Window.Milliseconds()
	n := 0
	for n < len(r.win)-1 && (r.win[n].recTS < cut || r.winBytes > h.srv.cfg.RoomWindowBytes) {
		r.checkpoint(r.win[n])
		r.winBytes -= len(r.win[n].wire)
		h.winAdd(-len(r.win[n].wire))
		r.win[n] = nil
		n++
	}
	if n > 0 {
		r.win = append(r.win[:0], r.win[n:]...)
	}
}

// ckpt is where frame seq of epoch is in the frames topic.
type ckpt struct {
	epoch string
	seq   uint64
	part  int32
	off   int64
}

const (
	ckptEvery = 32 // seqs between checkpoints
	maxCkpts  = 64 // per room; the oldest go first
)

// checkpoint remembers f's offset if it is the first evicted frame or
// ckptEvery seqs after the last checkpoint.
func (r *room) checkpoint(f *frameMsg) {
	if n := len(r.ckpts); n > 0 && r.ckpts[n-1].epoch == f.epoch && f.seq < r.ckpts[n-1].seq+ckptEvery {
		return
	}
	if len(r.ckpts) == maxCkpts {
		r.ckpts = append(r.ckpts[:0], r.ckpts[1:]...)
	}
	r.ckpts = append(r.ckpts, ckpt{epoch: f.epoch, seq: f.seq, part: f.part, off: f.off})
}

// ckptFor returns the latest checkpoint of epoch at or before seq.
func (r *room) ckptFor(epoch string, seq uint64) (ckpt, bool) {
	for i := len(r.ckpts) - 1; i >= 0; i-- {
		if c := r.ckpts[i]; c.epoch == epoch && c.seq <= seq {
			return c, true
		}
	}
	return ckpt{}, false
}

// addSnapshot records a room's latest snapshot. Called by the snapshots
// reader only.
func (h *hub) addSnapshot(sn *snapMsg) {
	now := time.Now()
	if sn.recTS < now.Add(-h.srv.cfg.RoomIdle).UnixMilli() && h.indexIdle(sn) {
		return
	}
	r := h.lock(sn.room)
	defer r.mu.Unlock()
	r.active = now.UnixMilli()
	if o := r.snap; o != nil && o.epoch == sn.epoch && o.seq > sn.seq {
		return
	}
	if o := r.snap; o != nil && !o.cold {
		h.snapTotal.Add(-int64(o.bytes))
	}
	if len(r.subs) == 0 && h.snapTotal.Load()+int64(sn.bytes) > h.srv.cfg.MaxSnapshotBytes {
		sn.raw, sn.cold = nil, true
	} else {
		h.snapTotal.Add(int64(sn.bytes))
	}
	r.snap = sn
	r.applySnapMod(sn)
	if r.pending > 0 {
		h.retryPending(r)
	}
}

// warmed replaces r's cold snapshot cold with warm (read back from
// Kafka), then answers the subscribes that waited for it.
func (h *hub) warmed(r *room, cold, warm *snapMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapFetching = false
	if warm != nil && r.snap == cold {
		r.snap = warm
		h.snapTotal.Add(int64(warm.bytes))
		r.applySnapMod(warm)
	}
	if r.pending > 0 {
		h.retryPending(r)
	}
}

// shed enforces the memory budgets of windows and snapshots: rooms
// without subscribers give up theirs first, then the largest windows are
// halved. Older positions stay servable from Kafka through checkpoints.
func (h *hub) shed() {
	cfg := &h.srv.cfg
	if h.winTotal.Load() > cfg.MaxWindowBytes {
		h.each(func(r *room) {
			if len(r.subs) == 0 && len(r.win) > 0 && h.winTotal.Load() > cfg.MaxWindowBytes*9/10 {
				h.dropWindow(r)
			}
		})
		h.each(func(r *room) {
			if len(r.win) > 1 && h.winTotal.Load() > cfg.MaxWindowBytes*9/10 {
				n := len(r.win) / 2
				for i := 0; i < n; i++ {
					r.checkpoint(r.win[i])
					r.winBytes -= len(r.win[i].wire)
					h.winAdd(-len(r.win[i].wire))
					r.win[i] = nil
				}
				r.win = append(r.win[:0], r.win[n:]...)
			}
		})
	}
	if h.snapTotal.Load() > cfg.MaxSnapshotBytes {
		h.each(func(r *room) {
			if sn := r.snap; sn != nil && !sn.cold && len(r.subs) == 0 && h.snapTotal.Load() > cfg.MaxSnapshotBytes*9/10 {
				h.snapTotal.Add(-int64(sn.bytes))
				r.snap = &snapMsg{room: sn.room, epoch: sn.epoch, seq: sn.seq, ts: sn.ts, part: sn.part, off: sn.off, bytes: sn.bytes, cold: true}
			}
		})
	}
}

// framesAfter returns the frames of r's window with seq > after; the
// caller has checked that the window joins after (no gap).
func (r *room) framesAfter(after uint64) []*frameMsg {
	if len(r.win) == 0 || r.win[len(r.win)-1].seq <= after {
		return nil
	}
	i := 0
	if first := r.win[0].seq; after >= first {
		i = int(after - first + 1)
	}
	return r.win[i:]
}

// tryBuild queues a snapshot consistent with the window, then the window's
// frames after it, and moves s there. It reports false when no consistent
// snapshot is known yet.
func (h *hub) tryBuild(r *room, c *Conn, s *sub) bool {
	var (
		epoch string
		seq   uint64
		snap  func()
	)
	switch sn := r.snap; {
	case sn != nil && (r.epoch == "" || sn.epoch == r.epoch && (sn.seq >= r.last || len(r.win) > 0 && r.win[0].seq <= sn.seq+1)):
		if sn.cold {
			if !r.snapFetching && h.srv.startSnapshotFetch(r, sn) {
				r.snapFetching = true
			}
			return false
		}
		pm, size, err := sn.prepared()
		if err != nil {
			h.srv.m.badRecords.WithLabelValues("snapshot", "invalid").Inc()
			h.srv.log.Warn("invalid snapshot record", "err", err)
			if len(r.win) == 0 || r.win[0].seq != 1 {
				return false
			}
			epoch, seq = r.epoch, 0
			snap = func() { c.sendRaw(r.id, emptySnapshot(r.id, r.epoch)) }
			break
		}
		epoch, seq = sn.epoch, sn.seq
		snap = func() { c.sendPrepared(r.id, pm, size) }
	case len(r.win) > 0 && r.win[0].seq == 1:
		// The whole epoch is in the window: fold it from the empty state.
		epoch, seq = r.epoch, 0
		snap = func() { c.sendRaw(r.id, emptySnapshot(r.id, r.epoch)) }
	case r.epoch == "" && sn == nil:
		// Nothing known: the room has no history yet.
		epoch, seq = "", 0
		snap = func() { c.sendRaw(r.id, emptySnapshot(r.id, "")) }
	default:
		return false
	}
	if s.reply {
		c.sendRaw(r.id, mustJSON(&wireSubscribed{Type: "subscribed", ID: s.reqID, Room: r.id, Epoch: epoch, Seq: seq}))
		s.reply = false
		if s.resumed {
			h.srv.m.resumes.WithLabelValues("reset").Inc()
		}
	} else {
		h.srv.m.resyncs.Inc()
	}
	snap()
	s.epoch, s.seq = epoch, seq
	if epoch == r.epoch {
		for _, f := range r.framesAfter(seq) {
			c.sendFrame(f)
			s.seq = f.seq
		}
	}
	return true
}

// tryResume answers a subscribe with position (E, S) from the window.
func (h *hub) tryResume(r *room, c *Conn, s *sub, e string, seq uint64) bool {
	ok := false
	switch {
	case e == "":
	case e == r.epoch && r.last > 0 && seq > r.last,
		r.epoch == "" && r.snap != nil && r.snap.epoch == e && seq > r.snap.seq:
		// Ahead of this pusher: the client may come from a pusher that
		// read further (then the frames are on their way), or its
		// position is bogus (then they never come). Wait for the room
		// to reach it; the sweep answers with a snapshot after
		// AheadWait. Never recovered:true and silence.
		s.ahead, s.epoch, s.seq = true, e, seq
		s.pending, s.pendingSince = true, time.Now()
		r.pending++
		return true
	case e == r.epoch && r.last > 0:
		ok = seq == r.last || len(r.win) > 0 && r.win[0].seq <= seq+1
	case r.epoch == "" && r.snap != nil && r.snap.epoch == e && seq == r.snap.seq:
		ok = true
	}
	if !ok {
		// Older than the window: read Kafka from a checkpoint, if there
		// is one and a read slot is free; the read answers later.
		if e != "" && e == r.epoch && seq < r.last {
			if ck, found := r.ckptFor(e, seq+1); found && h.srv.startFetch(r, c, s, ck, seq) {
				s.pending, s.fetching, s.pendingSince = true, true, time.Now()
				r.pending++
				return true
			}
		}
		return false
	}
	h.recovered(r, c, s, e, seq)
	return true
}

// recovered answers a resume at (e, seq) with recovered:true and the
// window's frames after seq.
func (h *hub) recovered(r *room, c *Conn, s *sub, e string, seq uint64) {
	c.sendRaw(r.id, mustJSON(&wireSubscribed{Type: "subscribed", ID: s.reqID, Room: r.id, Epoch: e, Seq: seq, Recovered: true}))
	s.reply = false
	s.epoch, s.seq = e, seq
	if e == r.epoch {
		for _, f := range r.framesAfter(seq) {
			c.sendFrame(f)
			s.seq = f.seq
		}
	}
	h.srv.m.resumes.WithLabelValues("recovered").Inc()
}

// retryAhead answers an ahead subscribe once the room reached its
// position (recovered), or its epoch moved on (snapshot). It reports
// whether s was answered.
func (h *hub) retryAhead(r *room, c *Conn, s *sub) bool {
	switch {
	case r.epoch == s.epoch && r.last >= s.seq && (r.last == s.seq || len(r.win) > 0 && r.win[0].seq <= s.seq+1):
		s.ahead = false
		h.recovered(r, c, s, s.epoch, s.seq)
		return true
	case r.epoch != "" && r.epoch != s.epoch, r.epoch == s.epoch && r.last >= s.seq:
		// Another epoch, or the frames after the position already left
		// the window: a snapshot.
		s.ahead = false
		return h.tryBuild(r, c, s)
	}
	return false
}

// resync moves a live subscription that cannot continue (epoch change or
// a gap) to a snapshot, now or once one is consistent.
func (h *hub) resync(r *room, c *Conn, s *sub) {
	if h.tryBuild(r, c, s) {
		return
	}
	s.pending, s.pendingSince = true, time.Now()
	r.pending++
}

func (h *hub) retryPending(r *room) {
	for c, s := range r.subs {
		if s.pending && s.ahead {
			if h.retryAhead(r, c, s) {
				s.pending = false
				r.pending--
			}
			continue
		}
		if s.pending && !s.fetching && h.tryBuild(r, c, s) {
			s.pending = false
			r.pending--
		}
	}
}

// subscribe answers a subscribe op and returns the room. Called by c's
// handling goroutine.
func (h *hub) subscribe(c *Conn, id string, reqID string, epoch *string, seq uint64) *room {
	r := h.lock(id)
	defer r.mu.Unlock()
	if old, ok := r.subs[c]; ok {
		if old.pending {
			r.pending--
		}
	} else {
		if r.subs == nil {
			r.subs = map[*Conn]*sub{}
		}
		h.srv.m.subscriptions.Inc()
	}
	s := &sub{reqID: reqID, reply: true, resumed: epoch != nil}
	r.subs[c] = s
	r.active = time.Now().UnixMilli()
	if epoch != nil && h.tryResume(r, c, s, *epoch, seq) {
		return r
	}
	if h.tryBuild(r, c, s) {
		return r
	}
	s.pending, s.pendingSince = true, time.Now()
	r.pending++
	return r
}

// unsubscribe removes c from r. Called by c's reader goroutine.
func (h *hub) unsubscribe(c *Conn, r *room) {
	r.mu.Lock()
	if s, ok := r.subs[c]; ok {
		if s.pending {
			r.pending--
		}
		delete(r.subs, c)
		h.srv.m.subscriptions.Dec()
		r.active = time.Now().UnixMilli()
	}
	r.mu.Unlock()
}

// sweep evicts old frames of idle rooms and answers subscribes that
// waited too long for a consistent snapshot.
func (h *hub) sweep(now time.Time) {
	defer h.removeIdle(now)
	defer h.shed()
	h.each(func(r *room) {
		if len(r.win) > 0 {
			h.evict(r, now.UnixMilli())
			if r.win[0].recTS < now.UnixMilli()-h.srv.cfg.Window.Milliseconds() {
				h.dropWindow(r)
			}
		}
		if r.pending == 0 {
			return
		}
		// Subscribes may wait for a free Kafka read slot, which no
		// frame or snapshot event signals: retry here.
		h.retryPending(r)
		for c, s := range r.subs {
			if s.pending && s.ahead && now.Sub(s.pendingSince) >= h.srv.cfg.AheadWait {
				// The room never reached the client's position: it is
				// not a position this room has. Reset to a snapshot.
				s.ahead = false
				h.srv.m.resumes.WithLabelValues("ahead_reset").Inc()
				if h.tryBuild(r, c, s) {
					s.pending = false
					r.pending--
					continue
				}
				s.pendingSince = now // now waits for a snapshot, as any subscribe
			}
			if !s.pending || s.ahead || s.fetching || now.Sub(s.pendingSince) < h.srv.cfg.SnapshotWait {
				continue
			}
			// A subscribe (or a live subscription needing a reset) that
			// cannot be answered consistently: end it and tell the client
			// to subscribe again rather than guess.
			delete(r.subs, c)
			r.pending--
			h.srv.m.subscriptions.Dec()
			c.sendError(&wireError{ID: s.reqID, Code: CodeUnavailable, Room: r.id, RetryAfter: 1,
				Message: "the room's state is not readable yet; subscribe again"})
			c.forgetRoom(r)
		}
	})
}

// finishFetch answers a resume that read frames from Kafka: recovered if
// the frames read join the window without a gap, else a snapshot.
func (h *hub) finishFetch(r *room, c *Conn, s *sub, epoch string, seq uint64, frames []*frameMsg, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subs[c] != s || !s.fetching {
		return // unsubscribed or replaced meanwhile
	}
	s.fetching, s.pending = false, false
	r.pending--
	k := seq
	if len(frames) > 0 {
		k = frames[len(frames)-1].seq
	}
	if err == nil && epoch == r.epoch && (k >= r.last || len(r.win) > 0 && r.win[0].seq <= k+1) {
		c.sendRaw(r.id, mustJSON(&wireSubscribed{Type: "subscribed", ID: s.reqID, Room: r.id, Epoch: epoch, Seq: seq, Recovered: true}))
		s.reply = false
		s.epoch, s.seq = epoch, seq
		for _, f := range frames {
			c.sendFrame(f)
			s.seq = f.seq
		}
		for _, f := range r.framesAfter(s.seq) {
			c.sendFrame(f)
			s.seq = f.seq
		}
		h.srv.m.resumes.WithLabelValues("recovered_kafka").Inc()
		return
	}
	if err != nil {
		h.srv.log.Warn("reading old frames from Kafka failed; answering with a snapshot", "err", err)
	}
	if !h.tryBuild(r, c, s) {
		s.pending, s.pendingSince = true, time.Now()
		r.pending++
	}
}
