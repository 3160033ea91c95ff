package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// Processor is the `ovation process` role: it consumes the events topic in
// a consumer group and, one Kafka transaction per tick, writes the frames,
// snapshots and changelog entries of every room that changed, together
// with the consumed offsets (exactly-once). Several processes share the
// partitions of one group.
//
// Ownership: Run's goroutine owns everything below except the revoked
// queue, which the client's group callbacks fill under mu.
type Processor struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	ready atomic.Bool

	mu      sync.Mutex
	revoked []int32 // partitions revoked or lost since the loop last looked
}

// New validates cfg and returns a Processor; Run starts it.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("processors: no Kafka brokers")
	}
	if cfg.TransactionalID == "" {
		host, _ := os.Hostname()
		cfg.TransactionalID = cfg.Group + "-" + host
	}
	return &Processor{cfg: cfg, log: cfg.Log, m: newMetrics(cfg.Registerer)}, nil
}

// Ready reports whether the processor is in a consumer group session.
func (p *Processor) Ready() bool { return p.ready.Load() }

// Run processes until ctx ends. A session that fails (a fenced producer, a
// transaction whose outcome is unknown) is closed and, after a pause, a
// new one starts and restores its partitions from the changelog: state in
// memory is never trusted past an error.
func (p *Processor) Run(ctx context.Context, kopts ...kgo.Opt) error {
	backoff := 500 * time.Millisecond
	for {
		err := p.session(ctx, kopts)
		p.ready.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		p.log.Error("processor session failed; starting a new one", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// part is one owned events partition.
type part struct {
	id      int32
	core    *Partition
	next    int64 // next events offset the state covers
	touched bool  // consumed from in the open transaction
	lag     int64
	batch   Batch
}

// session is one client lifetime.
type session struct {
	p      *Processor
	sess   *kgo.GroupTransactSession // nil when AtLeastOnce
	cl     *kgo.Client
	adm    *kadm.Client
	nparts int
	dlqN   int
	parts  map[int32]*part
	inTxn  bool
	hasher kgo.TopicPartitioner

	prodMu  sync.Mutex
	prodErr error
	pending []int // frames, snapshots, changelog records, bytes produced in the open txn
}

func (p *Processor) session(ctx context.Context, kopts []kgo.Opt) error {
	p.m.sessions.Inc()
	cfg := &p.cfg
	t := cfg.Topics
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(t.Events),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.ProducerLinger(0),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onRevoked),
		kgo.DisableAutoCommit(),
	}, kopts...)
	s := &session{p: p, parts: map[int32]*part{}, pending: make([]int, 4)}
	var err error
	if cfg.AtLeastOnce {
		s.cl, err = kgo.NewClient(opts...)
	} else {
		opts = append(opts, kgo.TransactionalID(cfg.TransactionalID), kgo.TransactionTimeout(cfg.TransactionTimeout))
		s.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			s.cl = s.sess.Client()
		}
	}
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer s.close()
	s.adm = kadm.NewClient(s.cl)
	if err := s.checkTopics(ctx); err != nil {
		return err
	}
	s.hasher = kgo.StickyKeyPartitioner(nil).ForTopic(t.Events)
	p.mu.Lock()
	p.revoked = nil
	p.mu.Unlock()
	p.ready.Store(true)
	p.log.Info("processor session started", "group", cfg.Group, "transactional_id", cfg.TransactionalID, "partitions", s.nparts, "tick", cfg.Tick, "at_least_once", cfg.AtLeastOnce)
	return s.loop(ctx)
}

func (p *Processor) onRevoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range m {
		p.revoked = append(p.revoked, ps...)
	}
}

func (s *session) close() {
	if s.sess != nil {
		// Close aborts an open transaction and leaves the group.
		s.sess.Close()
	} else {
		s.cl.Close()
	}
	s.p.m.partitions.Set(0)
	s.p.m.lag.Set(0)
}

