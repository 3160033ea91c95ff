package pushers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/ovation-live/ovation/internal/kread"
	"github.com/ovation-live/ovation/schemas"
)

// Run reads frames and snapshots from Kafka, reports presence, pings
// clients and sweeps windows until ctx ends. The frames topic is read from
// Config.Window ago, so a fresh pusher can serve resumes at once; the
// snapshots topic (compacted) from its start. Both read_committed, without
// a consumer group: every pusher reads every partition. Ready turns true
// once both have caught up with where Kafka was at start.
func (s *Server) Run(ctx context.Context) error {
	admCl, err := kgo.NewClient(s.cfg.KafkaOpts...)
	if err != nil {
		return fmt.Errorf("pushers: kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	framesFrom, framesTo, err := s.listRange(ctx, adm, s.cfg.Topics.Frames, time.Now().Add(-s.cfg.Window).UnixMilli())
	if err != nil {
		return err
	}
	snapsFrom, snapsTo, err := s.listRange(ctx, adm, s.cfg.Topics.Snapshots, -1)
	if err != nil {
		return err
	}
	prod, err := kgo.NewClient(append(append([]kgo.Opt(nil), s.cfg.KafkaOpts...),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordDeliveryTimeout(10*time.Second), kgo.MaxBufferedRecords(100_000))...)
	if err != nil {
		return fmt.Errorf("pushers: presence producer: %w", err)
	}
	defer prod.Close()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return s.consume(gctx, s.cfg.Topics.Frames, framesFrom, framesTo, &s.framesReady, s.onFrameRecord)
	})
	g.Go(func() error {
		return s.consume(gctx, s.cfg.Topics.Snapshots, snapsFrom, snapsTo, &s.snapsReady, s.onSnapshotRecord)
	})
	g.Go(func() error { return s.presenceLoop(gctx, prod) })
	g.Go(func() error { return s.tickLoop(gctx) })
	g.Go(func() error { return s.tokenLoop(gctx) })
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// listRange returns, per partition of topic, the offset to start reading
// at (the first at or after fromMS, or the log start when fromMS < 0) and
// the last stable offset: reading up to it means caught up.
func (s *Server) listRange(ctx context.Context, adm *kadm.Client, topic string, fromMS int64) (map[int32]kgo.Offset, map[int32]int64, error) {
	var starts kadm.ListedOffsets
	var err error
	for attempt := 0; ; attempt++ {
		if fromMS < 0 {
			starts, err = adm.ListStartOffsets(ctx, topic)
		} else {
			starts, err = adm.ListOffsetsAfterMilli(ctx, fromMS, topic)
		}
		if err == nil {
			err = starts.Error()
		}
		if err == nil || attempt >= 30 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second) // topic not created yet, or leaders moving
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pushers: list offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pushers: list end offsets of %s: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	to := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		from[o.Partition] = kgo.NewOffset().At(o.Offset)
		if e, ok := ends.Lookup(topic, o.Partition); ok && e.Offset > o.Offset {
			to[o.Partition] = e.Offset
		}
	})
	if len(from) == 0 {
		return nil, nil, fmt.Errorf("pushers: topic %s has no partitions (create it with `ovation topics`)", topic)
	}
	return from, to, nil
}

// consume reads topic's partitions from the given offsets and hands each
// data record to fn. ready turns true once every partition reached its
// target offset; control records are kept so a partition ending in a
// transaction marker counts as caught up.
func (s *Server) consume(ctx context.Context, topic string, from map[int32]kgo.Offset, to map[int32]int64, ready interface{ Store(bool) }, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), s.cfg.KafkaOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("pushers: %s reader: %w", topic, err)
	}
	defer cl.Close()
	if len(to) == 0 {
		ready.Store(true)
	}
	s.log.Info("reading", "topic", topic, "partitions", len(from), "behind_partitions", len(to))
	known := make(map[int32]bool, len(from))
	for p := range from {
		known[p] = true
	}
	// A direct consumer reads a fixed set of partitions; partitions added
	// to the topic while the pusher runs are found here. The owner of the
	// goroutine is this function: it ends with ctx and is waited for.
	discoverCtx, stopDiscover := context.WithCancel(ctx)
	discovered := make(chan struct{})
	go func() {
		defer close(discovered)
		s.discoverPartitions(discoverCtx, cl, topic, known)
	}()
	defer func() { stopDiscover(); <-discovered }()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if len(to) > 0 {
				if end, ok := to[r.Partition]; ok && r.Offset+1 >= end {
					delete(to, r.Partition)
					if len(to) == 0 {
						s.log.Info("caught up", "topic", topic)
						ready.Store(true)
					}
				}
			}
			if r.Attrs.IsControl() {
				return
			}
			fn(r)
		})
	}
}

