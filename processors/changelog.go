package processors

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// The changelog (compacted, co-partitioned with the events) holds a
// partition's private state so that whoever owns the partition next can
// rebuild it. It is written in the same transaction as the frames, so it
// always matches them. Keys, per room R:
//
//	s/R     core: epoch, seq, presence reports, quiz answers' correct
//	        options, record counters and the checkpoint in force.
//	        Rewritten whenever R changes; small, since the public state is
//	        not in it (core records written before p/ records existed, and
//	        read back, hold it in their "state").
//	p/R     the public state at a seq: the value of R's snapshot, written
//	        with each snapshot (Config.SnapshotEvery, SnapshotInterval) and
//	        by an eviction.
//	f/R/N   frame N of R (its value as in the frames topic), for every
//	        frame after p/R's seq: the state is p/R with these frames
//	        folded in, so a changed room costs its delta, not its state.
//	        Tombstoned when p/R is rewritten (at most SnapshotEvery of
//	        them live per room).
//	l/R/N   the private changes of one frame (votes, upvotes, quiz answers),
//	        N counting up. Append-only between checkpoints.
//	c/R/I   checkpoint chunk I: all of R's votes, upvotes and answers as of
//	        l/R/N with N = the core's ckpt.lseq. Written when the l/ records
//	        since the last checkpoint outweigh it (so the bytes written stay
//	        within 2× the changes, and a restore reads at most ~2× the
//	        state); older l/ records are tombstoned in the same transaction.
//	d/R/N   the event ids accepted in one frame, for the dedup window;
//	        tombstoned when all of them fall out of the window.
//	h/R     R's moderator view (hold.go): its seq, snapshot seq and the
//	        pending queue. Written in the transactions that change the
//	        view, so a full queue is not rewritten with every core record.
//	o       the next events offset of the partition (see Processor).
//
// A record per frame, not per event, keeps the changelog cheap at 100k
// events/s; restore replays at most one checkpoint plus the l/ records
// after it.

type voteRec struct {
	P string `json:"p"`
	U string `json:"u"`
	O int    `json:"o"`
}

type upRec struct {
	Q string `json:"q"`
	U string `json:"u"`
}

type ansRec struct {
	Z  string `json:"z"`
	U  string `json:"u"`
	O  int    `json:"o"`
	TS int64  `json:"t"`
}

type logRecord struct {
	V []voteRec  `json:"v,omitempty"`
	U []upRec    `json:"u,omitempty"`
	A []ansRec   `json:"a,omitempty"`
	C []cloudRec `json:"c,omitempty"`
	// X is the distinct users counted under custom types' keys.
	X []customRec `json:"x,omitempty"`
}

type ckptRecord struct {
	L uint64    `json:"l"` // lseq it covers
	I int       `json:"i"`
	V []voteRec `json:"v,omitempty"`
	U []upRec   `json:"u,omitempty"`
	A []ansRec  `json:"a,omitempty"`
	// C is the words counted for each user of each cloud poll.
	C []cloudRec `json:"c,omitempty"`
	// X is the distinct users of custom types (custom.go).
	X []customRec `json:"x,omitempty"`
}

type dedupRecord struct {
	I []string `json:"i"`
	U []string `json:"u,omitempty"` // the ids' users; absent in records written before (room, user, id) identity
	T []int64  `json:"t"`
}

// filterRec is a room's word filter in the core record.
type filterRec struct {
	K []string `json:"k"`
	M bool     `json:"m,omitempty"`
	H bool     `json:"h,omitempty"` // hold (hold.go)
	// P are the filter's patterns as written; V is the key version: 2
	// for keys with the confusable skeleton (schemas.FilterKey). Keys
	// written before it are re-keyed on restore.
	P []string `json:"p,omitempty"`
	V int      `json:"v,omitempty"`
}

type ckptRef struct {
	LSeq   uint64 `json:"lseq"`
	Chunks int    `json:"chunks"`
	Bytes  int    `json:"bytes"`
}