// checkTopics makes sure events, frames, snapshots and changelog are
// co-partitioned: a room's partition number is the same in all of them.
func (s *session) checkTopics(ctx context.Context) error {
	t := s.p.cfg.Topics
	var details kadm.TopicDetails
	var err error
	for i := 0; ; i++ {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		details, err = s.adm.ListTopics(cctx, t.Events, t.Frames, t.Snapshots, t.Changelog, t.DLQ)
		cancel()
		if err == nil || ctx.Err() != nil || i == 5 {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	for _, name := range []string{t.Events, t.Frames, t.Snapshots, t.Changelog, t.DLQ} {
		d, ok := details[name]
		if !ok || d.Err != nil {
			return fmt.Errorf("topic %s: missing (%v); run `ovation topics create`", name, d.Err)
		}
	}
	s.nparts = len(details[t.Events].Partitions)
	for _, name := range []string{t.Frames, t.Snapshots, t.Changelog} {
		if n := len(details[name].Partitions); n != s.nparts {
			return fmt.Errorf("%w: %s has %d, %s has %d", ErrNotCopartitioned, name, n, t.Events, s.nparts)
		}
	}
	s.dlqN = len(details[t.DLQ].Partitions)
	return nil
}

func (s *session) loop(ctx context.Context) error {
	cfg := &s.p.cfg
	var deadline time.Time
	lastIdle := time.Now()
	for {
		if ctx.Err() != nil {
			if s.inTxn {
				s.abort(ctx)
			}
			return nil
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if s.inTxn {
			pctx, cancel = context.WithDeadline(ctx, deadline)
		} else {
			pctx, cancel = context.WithTimeout(ctx, time.Second)
		}
		fetches := s.pollRecords(pctx, cfg.MaxPollRecords)
		cancel()
		revoked := s.drainRevoked()
		if fetches.IsClientClosed() {
			return errors.New("client closed")
		}
		// Fetch errors are retried by the client; they are logged so an
		// operator sees a partition that does not move.
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			s.p.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		if !fetches.Empty() {
			if err := s.process(ctx, fetches, revoked, &deadline); err != nil {
				return err
			}
		}
		if s.inTxn && !time.Now().Before(deadline) {
			if err := s.end(ctx); err != nil {
				return err
			}
		}
		if !s.inTxn && time.Since(lastIdle) >= time.Second {
			lastIdle = time.Now()
			if err := s.idleFlush(ctx); err != nil {
				return err
			}
		}
	}
}

func (s *session) pollRecords(ctx context.Context, n int) kgo.Fetches {
	if s.sess != nil {
		return s.sess.PollRecords(ctx, n)
	}
	return s.cl.PollRecords(ctx, n)
}

// drainRevoked drops the state of partitions revoked since the last look
// and returns them: records of those partitions still in the poll's
// fetches are skipped (the session aborts the open transaction anyway).
func (s *session) drainRevoked() map[int32]bool {
	s.p.mu.Lock()
	rev := s.p.revoked
	s.p.revoked = nil
	s.p.mu.Unlock()
	var set map[int32]bool
	if len(rev) > 0 {
		set = make(map[int32]bool, len(rev))
	}
	for _, id := range rev {
		set[id] = true
	}
	defer func() {
		if len(rev) > 0 {
			s.updateGauges()
		}
	}()
	for _, id := range rev {
		if _, ok := s.parts[id]; ok {
			delete(s.parts, id)
			s.p.log.Info("partition revoked; state dropped", "partition", id)
		}
	}
	return set
}

// revokedSince reports whether partition id was revoked after the loop
// last drained the queue (a restore in progress gives up on it).
func (p *Processor) revokedSince(id int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.revoked {
		if r == id {
			return true
		}
	}
	return false
}

func (s *session) updateGauges() {
	var lag int64
	for _, pt := range s.parts {
		lag += pt.lag
	}
	s.p.m.lag.Set(float64(lag))
	s.p.m.partitions.Set(float64(len(s.parts)))
}

// process applies one poll's records. Partitions seen for the first time
// are restored first. A restore can happen inside the open transaction:
// ending it early is not an option, because the client already counts
// every record of this poll as consumed and End would commit their
// offsets before they are applied. A restore that took long aborts the
// transaction instead (the client rewinds to the committed offsets and the
// records come again), so a slow restore cannot run the transaction into
// its timeout over and over.
func (s *session) process(ctx context.Context, fetches kgo.Fetches, revoked map[int32]bool, deadline *time.Time) error {
	cfg := &s.p.cfg
	var err error
	var slow bool
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 || revoked[fp.Partition] {
			return
		}
		if _, ok := s.parts[fp.Partition]; !ok {
			start := time.Now()
			if err = s.restore(ctx, fp.Partition); err != nil {
				return
			}
			slow = slow || time.Since(start) > cfg.TransactionTimeout/4
		}
	})
	if err != nil {
		return err
	}
	if slow && s.inTxn {
		s.p.log.Info("restore took long; aborting the open transaction so it does not time out, its records come again")
		if err := s.abortAndDrop(ctx); err != nil {
			return err
		}
		return nil
	}
	if !s.inTxn {
		if s.sess != nil {
			if err := s.sess.Begin(); err != nil {
				return fmt.Errorf("begin transaction: %w", err)
			}
		}
		s.inTxn = true
		*deadline = time.Now().Add(cfg.Tick)
	}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 || revoked[fp.Partition] {
			return
		}
		pt := s.parts[fp.Partition]
		if pt == nil {
			return // revoked while restoring
		}
		pt.touched = true
		for _, rec := range fp.Records {
			if rec.Offset < pt.next {
				continue // already in the restored state (see restore)
			}
			if err = s.record(ctx, pt, rec); err != nil {
				return
			}
			pt.next = rec.Offset + 1
		}
		pt.lag = max(0, fp.HighWatermark-pt.next)
		s.produceBatch(ctx, pt)
	})
	s.updateGauges()
	return err
}

