package processors

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kread"
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
		err := s.readPartition(rctx, kread.Range{Topic: cfg.Topics.Changelog, Partition: id, From: -1, End: -1}, "restore", func(rec *kgo.Record) error {
			return rs.Add(rec.Key, rec.Value, rec.Offset)
		})
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
		pt := &part{id: id, core: core, next: next, jobs: map[string]*readJob{}}
		s.parts[id] = pt
		s.p.log.Info("partition restored", "partition", id, "rooms", core.Rooms(), "evicted_rooms", core.EvictedRooms(), "records", n, "bytes", b, "next_offset", next, "took", took.Round(time.Millisecond))
		for room, req := range core.RebuildJobs() {
			s.startRead(ctx, pt, room, req, core.RebuildAt(room))
		}
		s.updateGauges()
		return nil
	}
}

// readPartition reads a partition range with the session's brokers,
// logging progress every few seconds.
func (s *session) readPartition(ctx context.Context, r kread.Range, what string, fn func(*kgo.Record) error) error {
	progress := func(done, total int64) {
		s.p.log.Info(what+" progress", "topic", r.Topic, "partition", r.Partition, "done", done, "of", total)
	}
	if err := kread.Read(ctx, []kgo.Opt{kgo.SeedBrokers(s.p.cfg.Brokers...)}, r, progress, fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// readJob is the read of one room's history for a rebuild, running in
// its own goroutine outside any transaction. The loop owns the job; the
// goroutine only fills events and err and then closes done.
type readJob struct {
	room   string
	cancel context.CancelFunc
	done   chan struct{}
	fold   *fold // the history folded as it is read: never all in memory
	read   int
	err    error
	start  time.Time
}

// rebuild acts on a RebuildRequest at rec: the room stops applying
// events (they are stashed) and its history is read in the background;
// finishRebuilds completes it in a later transaction.
func (s *session) rebuild(ctx context.Context, pt *part, rec *kgo.Record, req RebuildRequest) error {
	if pt.core.Rebuilding(req.Room) {
		s.deadLetter(ctx, pt, rec, ReasonBadControl, fmt.Sprintf("a rebuild of room %s is already under way", req.Room))
		return nil
	}
	if _, _, ok := pt.core.EvictedRange(req.Room); ok {
		if err := s.load(ctx, pt, req.Room); err != nil {
			return err
		}
	}
	epoch := req.Epoch
	if epoch == "" {
		epoch = s.p.cfg.NewEpoch()
	}
	pt.core.StartRebuild(req.Room, req, rec.Offset, epoch, &pt.batch)
	s.startRead(ctx, pt, req.Room, req, rec.Offset)
	s.p.log.Info("room rebuild started; its events wait until the history is read", "room", req.Room, "epoch", epoch, "from_offset", req.FromOffset, "to_offset", rec.Offset)
	return nil
}

// startRead starts reading room's events [req.FromOffset, to) of the
// partition in a goroutine.
func (s *session) startRead(ctx context.Context, pt *part, room string, req RebuildRequest, to int64) {
	if j := pt.jobs[room]; j != nil {
		j.cancel()
		<-j.done
	}
	jctx, cancel := context.WithTimeout(ctx, s.p.cfg.RestoreTimeout)
	j := &readJob{room: room, cancel: cancel, done: make(chan struct{}), start: time.Now(),
		fold: newFold(&s.p.cfg, room, pt.core.RebuildEpoch(room))}
	pt.jobs[room] = j
	topic := s.p.cfg.Topics.Events
	go func() {
		defer close(j.done)
		if d := s.p.cfg.testReadDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-jctx.Done():
			}
		}
		j.err = s.readPartition(jctx, kread.Range{Topic: topic, Partition: pt.id, From: req.FromOffset, End: to}, "rebuild", func(r *kgo.Record) error {
			if action, ok := controlOf(r); ok {
				if action == schemas.ControlDeployment {
					// The table as of each event: the copy applies to
					// the events after it (deployment.go).
					if ev, err := schemas.ParseDeploymentCopy(r.Value, ""); err == nil {
						j.fold.addCopy(&ev)
					}
				}
				return nil
			}
			if string(r.Key) != room {
				return nil
			}
			ev, _, err := s.p.cfg.Custom.ParseRecord(r)
			if err != nil || ev.Room != room {
				return nil // dead-lettered when it was live
			}
			if p, _ := schemas.Place(r, room, s.nparts); p != schemas.Placed {
				return nil // rerouted when it was live: its copy counts
			}
			j.read++
			j.fold.add(&ev)
			return nil
		})
	}()
}

// finishRebuilds completes the rebuilds whose reads are done, in the open
// transaction: the new epoch, then the events stashed meanwhile. A read
// that failed starts again.
func (s *session) finishRebuilds(ctx context.Context) error {
	for _, pt := range s.parts {
		for room, j := range pt.jobs {
			select {
			case <-j.done:
			default:
				continue
			}
			delete(pt.jobs, room)
			j.cancel()
			if !pt.core.Rebuilding(room) {
				continue
			}
			if j.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.p.log.Warn("reading a room's history for its rebuild failed; reading again", "room", room, "err", j.err)
				req := pt.core.RebuildJobs()[room]
				s.startRead(ctx, pt, room, req, pt.core.RebuildAt(room))
				continue
			}
			pt.touched = true
			n, stash := pt.core.FinishRebuild(room, j.fold, &pt.batch)
			// The stashed events are judged by the deployment table as
			// of each (deployment.go): the fold's, at the request, with
			// the copies stashed among them applied in order. It ends
			// equal to the partition's own.
			live := pt.core.dep
			pt.core.dep = j.fold.dep
			for _, st := range stash {
				if len(st.Value) > 0 && st.Value[0] == stashedCopy {
					if ev, err := schemas.ParseDeploymentCopy(st.Value[1:], ""); err == nil {
						pt.core.dep.apply(&ev, s.p.cfg.MaxRecordBytes)
					}
					continue
				}
				rec := &kgo.Record{Topic: s.p.cfg.Topics.Events, Partition: pt.id, Offset: st.Offset, Key: []byte(room), Value: st.Value}
				if err := s.record(ctx, pt, rec); err != nil {
					pt.core.dep = live
					return err
				}
			}
			pt.core.dep = live
			s.produceBatch(ctx, pt)
			s.p.m.rebuilds.Inc()
			s.p.log.Info("room rebuilt into a new epoch", "room", room, "events_read", j.read, "events_applied", n, "events_waited", len(stash), "took", time.Since(j.start).Round(time.Millisecond))
		}
	}
	return nil
}

// pendingReads reports whether a rebuild read has finished and waits to
// be folded in.
func (s *session) pendingReads() bool {
	for _, pt := range s.parts {
		for _, j := range pt.jobs {
			select {
			case <-j.done:
				return true
			default:
			}
		}
	}
	return false
}
