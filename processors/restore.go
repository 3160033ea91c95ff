package processors

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// restore loads partition id's state from the changelog, read to its last
// stable offset. The changelog's offset record R (written in every
// transaction) is checked against the group's committed offset C, which
// the consumer fetched with RequireStableFetchOffsets:
//
//   - R == C: the usual case.
//   - R < C: the changelog has not caught up with a transaction that
//     committed (its markers may still be on their way): read again until
//     it has, or fail after Config.RestoreTimeout.
//   - R > C: the group's offsets were reset or expired; the state already
//     holds the events before R, so records before R are skipped rather
//     than counted twice.
//   - no R but a C: the changelog was lost; the rooms start empty under
//     new epochs (pushers reset their subscribers).
func (s *session) restore(ctx context.Context, id int32) error {
	cfg := &s.p.cfg
	start := time.Now()
	c := int64(-1)
	if eo, ok := s.cl.CommittedOffsets()[cfg.Topics.Events][id]; ok {
		c = eo.Offset
	}
	s.p.log.Info("restoring partition from the changelog", "partition", id, "committed_offset", c)
	rctx, cancel := context.WithTimeout(ctx, cfg.RestoreTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		rs := NewRestorer(cfg)
		err := s.readPartition(rctx, cfg.Topics.Changelog, id, -1, -1, func(rec *kgo.Record) error {
			return rs.Add(rec.Key, rec.Value)
		}, "restore")
		if err != nil {
			return &RestoreError{Partition: id, Err: err}
		}
		r := rs.Offset()
		next := r
		switch {
		case r == -1 && c >= 0:
			s.p.log.Warn("changelog has no state for a partition the group has consumed; its rooms start over under new epochs", "partition", id, "committed_offset", c)
			next = c
		case r < c:
			if s.p.revokedSince(id) {
				s.p.log.Info("partition revoked while restoring; giving it up", "partition", id)
				return nil
			}
			if rctx.Err() != nil {
				return &RestoreError{Partition: id, Err: fmt.Errorf("%w: changelog at %d, committed %d", ErrRestoreBehind, r, c)}
			}
			s.p.log.Info("changelog behind the committed offset; reading it again", "partition", id, "changelog_offset", r, "committed_offset", c, "attempt", attempt)
			select {
			case <-rctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		case r > c && c >= 0:
			s.p.log.Warn("group offset is behind the changelog; skipping events already in the state", "partition", id, "changelog_offset", r, "committed_offset", c)
		}
		core, err := rs.Partition()
		if err != nil {
			return &RestoreError{Partition: id, Err: err}
		}
		n, b := rs.Stats()
		took := time.Since(start)
		s.p.m.restoreSecs.Observe(took.Seconds())
		s.p.m.restoreRecs.Add(float64(n))
		s.parts[id] = &part{id: id, core: core, next: next}
		s.p.log.Info("partition restored", "partition", id, "rooms", core.Rooms(), "records", n, "bytes", b, "next_offset", next, "took", took.Round(time.Millisecond))
		s.updateGauges()
		return nil
	}
}

// readPartition reads topic/partition read_committed from offset from
// (-1: the log start) to end (exclusive; -1: the last stable offset at
// the start of the read) and calls fn for every data record. Control
// markers are kept by the client so the read knows when it has passed the
// last committed transaction even when the last data record was aborted.
// Progress is logged every few seconds.
func (s *session) readPartition(ctx context.Context, topic string, p int32, from, end int64, fn func(*kgo.Record) error, what string) error {
	if end < 0 {
		lso, err := s.adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return fmt.Errorf("list stable offsets of %s: %w", topic, err)
		}
		o, ok := lso.Lookup(topic, p)
		if !ok || o.Err != nil {
			return fmt.Errorf("list stable offset of %s/%d: %v", topic, p, o.Err)
		}
		end = o.Offset
	}
	starts, err := s.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	so, _ := starts.Lookup(topic, p)
	if from < so.Offset {
		from = so.Offset
	}
	if from >= end {
		return nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(s.p.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64<<20),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	total := end - from
	lastLog := time.Now()
	pos := from
	for pos < end {
		if ctx.Err() != nil {
			return fmt.Errorf("%s of %s/%d stopped at %d of %d: %w", what, topic, p, pos, end, ctx.Err())
		}
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return fmt.Errorf("%s: fetch %s/%d: %w", what, topic, p, ferr)
		}
		for it := fs.RecordIter(); !it.Done(); {
			rec := it.Next()
			if rec.Offset >= end {
				pos = end
				break
			}
			pos = rec.Offset + 1
			if rec.Attrs.IsControl() {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if time.Since(lastLog) > 3*time.Second {
			lastLog = time.Now()
			s.p.log.Info(what+" progress", "topic", topic, "partition", p, "done", pos-from, "of", total)
		}
	}
	return nil
}

// rebuild acts on a RebuildRequest: it folds the room's events from the
// request's FromOffset up to the request itself into a new epoch.
func (s *session) rebuild(ctx context.Context, pt *part, rec *kgo.Record, req RebuildRequest) error {
	start := time.Now()
	epoch := req.Epoch
	if epoch == "" {
		epoch = s.p.cfg.NewEpoch()
	}
	var events []*schemas.Event
	err := s.readPartition(ctx, rec.Topic, rec.Partition, req.FromOffset, rec.Offset, func(r *kgo.Record) error {
		if string(r.Key) != req.Room {
			return nil
		}
		if _, ok := controlOf(r); ok {
			return nil
		}
		ev, err := schemas.ParseEvent(r.Value)
		if err != nil || ev.Room != req.Room {
			return nil // dead-lettered when it was live
		}
		events = append(events, &ev)
		return nil
	}, "rebuild")
	if err != nil {
		return fmt.Errorf("rebuild room %s: %w", req.Room, err)
	}
	var hist iter.Seq[*schemas.Event] = func(yield func(*schemas.Event) bool) {
		for _, ev := range events {
			if !yield(ev) {
				return
			}
		}
	}
	n := pt.core.Rebuild(req.Room, epoch, hist, &pt.batch)
	s.p.m.rebuilds.Inc()
	s.p.log.Info("room rebuilt into a new epoch", "room", req.Room, "epoch", epoch, "events_read", len(events), "events_applied", n, "from_offset", req.FromOffset, "to_offset", rec.Offset, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