// record handles one events record: a control record, an invalid record
// (dead-lettered), or an event.
func (s *session) record(ctx context.Context, pt *part, rec *kgo.Record) error {
	if action, ok := controlOf(rec); ok {
		if action != ControlRebuild {
			s.deadLetter(ctx, pt, rec, ReasonBadControl, fmt.Sprintf("unknown control action %q", action))
			return nil
		}
		req, err := parseRebuild(rec)
		if err != nil {
			s.deadLetter(ctx, pt, rec, ReasonBadControl, err.Error())
			return nil
		}
		if want := s.hasher.Partition(&kgo.Record{Key: rec.Key}, s.nparts); int32(want) != rec.Partition {
			s.deadLetter(ctx, pt, rec, ReasonWrongPartition, fmt.Sprintf("room %q belongs in partition %d", req.Room, want))
			return nil
		}
		return s.rebuild(ctx, pt, rec, req)
	}
	ev, err := schemas.ParseEvent(rec.Value)
	if err != nil {
		s.deadLetter(ctx, pt, rec, ReasonInvalid, err.Error())
		return nil
	}
	if reason, detail := s.misplaced(rec, &ev); reason != "" {
		s.deadLetter(ctx, pt, rec, reason, detail)
		return nil
	}
	out, reason := pt.core.Apply(&ev, &pt.batch)
	switch out {
	case Applied:
		s.p.m.applied.Inc()
	case Ignored:
		s.p.m.ignored.WithLabelValues(string(reason)).Inc()
	case DeadLettered:
		s.deadLetter(ctx, pt, rec, reason, fmt.Sprintf("%s event %s", ev.Type, ev.ID))
	}
	return nil
}

// misplaced checks that a record sits where the room's other events do:
// keyed by its room, in the partition Kafka's default partitioner picks.
// Anything else would give a room two owners and two seq streams.
func (s *session) misplaced(rec *kgo.Record, ev *schemas.Event) (Reason, string) {
	if string(rec.Key) != ev.Room {
		return ReasonWrongKey, fmt.Sprintf("record key %q is not the event's room %q", truncate(string(rec.Key), 70), ev.Room)
	}
	if want := s.hasher.Partition(&kgo.Record{Key: rec.Key}, s.nparts); int32(want) != rec.Partition {
		return ReasonWrongPartition, fmt.Sprintf("room %q belongs in partition %d (murmur2 of the key, as Kafka's Java client and franz-go pick it; with kcat or librdkafka set partitioner=murmur2_random), not %d", ev.Room, want, rec.Partition)
	}
	return "", ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (s *session) deadLetter(ctx context.Context, pt *part, rec *kgo.Record, reason Reason, detail string) {
	s.p.m.dlq.WithLabelValues(string(reason)).Inc()
	msg := string(reason)
	if detail != "" {
		msg += ": " + detail
	}
	out := &kgo.Record{
		Topic: s.p.cfg.Topics.DLQ, Partition: rec.Partition % int32(s.dlqN),
		Key: rec.Key, Value: rec.Value,
		Headers: append(append([]kgo.RecordHeader(nil), rec.Headers...),
			kgo.RecordHeader{Key: schemas.HeaderDLQReason, Value: []byte(msg)},
			kgo.RecordHeader{Key: schemas.HeaderDLQSource, Value: []byte(rec.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "@" + strconv.FormatInt(rec.Offset, 10))}),
	}
	s.produce(ctx, out, -1)
}

// produceBatch sends what the partition's core wrote so far.
func (s *session) produceBatch(ctx context.Context, pt *part) {
	t := &s.p.cfg.Topics
	for _, r := range pt.batch.Frames {
		s.produce(ctx, &kgo.Record{Topic: t.Frames, Partition: pt.id, Key: r.Key, Value: r.Value}, 0)
	}
	for _, r := range pt.batch.Snapshots {
		s.produce(ctx, &kgo.Record{Topic: t.Snapshots, Partition: pt.id, Key: r.Key, Value: r.Value}, 1)
	}
	for _, r := range pt.batch.Changelog {
		s.produce(ctx, &kgo.Record{Topic: t.Changelog, Partition: pt.id, Key: r.Key, Value: r.Value}, 2)
	}
	pt.batch.Reset()
}

func (s *session) produce(ctx context.Context, r *kgo.Record, kind int) {
	if kind >= 0 {
		s.pending[kind]++
		if kind == 2 {
			s.pending[3] += len(r.Value)
		}
	}
	s.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
		if err != nil {
			s.prodMu.Lock()
			if s.prodErr == nil {
				s.prodErr = err
			}
			s.prodMu.Unlock()
		}
	})
}

