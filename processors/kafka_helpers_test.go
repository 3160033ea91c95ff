package processors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// testTopics returns uniquely named topics for one test.
func testTopics(t testing.TB) schemas.Topics {
	n := time.Now().UnixNano() % 1e9
	return schemas.Topics{
		Events:    fmt.Sprintf("t%d.events", n),
		Frames:    fmt.Sprintf("t%d.frames", n),
		Snapshots: fmt.Sprintf("t%d.snapshots", n),
		Changelog: fmt.Sprintf("t%d.changelog", n),
		DLQ:       fmt.Sprintf("t%d.dlq", n),
	}
}

// createTopics creates the five topics with partitions each and
// replication rf, compacting snapshots and changelog.
func createTopics(t testing.TB, brokers []string, tp schemas.Topics, partitions int32, rf int16) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// max.message.bytes as `ovation topics create` sets it; the broker
	// keeps its defaults.
	maxMsg := ptr(fmt.Sprint(schemas.TopicMaxMessageBytes))
	compact := map[string]*string{"cleanup.policy": ptr("compact"), "max.message.bytes": maxMsg}
	plain := map[string]*string{"max.message.bytes": maxMsg}
	for _, s := range []struct {
		name string
		cfg  map[string]*string
	}{{tp.Events, plain}, {tp.Frames, plain}, {tp.Snapshots, compact}, {tp.Changelog, compact}, {tp.DLQ, plain}} {
		for i := 0; ; i++ {
			r, err := adm.CreateTopic(ctx, partitions, rf, s.cfg, s.name)
			if err == nil && r.Err == nil {
				break
			}
			if i == 20 {
				t.Fatalf("create %s: %v %v", s.name, err, r.Err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	// Wait for leaders.
	for i := 0; i < 100; i++ {
		d, err := adm.ListTopics(ctx, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ)
		okAll := err == nil
		if err == nil {
			d.EachPartition(func(p kadm.PartitionDetail) {
				if p.Leader < 0 || p.Err != nil {
					okAll = false
				}
			})
			okAll = okAll && len(d) == 5
		}
		if okAll {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("topics have no leaders")
}

func ptr[T any](v T) *T { return &v }

// produceEvents writes events keyed by room with the default partitioner,
// idempotently, and returns when all are acknowledged.
func produceEvents(t testing.TB, brokers []string, topic string, evs []*schemas.Event) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var firstErr error
	for _, e := range evs {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(e.Room), Value: b}, func(_ *kgo.Record, err error) {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// waitCaughtUp waits until group has committed the end offset of every
// events partition: everything written was processed.
func waitCaughtUp(t testing.TB, brokers []string, group, topic string, timeout time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, err1 := adm.ListEndOffsets(ctx, topic)
		committed, err2 := adm.FetchOffsets(ctx, group)
		cancel()
		if err1 == nil && err2 == nil {
			done := true
			var lag int64
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := committed.Lookup(topic, o.Partition)
				if !ok || c.At < o.Offset {
					done = false
					lag += o.Offset - max(c.At, 0)
				}
			})
			if done {
				return
			}
			// The processors write into the events topic too (timer
			// closes, verdicts): each of their transactions leaves a
			// marker there that no consumer commits past. A small lag
			// is only markers when the committed offsets cover every
			// record.
			if lag <= int64(8*len(ends)) && coversRecords(t, brokers, committed, topic) {
				return
			}
			last = fmt.Sprintf("lag %d", lag)
		} else {
			last = fmt.Sprint(err1, err2)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("group %s did not catch up with %s in %s: %s", group, topic, timeout, last)
}

// topicContent is what a read_committed consumer reads from a topic, with
// the transaction markers it saw.
type topicContent struct {
	records      []*kgo.Record
	commits      int
	aborts       int
	partitionEnd map[int32]int64
}

// readAll reads topic read_committed to each partition's last stable
// offset, keeping control records to count commit and abort markers.
func readAll(t testing.TB, brokers []string, topic string) topicContent {
	return readTopic(t, brokers, topic, true)
}

// readTopic reads topic to its end, read_committed (to the last stable
// offset) or read_uncommitted (to the high watermark, aborted records
// included).
func readTopic(t testing.TB, brokers []string, topic string, committed bool) topicContent {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// Wait for the last transaction's markers: the group's offsets can be
	// visible a moment before the markers of every partition it wrote, and
	// a SIGKILLed processor's open transaction holds the last stable
	// offset back until it times out (Config.TransactionTimeout) or its
	// successor fences it.
	var lso kadm.ListedOffsets
	for i := 0; ; i++ {
		var err error
		lso, err = adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		hwm, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		stable := true
		hwm.Each(func(o kadm.ListedOffset) {
			if l, _ := lso.Lookup(topic, o.Partition); l.Offset != o.Offset {
				stable = false
			}
		})
		if stable {
			break
		}
		if i == 240 {
			// Reading to a last stable offset short of the end would
			// report the tail as lost: say what is really wrong.
			t.Fatalf("read %s: transaction markers missing after 60s (last stable %v, end %v)", topic, lso, hwm)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !committed {
		lso, err = adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
	}
	out := topicContent{partitionEnd: map[int32]int64{}}
	parts := map[int32]kgo.Offset{}
	lso.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			parts[o.Partition] = kgo.NewOffset().AtStart()
			out.partitionEnd[o.Partition] = o.Offset
		}
	})
	if len(parts) == 0 {
		return out
	}
	iso := kgo.ReadCommitted()
	if !committed {
		iso = kgo.ReadUncommitted()
	}
	rc, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pos := map[int32]int64{}
	done := func() bool {
		for p, end := range out.partitionEnd {
			if pos[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := rc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: timed out at %v of %v", topic, pos, out.partitionEnd)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if r.Offset >= out.partitionEnd[r.Partition] {
				return
			}
			if r.Attrs.IsControl() {
				if len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:4]) == 1 {
					out.commits++
				} else {
					out.aborts++
				}
				return
			}
			out.records = append(out.records, r)
		})
	}
	return out
}

// verifyOutput checks what the processors wrote against the model: for
// every room the frames of its latest epoch have seqs 1..N with no gap
// and no repeat, their fold equals the model's state, and the latest
// snapshot is at seq N and equals it too. A snapshot may lag its room's
// frames by Config.SnapshotInterval, and a room being rebuilt writes its
// frames after its events' offsets are committed: frames and snapshots
// are read again until they agree with the model, for up to 15 s (gaps,
// repeats and misplaced frames fail at once). It returns the frames read.
func verifyOutput(t testing.TB, brokers []string, tp schemas.Topics, m *model) (frames topicContent) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		frames = readAll(t, brokers, tp.Frames)
		if err := verifyFrames(t, brokers, tp, m, frames); err == nil || time.Now().After(deadline) {
			if err != nil {
				t.Fatal(err)
			}
			return frames
		} else if !errors.Is(err, errSnapshotBehind) && !errors.Is(err, errFramesBehind) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// errSnapshotBehind: a room's latest snapshot is not yet at its last
// frame; errFramesBehind: a room's frames do not fold to the model (yet).
var (
	errSnapshotBehind = errors.New("snapshot behind the frames")
	errFramesBehind   = errors.New("frames behind the events")
)

func verifyFrames(t testing.TB, brokers []string, tp schemas.Topics, m *model, frames topicContent) error {
	t.Helper()
	snaps := readAll(t, brokers, tp.Snapshots)
	type roomFold struct {
		epoch     string
		seq       uint64
		st        schemas.RoomState
		partition int32
	}
	folds := map[string]*roomFold{}
	for _, r := range frames.records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Fatalf("frame at %d/%d: %v", r.Partition, r.Offset, err)
		}
		rf := folds[f.Room]
		if rf == nil {
			rf = &roomFold{partition: r.Partition}
			folds[f.Room] = rf
		}
		if rf.partition != r.Partition {
			t.Fatalf("room %s has frames in partitions %d and %d", f.Room, rf.partition, r.Partition)
		}
		if f.Epoch != rf.epoch {
			if f.Seq != 1 {
				t.Fatalf("room %s: epoch %s starts at seq %d", f.Room, f.Epoch, f.Seq)
			}
			rf.epoch, rf.seq, rf.st = f.Epoch, 0, schemas.NewRoomState()
		}
		if f.Seq != rf.seq+1 {
			t.Fatalf("room %s epoch %s: seq %d after %d (gap or repeat)", f.Room, f.Epoch, f.Seq, rf.seq)
		}
		rf.seq = f.Seq
		rf.st.Apply(&f.Delta)
	}
	latest := map[string]schemas.Snapshot{}
	for _, r := range snaps.records {
		s, err := schemas.UnmarshalSnapshot(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		latest[s.Room] = s
	}
	var rooms []string
	for id := range m.rooms {
		rooms = append(rooms, id)
	}
	slices.Sort(rooms)
	for _, id := range rooms {
		want := m.rooms[id].st.Clone()
		rf := folds[id]
		if rf == nil {
			return fmt.Errorf("room %s: no frames: %w", id, errFramesBehind)
		}
		want.Viewers = rf.st.Viewers
		if !equalState(rf.st, want) {
			return fmt.Errorf("room %s: fold of frames differs from the test's fold of the events (frames ≠ events):\n%s: %w", id, diffState(rf.st, want), errFramesBehind)
		}
		s, ok := latest[id]
		if !ok || s.Epoch != rf.epoch || s.Seq != rf.seq {
			return fmt.Errorf("room %s: latest snapshot at %s/%d, frames end at %s/%d: %w", id, s.Epoch, s.Seq, rf.epoch, rf.seq, errSnapshotBehind)
		}
		if !equalState(s.State, rf.st) {
			t.Fatalf("room %s: snapshot differs from the fold of frames", id)
		}
	}
	// Moderator views: the fold of each view's frames, in its room's
	// epoch, and its latest snapshot equal the model's pending queue.
	views := 0
	for id, rf := range folds {
		room, ok := schemas.ModViewOf(id)
		if !ok {
			continue
		}
		views++
		mr := m.rooms[room]
		if mr == nil || folds[room] == nil {
			t.Fatalf("view %s of a room without frames", id)
		}
		if rf.epoch != folds[room].epoch {
			t.Fatalf("view %s at epoch %s, its room at %s", id, rf.epoch, folds[room].epoch)
		}
		if rf.partition != folds[room].partition {
			t.Fatalf("view %s in partition %d, its room in %d", id, rf.partition, folds[room].partition)
		}
		if got, want := heldOf(rf.st.Held), heldOf(mr.heldPtrs()); got != want {
			return fmt.Errorf("view %s: fold of frames holds %s, the model %s: %w", id, got, want, errFramesBehind)
		}
		s, ok := latest[id]
		if !ok || s.Epoch != rf.epoch || s.Seq > rf.seq {
			t.Fatalf("view %s: latest snapshot at %s/%d, frames end at %s/%d", id, s.Epoch, s.Seq, rf.epoch, rf.seq)
		}
		if s.Seq == rf.seq && heldOf(s.State.Held) != heldOf(rf.st.Held) {
			t.Fatalf("view %s: snapshot differs from the fold of frames", id)
		}
	}
	if len(folds)-views != len(m.rooms) {
		return fmt.Errorf("frames for %d rooms, the events have %d: %w", len(folds)-views, len(m.rooms), errFramesBehind)
	}
	return nil
}

// heldOf encodes a pending queue for comparison (empty and nil alike).
func heldOf(h map[string]*schemas.HeldItem) string {
	if len(h) == 0 {
		return "{}"
	}
	return js(h)
}

// coversRecords reports whether group's committed offsets are past the
// last record of every partition of topic (transaction markers after it
// do not count).
func coversRecords(t testing.TB, brokers []string, committed kadm.OffsetResponses, topic string) bool {
	c := readAll(t, brokers, topic)
	last := map[int32]int64{}
	for _, r := range c.records {
		last[r.Partition] = max(last[r.Partition], r.Offset)
	}
	for p, o := range last {
		got, ok := committed.Lookup(topic, p)
		if !ok || got.At <= o {
			return false
		}
	}
	return true
}
