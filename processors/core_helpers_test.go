package processors

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// ev builds a valid event; data is marshalled as the body.
func ev(t testing.TB, id, room, user string, typ schemas.Type, ts int64, data any) *schemas.Event {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	e := schemas.Event{V: 1, ID: id, Room: room, User: user, Type: typ, TS: ts, Data: raw}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := schemas.ParseEvent(b)
	if err != nil {
		t.Fatalf("event %s does not validate: %v", id, err)
	}
	return &parsed
}

// harness drives a Partition like the Kafka loop does and keeps every
// record it writes, so tests can fold frames and restore from the
// changelog.
type harness struct {
	t         testing.TB
	cfg       *Config
	p         *Partition
	frames    []schemas.Frame
	snapshots map[string]schemas.Snapshot
	changelog []Rec
	batch     Batch
	now       int64
	loads     int
	events    []*schemas.Event // events the partition wrote (timer closes)
	verdicts  []RoomVerdict    // verdicts the partition wrote
	copies    [][]byte         // deployment copies the partition wrote
}

func testConfig() *Config {
	n := 0
	cfg := &Config{Brokers: []string{"x"}, NewEpoch: func() string { n++; return fmt.Sprintf("e%d", n) }}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

func newHarness(t testing.TB, cfg *Config) *harness {
	if cfg == nil {
		cfg = testConfig()
	}
	return &harness{t: t, cfg: cfg, p: NewPartition(cfg), snapshots: map[string]schemas.Snapshot{}, now: 1_000_000}
}

// apply applies e, loading its room first when it is evicted, as the
// Kafka loop does.
func (h *harness) apply(e *schemas.Event) (Outcome, Reason) {
	h.t.Helper()
	o, r := h.p.Apply(e, &h.batch)
	if o == NeedsLoad {
		from, to, ok := h.p.EvictedRange(e.Room)
		if !ok {
			h.t.Fatalf("room %s needs a load but has no range", e.Room)
		}
		if err := h.p.Load(e.Room, h.changelog[from:to]); err != nil {
			h.t.Fatal(err)
		}
		h.loads++
		o, r = h.p.Apply(e, &h.batch)
	}
	h.collect()
	return o, r
}

// evict runs an eviction sweep at h.now and returns how many rooms left.
func (h *harness) evict() int {
	n := h.p.Evict(h.now, &h.batch)
	h.collect()
	return n
}

func (h *harness) flush() {
	h.p.Flush(h.now, &h.batch)
	h.collect()
}

func (h *harness) collect() {
	h.t.Helper()
	for _, r := range h.batch.Frames {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			h.t.Fatalf("frame does not decode: %v", err)
		}
		if string(r.Key) != f.Room {
			h.t.Fatalf("frame key %q for room %q", r.Key, f.Room)
		}
		h.frames = append(h.frames, f)
	}
	for _, r := range h.batch.Snapshots {
		s, err := schemas.UnmarshalSnapshot(r.Value)
		if err != nil {
			h.t.Fatalf("snapshot does not decode: %v", err)
		}
		h.snapshots[s.Room] = s
	}
	for _, r := range h.batch.Events {
		e, err := schemas.ParseEvent(r.Value)
		if err != nil || e.Room != string(r.Key) {
			h.t.Fatalf("event the partition wrote does not parse or is keyed %q: %v", r.Key, err)
		}
		h.events = append(h.events, &e)
	}
	for _, r := range h.batch.Changelog {
		if isEvictedCore(&kgo.Record{Key: r.Key, Value: r.Value}) {
			h.p.Evicted(roomOfKey(kindChangelog, r.Key), int64(len(h.changelog)))
		}
		h.changelog = append(h.changelog, r)
	}
	h.verdicts = append(h.verdicts, h.batch.Verdicts...)
	for _, c := range h.batch.Copies {
		h.copies = append(h.copies, append([]byte(nil), c...))
	}
	h.batch.Reset()
}

// restored returns a new Partition restored from everything written.
func (h *harness) restored() *Partition {
	h.t.Helper()
	rs := NewRestorer(h.cfg)
	for i, r := range h.changelog {
		// The harness's changelog is one partition: its index is the offset.
		if err := rs.Add(r.Key, r.Value, int64(i)); err != nil {
			h.t.Fatal(err)
		}
	}
	p, err := rs.Partition()
	if err != nil {
		h.t.Fatalf("restore: %v", err)
	}
	return p
}

// fold returns the fold of room's frames of its latest epoch, checking
// that their seqs are 1..N without gap or repeat.
func (h *harness) fold(room string) (schemas.RoomState, string, uint64) {
	h.t.Helper()
	st := schemas.NewRoomState()
	epoch := ""
	var seq uint64
	for _, f := range h.frames {
		if f.Room != room {
			continue
		}
		if f.Epoch != epoch {
			if f.Seq != 1 {
				h.t.Fatalf("room %s: epoch %s starts at seq %d", room, f.Epoch, f.Seq)
			}
			epoch, seq, st = f.Epoch, 0, schemas.NewRoomState()
		}
		if f.Seq != seq+1 {
			h.t.Fatalf("room %s: seq %d after %d", room, f.Seq, seq)
		}
		seq = f.Seq
		st.Apply(&f.Delta)
	}
	return st, epoch, seq
}