// end flushes every touched partition and ends the transaction. On commit
// the in-memory state becomes the committed state; otherwise the touched
// partitions are dropped and restored from the changelog when their
// records come again (the client rewinds to the committed offsets).
func (s *session) end(ctx context.Context) error {
	now := time.Now().UnixMilli()
	for _, pt := range s.parts {
		pt.core.Flush(now, &pt.batch)
		if !pt.touched && pt.batch.Len() == 0 {
			continue
		}
		pt.touched = true
		pt.batch.Changelog = append(pt.batch.Changelog, OffsetRecord(pt.next))
		s.produceBatch(ctx, pt)
	}
	start := time.Now()
	committed, err := s.commit(ctx)
	s.p.m.commitSecs.Observe(time.Since(start).Seconds())
	s.inTxn = false
	if err != nil {
		return err
	}
	if committed {
		s.p.m.txns.WithLabelValues("commit").Inc()
		s.p.m.frames.Add(float64(s.pending[0]))
		s.p.m.snapshots.Add(float64(s.pending[1]))
		s.p.m.changelog.Add(float64(s.pending[2]))
		s.p.m.changeBytes.Add(float64(s.pending[3]))
		for _, pt := range s.parts {
			pt.touched = false
		}
	} else {
		s.p.m.txns.WithLabelValues("abort").Inc()
		s.dropTouched("transaction aborted")
	}
	clear(s.pending)
	return nil
}

func (s *session) dropTouched(why string) {
	for id, pt := range s.parts {
		if pt.touched {
			delete(s.parts, id)
			s.p.log.Info("partition state dropped; it is restored from the changelog before its next events", "partition", id, "why", why)
		}
	}
	s.updateGauges()
}

func (s *session) commit(ctx context.Context) (bool, error) {
	s.prodMu.Lock()
	perr := s.prodErr
	s.prodErr = nil
	s.prodMu.Unlock()
	if s.sess == nil {
		if err := s.cl.Flush(ctx); err != nil {
			return false, err
		}
		s.prodMu.Lock()
		perr, s.prodErr = s.prodErr, nil
		s.prodMu.Unlock()
		if perr != nil {
			return false, fmt.Errorf("%w: %v", ErrProduce, perr)
		}
		return true, s.cl.CommitUncommittedOffsets(ctx)
	}
	// End flushes before it commits; a record that failed in the flush
	// shows up in prodErr only afterwards, so flush first ourselves.
	if perr == nil {
		if err := s.cl.Flush(ctx); err != nil {
			return false, err
		}
		s.prodMu.Lock()
		perr, s.prodErr = s.prodErr, nil
		s.prodMu.Unlock()
	}
	try := kgo.TryCommit
	if perr != nil {
		s.p.log.Warn("a record of the transaction failed to produce; aborting it", "err", perr)
		try = kgo.TryAbort
	}
	committed, err := s.sess.End(ctx, try)
	if err != nil {
		return false, fmt.Errorf("end transaction: %w", err)
	}
	return committed, nil
}

// abortAndDrop aborts the open transaction and drops the state of the
// partitions it touched.
func (s *session) abortAndDrop(ctx context.Context) error {
	clear(s.pending)
	if s.sess != nil {
		if _, err := s.sess.End(ctx, kgo.TryAbort); err != nil {
			return fmt.Errorf("abort transaction: %w", err)
		}
	}
	s.inTxn = false
	s.p.m.txns.WithLabelValues("abort").Inc()
	s.dropTouched("transaction aborted")
	return nil
}

func (s *session) abort(ctx context.Context) {
	if s.sess != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		s.sess.End(actx, kgo.TryAbort)
		cancel()
	}
	s.inTxn = false
}

// idleFlush writes the rooms whose viewers changed because a pusher
// stopped reporting, when no events arrive to carry them.
func (s *session) idleFlush(ctx context.Context) error {
	now := time.Now().UnixMilli()
	ttl := s.p.cfg.PresenceTTL.Milliseconds()
	any := false
	for _, pt := range s.parts {
		for _, r := range pt.core.rooms {
			for _, rep := range r.nodes {
				if now-rep.TS > ttl {
					any = true
				}
			}
		}
	}
	if !any {
		return nil
	}
	if s.sess != nil {
		if err := s.sess.Begin(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	s.inTxn = true
	return s.end(ctx)
}