// PartitionRefresh is how often pushers look for partitions added to the
// frames and snapshots topics while they run. A new partition is read from
// its start: everything in it was written after it was created.
const PartitionRefresh = 10 * time.Second

// discoverPartitions adds partitions of topic not in known to cl, every
// PartitionRefresh, until ctx ends. Only this goroutine reads or writes
// known after it starts.
func (s *Server) discoverPartitions(ctx context.Context, cl *kgo.Client, topic string, known map[int32]bool) {
	adm := kadm.NewClient(cl)
	t := time.NewTicker(PartitionRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		td, err := adm.ListTopics(lctx, topic)
		cancel()
		if err != nil || td[topic].Err != nil {
			continue // the next tick retries; fetching goes on meanwhile
		}
		added := map[int32]kgo.Offset{}
		for _, p := range td[topic].Partitions.Numbers() {
			if !known[p] {
				known[p] = true
				added[p] = kgo.NewOffset().AtStart()
			}
		}
		if len(added) > 0 {
			cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: added})
			s.log.Info("reading new partitions", "topic", topic, "added", len(added), "partitions", len(known))
		}
	}
}

func (s *Server) onFrameRecord(r *kgo.Record) {
	s.m.framesIn.Inc()
	f, err := schemas.UnmarshalFrame(r.Value)
	if err != nil {
		s.m.badRecords.WithLabelValues("frame", "invalid").Inc()
		s.log.Warn("skipping invalid frame record", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	if f.Epoch == "" || len(f.Epoch) > maxEpochLen {
		s.m.badRecords.WithLabelValues("frame", "invalid").Inc()
		s.log.Warn("skipping frame record without a usable epoch", "partition", r.Partition, "offset", r.Offset)
		return
	}
	fm := newFrameMsg(&f, r)
	s.hub.addFrame(fm)
	if fm.mod != nil && len(fm.mod.Sanctions) > 0 {
		s.hub.endViews(fm.room, fm.mod.Sanctions)
	}
	if fm.room == s.cfg.DeploymentRoom && fm.mod != nil {
		s.hub.depFrame(fm)
	}
}

func newFrameMsg(f *schemas.Frame, r *kgo.Record) *frameMsg {
	fm := &frameMsg{room: f.Room, epoch: f.Epoch, seq: f.Seq, ts: f.TS, recTS: r.Timestamp.UnixMilli(), part: r.Partition, off: r.Offset}
	fm.wire = mustJSON(&wireFrame{Type: "frame", Room: f.Room, Epoch: f.Epoch, Seq: f.Seq, TS: f.TS, Delta: &f.Delta})
	fm.mod = f.Delta.Mod
	return fm
}

// maxFetches bounds concurrent Kafka reads for old positions; when all are
// busy a resume gets a snapshot instead.
const maxFetches = 4

// fetchTimeout bounds one Kafka read for old positions.
const fetchTimeout = 10 * time.Second

// startFetch reads, in its own goroutine, the frames of r after seq from
// checkpoint ck up to the window, then calls finishFetch. It reports
// false when no read slot is free. r.mu is held.
func (s *Server) startFetch(r *room, c *Conn, sb *sub, ck ckpt, seq uint64) bool {
	select {
	case s.fetchSlots <- struct{}{}:
	default:
		return false
	}
	stop := r.last // read at least up to what the room had when asked
	if len(r.win) > 0 {
		stop = r.win[0].seq - 1
	}
	epoch, room := ck.epoch, r.id
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.fetchSlots }()
		frames, err := s.readFrames(room, epoch, ck, seq, stop)
		s.hub.finishFetch(r, c, sb, epoch, seq, frames, err)
	}()
	return true
}