// coreRecord is the s/ record as written; coreRecordIn as read.
type coreRecord struct {
	Epoch   string                `json:"epoch"`
	Seq     uint64                `json:"seq"`
	TS      int64                 `json:"ts"`
	MaxTS   int64                 `json:"max_ts"`
	SnapSeq uint64                `json:"snap_seq"`
	LSeq    uint64                `json:"lseq"`
	DSeq    uint64                `json:"dseq"`
	Ckpt    ckptRef               `json:"ckpt"`
	State   json.RawMessage       `json:"state,omitempty"` // only in records read back from before p/ records
	Nodes   map[string]nodeReport `json:"nodes,omitempty"`
	Correct map[string]int        `json:"correct,omitempty"`
	// At is the processor clock (ms) of the room's last event, for idle
	// eviction after a restore.
	At int64 `json:"at,omitempty"`
	// Closed: room.close was applied; every later event is ignored.
	Closed bool `json:"closed,omitempty"`
	// EmojiBy names who opened each emoji slot (the per-user cap).
	EmojiBy map[string]string `json:"emoji_by,omitempty"`
	// LastChat is each user's last chat line ts while slow mode is on.
	LastChat map[string]int64 `json:"last_chat,omitempty"`
	// Filter is the room's word filter (private: never in a snapshot).
	Filter *filterRec `json:"filter,omitempty"`
	// Evicted is set on the core record an eviction writes: the room's
	// live records are the Evicted records ending with this one.
	Evicted int `json:"evicted,omitempty"`
}

type coreRecordIn struct {
	Epoch   string                `json:"epoch"`
	Seq     uint64                `json:"seq"`
	TS      int64                 `json:"ts"`
	MaxTS   int64                 `json:"max_ts"`
	SnapSeq uint64                `json:"snap_seq"`
	LSeq    uint64                `json:"lseq"`
	DSeq    uint64                `json:"dseq"`
	Ckpt    ckptRef               `json:"ckpt"`
	State   *schemas.RoomState    `json:"state"` // nil: the state is p/R and f/R/N
	Nodes   map[string]nodeReport `json:"nodes,omitempty"`
	Correct map[string]int        `json:"correct,omitempty"`
	// At is the processor clock (ms) of the room's last event, for idle
	// eviction after a restore.
	At int64 `json:"at,omitempty"`
	// Closed: room.close was applied; every later event is ignored.
	Closed bool `json:"closed,omitempty"`
	// EmojiBy names who opened each emoji slot (the per-user cap).
	EmojiBy map[string]string `json:"emoji_by,omitempty"`
	// LastChat is each user's last chat line ts while slow mode is on.
	LastChat map[string]int64 `json:"last_chat,omitempty"`
	// Filter is the room's word filter (private: never in a snapshot).
	Filter *filterRec `json:"filter,omitempty"`
	// MV is the room's moderator view as core records held it before h/
	// records (restored only when R has no h/ record).
	MV *mvRec `json:"mv,omitempty"`
	// Evicted is set on the core record an eviction writes: the room's
	// live records are the Evicted records ending with this one.
	Evicted int `json:"evicted,omitempty"`
}