// checkFold asserts that every room's public state, latest snapshot and
// fold of frames agree.
func (h *harness) checkFold() {
	h.t.Helper()
	for id := range h.p.rooms {
		st, epoch, seq, _ := h.p.RoomState(id)
		f, fe, fs := h.fold(id)
		if fe != epoch || fs != seq {
			h.t.Fatalf("room %s: state at %s/%d, frames at %s/%d", id, epoch, seq, fe, fs)
		}
		if !equalState(st, f) {
			h.t.Fatalf("room %s: fold of frames differs from state (state ≠ fold):\n%s", id, diffState(st, f))
		}
		if seq == 0 {
			continue
		}
		sn, ok := h.snapshots[id]
		if !ok {
			h.t.Fatalf("room %s: no snapshot", id)
		}
		if sn.Epoch != epoch {
			h.t.Fatalf("room %s: latest snapshot of epoch %s, frames of %s", id, sn.Epoch, epoch)
		}
		// The snapshot may lag (Config.SnapshotEvery, SnapshotInterval):
		// it and the frames after it are the state.
		sf := sn.State.Clone()
		for _, f := range h.frames {
			if f.Room == id && f.Epoch == epoch && f.Seq > sn.Seq {
				sf.Apply(&f.Delta)
			}
		}
		if !equalState(sf, st) {
			h.t.Fatalf("room %s: snapshot at seq %d and the frames after it differ from the state at %d:\n%s", id, sn.Seq, seq, diffState(sf, st))
		}
		h.checkView(id)
	}
}

// checkView asserts that a room's moderator view, the fold of its frames
// and its latest snapshot agree, in the room's epoch.
func (h *harness) checkView(id string) {
	h.t.Helper()
	st, epoch, seq, ok := h.p.ViewState(id)
	vid := schemas.ModView(id)
	f, fe, fs := h.fold(vid)
	if !ok {
		if fs != 0 {
			if _, repoch, _, _ := h.p.RoomState(id); fe == repoch {
				h.t.Fatalf("room %s: no moderator view, but its frames reach %s/%d", id, fe, fs)
			}
		}
		return
	}
	if fe != epoch || fs != seq {
		h.t.Fatalf("view %s: state at %s/%d, frames at %s/%d", vid, epoch, seq, fe, fs)
	}
	if !equalState(st, f) {
		h.t.Fatalf("view %s: fold of frames %s differs from state %s", vid, js(f.Held), js(st.Held))
	}
	sn, ok := h.snapshots[vid]
	if !ok || sn.Epoch != epoch {
		h.t.Fatalf("view %s: no snapshot in epoch %s", vid, epoch)
	}
	if sn.Seq == seq && !equalState(sn.State, st) {
		h.t.Fatalf("view %s: snapshot at seq %d differs from state", vid, seq)
	}
}

func equalState(a, b schemas.RoomState) bool {
	return js(a.Clone()) == js(b.Clone())
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// diffState describes how a and b differ, field by field, briefly.
func diffState(a, b schemas.RoomState) string {
	var out []string
	add := func(name string, x, y any) {
		if js(x) != js(y) {
			sx, sy := js(x), js(y)
			if len(sx) > 300 {
				sx = sx[:300] + "…"
			}
			if len(sy) > 300 {
				sy = sy[:300] + "…"
			}
			out = append(out, fmt.Sprintf("%s: %s ≠ %s", name, sx, sy))
		}
	}
	a, b = a.Clone(), b.Clone()
	add("reactions", a.Reactions, b.Reactions)
	add("chat", chatIDs(a.Chat), chatIDs(b.Chat))
	for id := range a.Polls {
		add("poll "+id, a.Polls[id], b.Polls[id])
	}
	for id := range a.Questions {
		add("question "+id, a.Questions[id], b.Questions[id])
	}
	for id := range a.Quizzes {
		add("quiz "+id, a.Quizzes[id], b.Quizzes[id])
	}
	add("poll ids", len(a.Polls), len(b.Polls))
	add("question ids", len(a.Questions), len(b.Questions))
	add("quiz ids", len(a.Quizzes), len(b.Quizzes))
	add("leaderboard", a.Leaderboard, b.Leaderboard)
	add("totals", a.Totals, b.Totals)
	add("closed", a.Closed, b.Closed)
	add("viewers", a.Viewers, b.Viewers)
	add("mod", a.Mod, b.Mod)
	add("pinned", a.Pinned, b.Pinned)
	add("held", a.Held, b.Held)
	return strings.Join(out, "\n")
}