// readFrames reads the frames topic's partition from ck.off and returns
// room's frames of epoch from seq+1 to stop, gapless.
func (s *Server) readFrames(room, epoch string, ck ckpt, seq, stop uint64) ([]*frameMsg, error) {
	ctx, cancel := context.WithTimeout(s.ctx, fetchTimeout)
	defer cancel()
	var out []*frameMsg
	next := seq + 1
	// The frames up to stop are committed (the room had them when
	// asked), so they lie before the partition's last stable offset.
	err := kread.Read(ctx, s.cfg.KafkaOpts, kread.Range{Topic: s.cfg.Topics.Frames, Partition: ck.part, From: ck.off, End: -1}, nil, func(rec *kgo.Record) error {
		if next > stop {
			return kread.Stop
		}
		if len(rec.Key) > 0 && string(rec.Key) != room {
			return nil
		}
		f, err := schemas.UnmarshalFrame(rec.Value)
		if err != nil || f.Room != room || f.Epoch != epoch || f.Seq < next {
			return nil
		}
		if f.Seq > next {
			return fmt.Errorf("pushers: frames of %s jump from %d to %d in Kafka", room, next-1, f.Seq)
		}
		out = append(out, newFrameMsg(&f, rec))
		next++
		if next > stop {
			return kread.Stop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pushers: read frames of %s from offset %d: %w", room, ck.off, err)
	}
	if next <= stop {
		return nil, fmt.Errorf("pushers: frames of %s end at seq %d in Kafka, want %d", room, next-1, stop)
	}
	return out, nil
}

// snapHeader is the part of a snapshot record needed to index it; the
// state is decoded (and validated) only when a subscriber needs it.
type snapHeader struct {
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	TS    int64  `json:"ts"`
}

func (s *Server) onSnapshotRecord(r *kgo.Record) {
	if r.Value == nil {
		// A tombstone: the room has no snapshot to serve any more.
		if schemas.CheckStream(string(r.Key)) == nil {
			s.hub.dropSnapshot(string(r.Key))
		}
		return
	}
	var h snapHeader
	if err := json.Unmarshal(r.Value, &h); err != nil || schemas.CheckStream(h.Room) != nil || h.Epoch == "" || len(h.Epoch) > maxEpochLen {
		s.m.badRecords.WithLabelValues("snapshot", "invalid").Inc()
		s.log.Warn("skipping invalid snapshot record", "partition", r.Partition, "offset", r.Offset)
		return
	}
	// Copy: the record's value pins its whole fetch buffer.
	sn := &snapMsg{room: h.Room, epoch: h.Epoch, seq: h.Seq, ts: h.TS, raw: bytes.Clone(r.Value),
		part: r.Partition, off: r.Offset, bytes: len(r.Value), recTS: r.Timestamp.UnixMilli()}
	sn.peekMod()
	if sn.room == s.cfg.DeploymentRoom {
		s.hub.depSnapshot(sn)
	}
	s.hub.addSnapshot(sn)
}

// tickLoop sweeps windows and pending subscribes every second and pings
// every connection every PingInterval.
func (s *Server) tickLoop(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastPing := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.hub.sweep(now)
			if now.Sub(lastPing) >= s.cfg.PingInterval {
				lastPing = now
				for _, c := range s.allConns() {
					c.enqueue(qItem{ping: true})
				}
			}
		}
	}
}