// evictedMarker reports whether a core record value was written by an
// eviction.
// Evicted is the core record's last field, so only the record's end is
// looked at: state text cannot fake it there.
func evictedMarker(v []byte) bool {
	i := bytes.LastIndex(v, []byte(`,"evicted":`))
	if i < 0 {
		return false
	}
	tail := v[i+len(`,"evicted":`):]
	if len(tail) < 2 || tail[len(tail)-1] != '}' {
		return false
	}
	for _, c := range tail[:len(tail)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Keys are built with one allocation each: several are written for
// every frame.
func roomKey(kind byte, room string) []byte {
	return append(append(make([]byte, 0, 2+len(room)), kind, '/'), room...)
}
func numKey(kind byte, room string, n uint64) []byte {
	b := append(append(make([]byte, 0, 24+len(room)), kind, '/'), room...)
	return strconv.AppendUint(append(b, '/'), n, 10)
}
func coreKey(room string) []byte            { return roomKey('s', room) }
func stateKey(room string) []byte           { return roomKey('p', room) }
func viewKey(room string) []byte            { return roomKey('h', room) }
func frameKey(room string, n uint64) []byte { return numKey('f', room, n) }
func dedupKey(room string, n uint64) []byte { return numKey('d', room, n) }
func logKey(room string, n uint64) string {
	return "l/" + room + "/" + strconv.FormatUint(n, 10)
}
func ckptKey(room string, i int) []byte { return []byte("c/" + room + "/" + strconv.Itoa(i)) }

// offsetKey is the key of the partition's offset record.
var offsetKey = []byte("o")

// OffsetRecord returns the changelog record saying the partition's state
// covers the events before offset next.
func OffsetRecord(next int64) Rec {
	return Rec{Key: offsetKey, Value: strconv.AppendInt(nil, next, 10)}
}

// writeLog writes the private changes since the last l/ record, split
// into records of at most cfg.chunkBytes (a frame of 20k votes is
// several records; restore replays them in order).
func (r *room) writeLog(cfg *Config, b *Batch) {
	if len(r.logVotes)+len(r.logUps)+len(r.logAns)+len(r.logCloud)+len(r.logCustom) == 0 {
		return
	}
	var cur logRecord
	n := chunkBase
	emit := func() {
		r.lseq++
		k := logKey(r.id, r.lseq)
		v := encodeJSON(&cur)
		b.Changelog = append(b.Changelog, Rec{Key: []byte(k), Value: v})
		r.logKeys = append(r.logKeys, k)
		r.logBytes += len(v)
		cur, n = logRecord{}, chunkBase
	}
	limit := cfg.chunkBytes()
	for _, v := range r.logVotes {
		if n += voteBytes(&v); n > limit {
			emit()
			n += voteBytes(&v)
		}
		cur.V = append(cur.V, v)
	}
	for _, u := range r.logUps {
		if n += upBytes(&u); n > limit {
			emit()
			n += upBytes(&u)
		}
		cur.U = append(cur.U, u)
	}
	for _, a := range r.logAns {
		if n += ansBytes(&a); n > limit {
			emit()
			n += ansBytes(&a)
		}
		cur.A = append(cur.A, a)
	}
	for _, c := range r.logCloud {
		if n += cloudBytes(&c); n > limit {
			emit()
			n += cloudBytes(&c)
		}
		cur.C = append(cur.C, c)
	}
	for _, x := range r.logCustom {
		if n += customRecBytes(&x); n > limit {
			emit()
			n += customRecBytes(&x)
		}
		cur.X = append(cur.X, x)
	}
	if len(cur.V)+len(cur.U)+len(cur.A)+len(cur.C)+len(cur.X) > 0 {
		emit()
	}
	clear(r.logCustom)
	r.logCustom = r.logCustom[:0]
	clear(r.logCloud)
	r.logCloud = r.logCloud[:0]
	clear(r.logVotes)
	clear(r.logUps)
	clear(r.logAns)
	r.logVotes, r.logUps, r.logAns = r.logVotes[:0], r.logUps[:0], r.logAns[:0]
}

func encodeDedup(c *dedupChunk) []byte {
	return encodeJSON(dedupRecord{I: c.ids, U: c.users, T: c.tss})
}

// Encoded size bounds of one private entry.
func voteBytes(v *voteRec) int { return jsonStringLen(v.P) + jsonStringLen(v.U) + intBytes + 16 }
func upBytes(u *upRec) int     { return jsonStringLen(u.Q) + jsonStringLen(u.U) + 12 }
func ansBytes(a *ansRec) int   { return jsonStringLen(a.Z) + jsonStringLen(a.U) + 2*intBytes + 20 }

func (r *room) closeDedupChunk(b *Batch) {
	c := &r.dchunks[len(r.dchunks)-1]
	if len(c.ids) == 0 {
		return
	}
	r.dseq++
	c.n = r.dseq
	b.Changelog = append(b.Changelog, Rec{Key: dedupKey(r.id, c.n), Value: encodeDedup(c)})
	r.dchunks = append(r.dchunks, dedupChunk{})
}

// checkpoint writes all of the room's votes, upvotes and answers as c/
// records of at most cfg.chunkBytes each and tombstones the l/ records
// they cover.
func (r *room) checkpoint(cfg *Config, b *Batch) {
	var chunks []ckptRecord
	cur := ckptRecord{L: r.lseq}
	n, any := chunkBase, false
	limit := cfg.chunkBytes()
	add := func(size int) {
		if n+size > limit && any {
			chunks = append(chunks, cur)
			cur = ckptRecord{L: r.lseq, I: len(chunks)}
			n = chunkBase
		}
		n += size
		any = true
	}
	for pid, p := range r.polls {
		for u, o := range p.votes {
			v := voteRec{P: pid, U: u, O: o}
			add(voteBytes(&v))
			cur.V = append(cur.V, v)
		}
		if p.cloud != nil {
			for u, ws := range p.cloud.users {
				c := cloudRec{P: pid, U: u, W: ws}
				add(cloudBytes(&c))
				cur.C = append(cur.C, c)
			}
		}
	}
	for qid, q := range r.questions {
		for u := range q.upvoters {
			up := upRec{Q: qid, U: u}
			add(upBytes(&up))
			cur.U = append(cur.U, up)
		}
	}
	for zid, z := range r.quizzes {
		for u, a := range z.answers {
			ar := ansRec{Z: zid, U: u, O: a.opt, TS: a.ts}
			add(ansBytes(&ar))
			cur.A = append(cur.A, ar)
		}
	}
	r.customCheckpoint(func(x customRec) {
		add(customRecBytes(&x))
		cur.X = append(cur.X, x)
	})
	if any {
		chunks = append(chunks, cur)
	}
	total := 0
	for i := range chunks {
		v := encodeJSON(&chunks[i])
		total += len(v)
		b.Changelog = append(b.Changelog, Rec{Key: ckptKey(r.id, i), Value: v})
	}
	for i := len(chunks); i < r.ckptChunks; i++ {
		b.Changelog = append(b.Changelog, Rec{Key: ckptKey(r.id, i)})
	}
	for _, k := range r.logKeys {
		b.Changelog = append(b.Changelog, Rec{Key: []byte(k)})
	}
	clear(r.logKeys)
	r.logKeys = r.logKeys[:0]
	r.logBytes = 0
	r.ckptLSeq, r.ckptChunks, r.ckptBytes = r.lseq, len(chunks), total
}

// coreRecord is r's s/ record; the public state is in p/ and f/ records.
func (r *room) coreRecord(evicted int) []byte {
	c := coreRecord{
		Epoch: r.epoch, Seq: r.seq, TS: r.ts, MaxTS: r.maxTS, SnapSeq: r.snapSeq,
		LSeq: r.lseq, DSeq: r.dseq,
		Ckpt:  ckptRef{LSeq: r.ckptLSeq, Chunks: r.ckptChunks, Bytes: r.ckptBytes},
		Nodes: r.nodes,
		At:    r.lastActive, Closed: r.closed, Evicted: evicted,
	}
	if len(r.emojiBy) > 0 {
		c.EmojiBy = r.emojiBy
	}
	if len(r.lastChat) > 0 {
		c.LastChat = r.lastChat
	}
	if len(r.filter) > 0 || len(r.filterPats) > 0 {
		c.Filter = &filterRec{K: r.filter, M: r.filterMask, H: r.filterHold, P: r.filterPats, V: 2}
	}
	if len(r.quizzes) > 0 {
		c.Correct = make(map[string]int, len(r.quizzes))
		for id, z := range r.quizzes {
			c.Correct[id] = z.correct
		}
	}
	return encodeJSON(&c)
}

// dropFrames tombstones r's f/ records: p/ now holds the state they led
// to.
func (r *room) dropFrames(b *Batch) {
	if r.fFrom == 0 {
		return
	}
	for n := r.fFrom; n <= r.seq; n++ {
		b.Changelog = append(b.Changelog, Rec{Key: frameKey(r.id, n)})
	}
	r.fFrom = 0
}

// Restorer rebuilds a Partition from its changelog records, read in
// offset order. Later records replace earlier ones with the same key and
// a nil value deletes, exactly as compaction would.
type Restorer struct {
	cfg      *Config
	cores    map[string][]byte
	coreOffs map[string]int64 // offset of each room's latest core record
	states   map[string][]byte
	views    map[string][]byte
	frames   map[string]map[uint64][]byte
	rebuilds map[string][]byte
	stashes  map[string]map[int64][]byte
	logs     map[string]map[uint64][]byte
	dedups   map[string]map[uint64][]byte
	ckpts    map[string]map[int][]byte
	dep      []byte // the deployment table's g/ record (deployment.go)
	offset   int64  // -1: no offset record
	bytes    int64
	n        int64
}

// NewRestorer returns an empty Restorer.
func NewRestorer(cfg *Config) *Restorer {
	return &Restorer{
		cfg: cfg, cores: map[string][]byte{}, coreOffs: map[string]int64{}, states: map[string][]byte{}, views: map[string][]byte{}, frames: map[string]map[uint64][]byte{}, rebuilds: map[string][]byte{}, stashes: map[string]map[int64][]byte{}, logs: map[string]map[uint64][]byte{},
		dedups: map[string]map[uint64][]byte{}, ckpts: map[string]map[int][]byte{}, offset: -1,
	}
}

// Add takes one changelog record and its offset (-1 when unknown: then
// evicted rooms cannot be located and Partition fails on them). Keys it
// does not know are an error: they mean another program writes the
// changelog.
func (s *Restorer) Add(key, value []byte, offset int64) error {
	s.n++
	s.bytes += int64(len(key) + len(value))
	k := string(key)
	if k == "o" {
		if value == nil {
			s.offset = -1
			return nil
		}
		o, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			return fmt.Errorf("changelog offset record %q: %w", value, err)
		}
		s.offset = o
		return nil
	}
	kind, rest, ok := strings.Cut(k, "/")
	if !ok {
		return fmt.Errorf("changelog key %q: unknown kind", k)
	}
	if kind == "g" {
		if rest != string(depTableKey[2:]) {
			return fmt.Errorf("changelog key %q: unknown kind", k)
		}
		s.dep = value
		return nil
	}
	if kind == "r" {
		if value == nil {
			delete(s.rebuilds, rest)
		} else {
			s.rebuilds[rest] = value
		}
		return nil
	}
	if kind == "p" || kind == "h" {
		m := s.states
		if kind == "h" {
			m = s.views
		}
		if value == nil {
			delete(m, rest)
		} else {
			m[rest] = value
		}
		return nil
	}
	if kind == "s" {
		if value == nil {
			delete(s.cores, rest)
			delete(s.coreOffs, rest)
		} else {
			s.cores[rest] = value
			s.coreOffs[rest] = offset
		}
		return nil
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return fmt.Errorf("changelog key %q: missing number", k)
	}
	roomID := rest[:i]
	n, err := strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return fmt.Errorf("changelog key %q: %w", k, err)
	}
	switch kind {
	case "l":
		putNum(s.logs, roomID, n, value)
	case "d":
		putNum(s.dedups, roomID, n, value)
	case "f":
		putNum(s.frames, roomID, n, value)
	case "c":
		putNum(s.ckpts, roomID, int(n), value)
	case "q":
		putNum(s.stashes, roomID, int64(n), value)
	default:
		return fmt.Errorf("changelog key %q: unknown kind", k)
	}
	return nil
}