// presenceLoop reports each room's viewers on this node every
// PresenceInterval, and a last 0 when a room's viewers are gone, as
// presence events straight into the events topic.
func (s *Server) presenceLoop(ctx context.Context, prod *kgo.Client) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	prefix := "pr-" + hex.EncodeToString(rnd[:]) + "-"
	var n uint64
	report := func(ctx context.Context, final bool) {
		var recs []*kgo.Record
		now := time.Now().UnixMilli()
		s.hub.each(func(r *room) {
			v := int64(len(r.subs))
			if final {
				v = 0 // this node is going away: its viewers are gone
			}
			if v == 0 && r.reported == 0 {
				return
			}
			if r.reported == 0 && r.epoch == "" && r.snap == nil {
				// No frame or snapshot of the room exists: the
				// processors have no room to fold viewers into (presence
				// never creates one), so made-up room names cost no
				// reports. The first frame makes the room known, and the
				// next report counts its viewers.
				return
			}
			r.reported = v
			n++
			data, _ := json.Marshal(&schemas.PresenceData{Node: s.cfg.Node, Viewers: v})
			ev := schemas.Event{V: schemas.Version, ID: prefix + fmt.Sprint(n), Room: r.id, User: "pusher:" + s.cfg.Node,
				Type: schemas.Presence, TS: now, Data: data}
			b, err := ev.Marshal()
			if err != nil {
				return
			}
			recs = append(recs, &kgo.Record{Topic: s.cfg.Topics.Events, Key: []byte(r.id), Value: b})
		})
		for _, rec := range recs {
			prod.TryProduce(ctx, rec, func(_ *kgo.Record, err error) {
				if err != nil {
					s.log.Warn("presence report failed", "err", err)
					return
				}
				s.m.presence.Inc()
			})
		}
	}
	t := time.NewTicker(s.cfg.PresenceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// A last report of zeros, so the rooms' viewer counts drop
			// now rather than when the processors' presence TTL expires.
			fctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			report(fctx, true)
			prod.Flush(fctx)
			cancel()
			return nil
		case <-t.C:
			// Not ctx: cancelling a buffered record fails the records
			// queued behind it, which would drop the final zeros.
			// RecordDeliveryTimeout bounds these instead.
			report(context.WithoutCancel(ctx), false)
		}
	}
}

// startSnapshotFetch reads a cold snapshot back from Kafka in its own
// goroutine, then calls hub.warmed. It reports false when no read slot is
// free (the subscribe waits and retries on the next frame or snapshot).
// r.mu is held.
func (s *Server) startSnapshotFetch(r *room, sn *snapMsg) bool {
	select {
	case s.fetchSlots <- struct{}{}:
	default:
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.fetchSlots }()
		warm, err := s.readSnapshot(sn)
		if err != nil {
			s.log.Warn("reading a snapshot back from Kafka failed", "err", err)
		}
		s.hub.warmed(r, sn, warm)
	}()
	return true
}

// readSnapshot reads the room's snapshot record at sn's offset, or the
// first later one of the room if compaction removed it.
func (s *Server) readSnapshot(sn *snapMsg) (*snapMsg, error) {
	ctx, cancel := context.WithTimeout(s.ctx, fetchTimeout)
	defer cancel()
	var found *snapMsg
	err := kread.Read(ctx, s.cfg.KafkaOpts, kread.Range{Topic: s.cfg.Topics.Snapshots, Partition: sn.part, From: sn.off, End: -1}, nil, func(r *kgo.Record) error {
		if r.Value == nil || len(r.Key) > 0 && string(r.Key) != sn.room {
			return nil
		}
		var h snapHeader
		if json.Unmarshal(r.Value, &h) != nil || h.Room != sn.room {
			return nil
		}
		found = &snapMsg{room: h.Room, epoch: h.Epoch, seq: h.Seq, ts: h.TS, raw: bytes.Clone(r.Value), part: r.Partition, off: r.Offset, bytes: len(r.Value)}
		found.peekMod()
		return kread.Stop
	})
	if err != nil {
		return nil, fmt.Errorf("pushers: read snapshot of %s at offset %d: %w", sn.room, sn.off, err)
	}
	if found == nil {
		return nil, fmt.Errorf("pushers: no snapshot of %s at or after offset %d", sn.room, sn.off)
	}
	return found, nil
}