func putNum[N comparable](m map[string]map[N][]byte, room string, n N, v []byte) {
	if v == nil {
		if mm := m[room]; mm != nil {
			delete(mm, n)
		}
		return
	}
	mm := m[room]
	if mm == nil {
		mm = map[N][]byte{}
		m[room] = mm
	}
	mm[n] = v
}

// Offset returns the next events offset the restored state covers, or -1
// if the changelog has no offset record (a partition never processed).
func (s *Restorer) Offset() int64 { return s.offset }

// Stats returns how many records and bytes were added.
func (s *Restorer) Stats() (records, bytes int64) { return s.n, s.bytes }

// Partition builds the restored partition state. Rooms whose last core
// record an eviction wrote stay evicted: only where their records are is
// kept, so memory after a restore follows active rooms too.
func (s *Restorer) Partition() (*Partition, error) {
	p := NewPartition(s.cfg)
	for id, raw := range s.cores {
		var ev struct {
			Evicted int `json:"evicted"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("room %s: core record: %w", id, err)
		}
		if ev.Evicted > 0 {
			off := s.coreOffs[id]
			if off < 0 {
				return nil, fmt.Errorf("room %s: evicted, but its core record's offset is unknown", id)
			}
			p.evicted[id] = evictedRef{first: off - int64(ev.Evicted) + 1, n: int32(ev.Evicted)}
			continue
		}
		r, err := s.room(id, raw)
		if err != nil {
			return nil, fmt.Errorf("room %s: %w", id, err)
		}
		p.rooms[id] = r
		if len(r.nodes) > 0 {
			p.watched[r] = struct{}{}
		}
		if r.hasTimer() {
			p.timed[r] = struct{}{}
		}
		if r.rankDirty {
			p.scored = append(p.scored, r)
		}
		p.restored(r)
	}
	if err := s.restoreRebuilds(p); err != nil {
		return nil, err
	}
	if s.dep != nil {
		t, err := parseDepTable(s.dep)
		if err != nil {
			return nil, err
		}
		p.dep = t
	}
	return p, nil
}

func (s *Restorer) room(id string, raw []byte) (*room, error) {
	var c coreRecordIn
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("core record: %w", err)
	}
	r := newRoom(id, c.Epoch)
	r.seq, r.ts, r.maxTS, r.snapSeq, r.lseq, r.dseq = c.Seq, c.TS, c.MaxTS, c.SnapSeq, c.LSeq, c.DSeq
	r.ckptLSeq, r.ckptChunks, r.ckptBytes = c.Ckpt.LSeq, c.Ckpt.Chunks, c.Ckpt.Bytes
	if err := s.publicState(id, r, &c); err != nil {
		return nil, err
	}
	r.pub.Apply(&schemas.Delta{}) // allocate what the JSON left nil
	r.lastActive, r.closed = c.At, c.Closed
	if c.Nodes != nil {
		r.nodes = c.Nodes
	}
	if c.EmojiBy != nil {
		r.emojiBy = c.EmojiBy
	}
	for n := range r.nodes {
		r.size += nodeBytes(n)
	}
	r.restoreMod(c.LastChat)
	if v := s.views[id]; v != nil {
		var mv mvRec
		if err := json.Unmarshal(v, &mv); err != nil {
			return nil, fmt.Errorf("moderator view record: %w", err)
		}
		r.restoreView(&mv, false)
	} else {
		r.restoreView(c.MV, true)
	}
	if c.Filter != nil {
		r.filter, r.filterMask, r.filterHold, r.filterPats = c.Filter.K, c.Filter.M, c.Filter.H, c.Filter.P
		if c.Filter.V < 2 {
			r.filter = rekeyFilter(r.filter)
		}
		for _, p := range r.filterPats {
			re, err := schemas.CompilePattern(p)
			if err != nil {
				return nil, fmt.Errorf("core record: filter pattern: %w", err)
			}
			r.filterRe = append(r.filterRe, re)
		}
		r.size += r.filterBytes()
	}
	for e := range r.pub.Reactions {
		if _, ok := r.emojiBy[e]; !ok {
			mk(&r.emojiBy)[e] = "" // a record from before the per-user cap
		}
		r.size += emojiSlotBytes(e, r.emojiBy[e])
	}
	for pid, pp := range r.pub.Polls {
		r.size += pollBytes(pid, pp.Question, pp.Options)
		if pp.Kind != "" {
			r.size += pollKindBytes(pp.Kind, pp.Scale, len(pp.Options))
		}
	}
	for zid, z := range r.pub.Quizzes {
		r.size += pollBytes(zid, z.Question, z.Options) + jsonStringLen(zid) + intBytes + 2
	}
	for qid, q := range r.pub.Questions {
		r.size += questionBytes(qid, q.User, q.Text)
		if !q.Answered {
			mk(&r.openQs)[q.User]++
		}
	}
	r.restoreCustom()
	for pid, pp := range r.pub.Polls {
		p := newPollPriv(pp.Kind, pp.Scale, len(pp.Options), pp.MaxPicks)
		p.closed, p.closesAt = pp.Closed, pp.ClosesAt
		if pp.Kind == schemas.PollCloud {
			p.cloud = newCloud(pp.StopWords)
		}
		mk(&r.polls)[pid] = p
	}
	for qid, q := range r.pub.Questions {
		mk(&r.questions)[qid] = &questionPriv{user: q.User, answered: q.Answered, upvoters: map[string]struct{}{}}
	}
	for zid, z := range r.pub.Quizzes {
		correct, ok := c.Correct[zid]
		if !ok {
			return nil, fmt.Errorf("quiz %s has no correct option in the core record", zid)
		}
		mk(&r.quizzes)[zid] = &quizPriv{opts: len(z.Options), correct: correct, points: z.Points, revealed: z.Revealed, answers: map[string]answer{}, askTS: z.AskTS, closesAt: z.ClosesAt}
	}
	for i := range c.Ckpt.Chunks {
		v := s.ckpts[id][i]
		if v == nil {
			return nil, fmt.Errorf("checkpoint chunk %d of %d is missing", i, c.Ckpt.Chunks)
		}
		var ck ckptRecord
		if err := json.Unmarshal(v, &ck); err != nil {
			return nil, fmt.Errorf("checkpoint chunk %d: %w", i, err)
		}
		if ck.L != c.Ckpt.LSeq {
			return nil, fmt.Errorf("checkpoint chunk %d covers l/%d, the core says l/%d", i, ck.L, c.Ckpt.LSeq)
		}
		if err := r.replay(ck.V, ck.U, ck.A); err != nil {
			return nil, err
		}
		if err := r.replayCloud(ck.C); err != nil {
			return nil, err
		}
		if err := r.replayCustom(ck.X); err != nil {
			return nil, err
		}
	}
	ns := sortedKeys(s.logs[id])
	for _, n := range ns {
		k := logKey(id, n)
		r.logKeys = append(r.logKeys, k) // tombstoned at the next checkpoint either way
		if n <= c.Ckpt.LSeq {
			continue
		}
		var l logRecord
		v := s.logs[id][n]
		if err := json.Unmarshal(v, &l); err != nil {
			return nil, fmt.Errorf("log %d: %w", n, err)
		}
		if err := r.replay(l.V, l.U, l.A); err != nil {
			return nil, err
		}
		if err := r.replayCloud(l.C); err != nil {
			return nil, err
		}
		if err := r.replayCustom(l.X); err != nil {
			return nil, err
		}
		r.logBytes += len(v)
	}
	r.dchunks = r.dchunks[:0]
	for _, n := range sortedKeys(s.dedups[id]) {
		var d dedupRecord
		if err := json.Unmarshal(s.dedups[id][n], &d); err != nil {
			return nil, fmt.Errorf("dedup %d: %w", n, err)
		}
		c := dedupChunk{n: n, ids: d.I, users: d.U, tss: d.T}
		for i, idv := range d.I {
			mk(&r.dedup)[idKey{c.user(i), idv}] = struct{}{}
			c.bytes += jsonStringLen(idv) + jsonStringLen(c.user(i)) + intBytes + 3
			if i < len(d.T) {
				c.maxTS = max(c.maxTS, d.T[i])
			}
		}
		r.dchunks = append(r.dchunks, c)
	}
	r.dchunks = append(r.dchunks, dedupChunk{})
	for _, z := range r.quizzes {
		if z.revealed {
			r.score(z)
		}
	}
	for _, p := range r.polls {
		if p.cloud != nil {
			p.cloud.resort()
		}
	}
	return r, nil
}

// publicState sets r's public state: the core record's own (written
// before p/ records existed), or p/R with the f/R/N records after its
// seq folded in, which must run to the core's seq without a gap.
func (s *Restorer) publicState(id string, r *room, c *coreRecordIn) error {
	if c.State != nil {
		r.pub = *c.State // r.pseq stays 0: the next change writes p/R
		return nil
	}
	r.pub = schemas.NewRoomState()
	if raw := s.states[id]; raw != nil {
		sn, err := schemas.UnmarshalSnapshot(raw)
		if err != nil {
			return fmt.Errorf("state record: %w", err)
		}
		if sn.Epoch != c.Epoch || sn.Seq > c.Seq {
			return fmt.Errorf("state record at %s/%d, core at %s/%d", sn.Epoch, sn.Seq, c.Epoch, c.Seq)
		}
		r.pub, r.pseq = sn.State, sn.Seq
		r.snapSeq = max(r.snapSeq, sn.Seq) // written with the snapshot; the core may not say so yet
	}
	fs := s.frames[id]
	for n := r.pseq + 1; n <= c.Seq; n++ {
		v := fs[n]
		if v == nil {
			return fmt.Errorf("frame record %d is missing (state at %d, core at %d)", n, r.pseq, c.Seq)
		}
		f, err := schemas.UnmarshalFrame(v)
		if err != nil {
			return fmt.Errorf("frame record %d: %w", n, err)
		}
		if f.Epoch != c.Epoch || f.Seq != n {
			return fmt.Errorf("frame record %d holds %s/%d, core epoch %s", n, f.Epoch, f.Seq, c.Epoch)
		}
		r.pub.Apply(&f.Delta)
	}
	for n := range fs {
		if r.fFrom == 0 || n < r.fFrom {
			r.fFrom = n
		}
	}
	return nil
}

func (r *room) replay(vs []voteRec, us []upRec, as []ansRec) error {
	for _, v := range vs {
		p := r.polls[v.P]
		if p == nil {
			return fmt.Errorf("vote for poll %s that the core record lacks", v.P)
		}
		p.votes[v.U] = v.O
	}
	for _, u := range us {
		q := r.questions[u.Q]
		if q == nil {
			return fmt.Errorf("upvote of question %s that the core record lacks", u.Q)
		}
		q.upvoters[u.U] = struct{}{}
	}
	for _, a := range as {
		z := r.quizzes[a.Z]
		if z == nil {
			return fmt.Errorf("answer to quiz %s that the core record lacks", a.Z)
		}
		z.answers[a.U] = answer{opt: a.O, ts: a.TS}
	}
	return nil
}

func sortedKeys[N uint64 | int](m map[N][]byte) []N {
	ks := make([]N, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// rekeyFilter turns filter keys written before the confusable skeleton
// (FilterFold forms) into FilterKey forms, sorted and without repeats.
func rekeyFilter(old []string) []string {
	keys := make([]string, 0, len(old))
	for _, k := range old {
		if nk := schemas.FilterKey(k); !slices.Contains(keys, nk) {
			keys = append(keys, nk)
		}
	}
	slices.Sort(keys)
	return keys
}
