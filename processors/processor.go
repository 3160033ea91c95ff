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
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ovation-live/ovation/internal/kread"
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

	mu        sync.Mutex
	revoked   []int32                       // partitions revoked or lost since the loop last looked
	assigned  map[int32]bool                // partitions assigned since the loop last looked, and not revoked since
	standings map[string]publishedStandings // quiz rankings by room (standings.go)
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
			if !p.cfg.AtLeastOnce {
				p.leave()
			}
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
	behind  bool // records the last fetch left readable (a backlog): see endAt
	batch   Batch
	jobs    map[string]*readJob // rebuild reads under way, by room
}

// drop stops what the partition has running and waits for it: a read
// honours its context at once, so this is short.
func (pt *part) drop() {
	for _, j := range pt.jobs {
		j.cancel()
	}
	for _, j := range pt.jobs {
		<-j.done
	}
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
	// toRestore: assigned partitions not restored yet (restoreAssigned).
	toRestore   map[int32]bool
	restoreLook time.Time // when restoreAssigned last ran
	inTxn       bool
	lastIn      time.Time // when the open transaction last took records (endAt)
	lastCommit  time.Time // when the last commit began (Config.TxnInterval)
	hasher      kgo.TopicPartitioner

	led       ledger
	lastSweep time.Time
	// quarantine: per partition, rooms whose events up to an offset are
	// dead-lettered because a record made from them was too large.
	quarantine map[int32]map[string]int64

	prodMu   sync.Mutex // guards what produce callbacks write
	prodErr  error
	oversize []roomAt // records refused as too large in the open txn
	// limitChanged: the broker refused a record as too large.
	limitChanged bool
	evictAt      []roomAt // offsets of evicted rooms' core records
}

// roomAt names a room of a partition and an offset.
type roomAt struct {
	partition int32
	room      string
	offset    int64
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
		kgo.OnPartitionsAssigned(p.onAssigned),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onRevoked),
		kgo.DisableAutoCommit(),
	}, kopts...)
	p.mu.Lock()
	p.assigned = nil // the new client's group callbacks fill it
	p.mu.Unlock()
	s := &session{p: p, parts: map[int32]*part{}, toRestore: map[int32]bool{}, quarantine: map[int32]map[string]int64{}, lastSweep: time.Now()}
	// The topics decide how large a record may be, and the producer's
	// batches must not be larger: check them before the client exists.
	if err := s.checkTopics(ctx); err != nil {
		return err
	}
	opts = append(opts, kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes+schemas.RecordOverheadBytes-64)))
	if cfg.FetchWait > 0 {
		// The broker collects a trickle's events into one fetch instead
		// of answering each with a fetch of its own (Config.FetchWait).
		opts = append([]kgo.Opt{kgo.FetchMaxWait(cfg.FetchWait), kgo.FetchMinBytes(FetchMinBytes)}, opts...)
	}
	var err error
	if cfg.AtLeastOnce {
		s.cl, err = kgo.NewClient(opts...)
	} else {
		// A restarted replica first fences what its SIGKILLed
		// predecessor left open (fence.go), then takes its place in
		// the group as the same static member.
		if _, err := p.fence(ctx); err != nil {
			return err
		}
		opts = append(opts, kgo.TransactionalID(cfg.TransactionalID), kgo.TransactionTimeout(cfg.TransactionTimeout),
			kgo.InstanceID(cfg.TransactionalID))
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
	s.hasher = kgo.StickyKeyPartitioner(nil).ForTopic(t.Events)
	p.mu.Lock()
	p.revoked = nil
	p.mu.Unlock()
	p.ready.Store(true)
	p.log.Info("processor session started", "group", cfg.Group, "transactional_id", cfg.TransactionalID, "partitions", s.nparts, "tick", cfg.Tick, "linger", cfg.Linger, "txn_interval", cfg.TxnInterval, "fetch_wait", cfg.FetchWait, "snapshot_every", cfg.SnapshotEvery, "snapshot_interval", cfg.SnapshotInterval, "max_record_bytes", cfg.MaxRecordBytes, "at_least_once", cfg.AtLeastOnce)
	return s.loop(ctx)
}

// onAssigned notes the partitions assigned: the loop restores them
// without waiting for their next record (restoreAssigned).
func (p *Processor) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range m {
		for _, id := range ps {
			mk(&p.assigned)[id] = true
		}
	}
}

func (p *Processor) onRevoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range m {
		for _, id := range ps {
			delete(p.assigned, id)
		}
		p.revoked = append(p.revoked, ps...)
		p.withdrawStandings(ps)
	}
}

func (s *session) close() {
	s.p.mu.Lock()
	s.p.withdrawStandings(nil)
	s.p.mu.Unlock()
	for _, pt := range s.parts {
		pt.drop()
	}
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
// co-partitioned (a room's partition number is the same in all of them)
// and derives Config.MaxRecordBytes from the max.message.bytes of the
// topics the processor writes.
func (s *session) checkTopics(ctx context.Context) error {
	cfg := &s.p.cfg
	t := cfg.Topics
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	names := []string{t.Events, t.Frames, t.Snapshots, t.Changelog, t.DLQ}
	var details kadm.TopicDetails
	var cfgs kadm.ResourceConfigs
	for i := 0; ; i++ {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		details, err = adm.ListTopics(cctx, names...)
		if err == nil {
			cfgs, err = adm.DescribeTopicConfigs(cctx, names[1:]...)
		}
		cancel()
		if err == nil || ctx.Err() != nil || i == 5 {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	for _, name := range names {
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
	limit, smallest := 0, ""
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if v, err := strconv.Atoi(*c.Value); err == nil && (limit == 0 || v < limit) {
				limit, smallest = v, rc.Name
			}
		}
	}
	if limit == 0 {
		limit = DefaultKafkaMaxMessageBytes
	}
	cfg.MaxRecordBytes = max(limit-schemas.RecordOverheadBytes, 64<<10)
	if worst := WorstCaseStateBytes(cfg); worst > cfg.MaxRecordBytes {
		s.p.log.Warn("a topic's max.message.bytes is below a room's worst-case state: rooms that reach it dead-letter events (reason too_large); run `ovation topics create` to raise it",
			"topic", smallest, "max_message_bytes", limit, "worst_case_state_bytes", worst, "want", schemas.TopicMaxMessageBytes)
	}
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
			// The open transaction waits for more records only while
			// they keep coming (linger) and never past its tick.
			pctx, cancel = context.WithDeadline(ctx, s.endAt(deadline))
		} else {
			pctx, cancel = context.WithTimeout(ctx, s.idleWait())
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
			s.lastIn = time.Now()
		}
		if s.pendingReads() {
			if err := s.begin(&deadline, time.Now()); err != nil {
				return err
			}
			if err := s.finishRebuilds(ctx); err != nil {
				return err
			}
		}
		if s.inTxn && !time.Now().Before(s.endAt(deadline)) {
			if err := s.end(ctx); err != nil {
				return err
			}
		}
		if !s.inTxn && len(s.toRestore) > 0 && time.Since(s.restoreLook) >= 100*time.Millisecond {
			// (At most ten looks a second: a partition never committed
			// stays in toRestore until its first record.)
			s.restoreLook = time.Now()
			if err := s.restoreAssigned(ctx); err != nil {
				return err
			}
		}
		if !s.inTxn && (time.Since(lastIdle) >= time.Second || s.timerDue()) {
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
// It also takes the partitions assigned since (restoreAssigned).
func (s *session) drainRevoked() map[int32]bool {
	s.p.mu.Lock()
	rev := s.p.revoked
	s.p.revoked = nil
	// A partition revoked and assigned again since the last look is in
	// both; one assigned and then revoked only in rev (a revoke deletes
	// it from assigned).
	again := s.p.assigned
	s.p.assigned = nil
	s.p.mu.Unlock()
	for _, id := range rev {
		if !again[id] {
			delete(s.toRestore, id)
		}
	}
	for id := range again {
		s.toRestore[id] = true
	}
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
		if pt, ok := s.parts[id]; ok {
			pt.drop()
			delete(s.parts, id)
			s.p.log.Info("partition revoked; state dropped", "partition", id)
		}
	}
	return set
}

// restoreAssigned restores the assigned partitions that no record has
// brought in yet, once the group's committed offset of each is known (a
// partition never committed has no state): their rooms' timers fire and
// lagging snapshots catch up (Config.SnapshotInterval) even when no event
// comes, after a crash of their previous owner too. It runs between
// transactions.
func (s *session) restoreAssigned(ctx context.Context) error {
	committed := s.cl.CommittedOffsets()[s.p.cfg.Topics.Events]
	for id := range s.toRestore {
		if _, ok := s.parts[id]; ok {
			delete(s.toRestore, id)
			continue
		}
		if _, ok := committed[id]; !ok {
			continue
		}
		if err := s.restore(ctx, id); err != nil {
			return err
		}
		delete(s.toRestore, id)
	}
	return nil
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
	var rooms, evicted int
	for _, pt := range s.parts {
		rooms += pt.core.Rooms()
		evicted += pt.core.EvictedRooms()
	}
	s.p.m.rooms.Set(float64(rooms))
	s.p.m.evicted.Set(float64(evicted))
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
	if err := s.begin(deadline, s.fetchStart(fetches, revoked)); err != nil {
		return err
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
		pt.core.HotAfter = time.Now().Add(-cfg.Tick).UnixMilli()
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
		readable := fp.LastStableOffset // read_committed reads up to it
		if readable <= 0 {
			readable = fp.HighWatermark
		}
		// One offset past next may be a transaction's commit marker
		// (timer closes and rerouted copies are written transactionally).
		pt.behind = readable > pt.next+1
		s.produceBatch(ctx, pt)
	})
	s.updateGauges()
	return err
}

// endAt is when the open transaction ends: Config.Linger after the last
// poll that brought records (an idle partition's event is committed at
// once, not a tick later), and at the latest its deadline, a tick after
// it began. Under load a transaction grows to a tick's records: while a
// partition it read from has more records readable (a backlog: the next
// fetch is on its way), it does not end at the linger; nor while it holds
// an event of a hot room (one that had a frame within the last tick,
// Partition.Hot): a room taking events faster than one per tick gets a
// frame per tick, as before the linger, not one per linger (a hot room's
// 2,000 viewers would otherwise get five times the socket writes). With
// a linger at least the tick, every transaction lasts a tick. Nor does it
// end sooner than Config.TxnInterval after the previous commit began: a
// steady trickle of events into quiet rooms shares transactions. With
// Config.FetchWait the broker held the fetch to collect its events, so
// there is no linger: the transaction ends once they are applied.
func (s *session) endAt(deadline time.Time) time.Time {
	hot := false
	for _, pt := range s.parts {
		if pt.touched && pt.behind {
			return deadline
		}
		hot = hot || pt.touched && pt.core.Hot
	}
	if hot {
		// With the fetch wait, the fetch sent when the last records were
		// taken comes back about FetchWait later: when that is past the
		// tick, its events belong to the next transaction whatever this
		// one waits for, so it ends now rather than idle to the tick.
		if fw := s.p.cfg.FetchWait; fw > 0 && s.lastIn.Add(fw).After(deadline) {
			return s.lastIn
		}
		return deadline
	}
	linger := s.p.cfg.Linger
	if s.p.cfg.FetchWait > 0 {
		linger = 0
	}
	l := s.lastIn.Add(linger)
	if iv := s.p.cfg.TxnInterval; iv > 0 {
		if e := s.lastCommit.Add(iv); e.After(l) {
			l = e
		}
	}
	if l.Before(deadline) {
		return l
	}
	return deadline
}

// begin opens a transaction unless one is open; it ends at *deadline, a
// tick after start.
func (s *session) begin(deadline *time.Time, start time.Time) error {
	if s.inTxn {
		return nil
	}
	if s.sess != nil {
		if err := s.sess.Begin(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	s.inTxn = true
	s.lastIn = time.Now()
	*deadline = start.Add(s.p.cfg.Tick)
	return nil
}

// fetchStart is when a transaction that begins with fetches began
// collecting them: now, or with Config.FetchWait the timestamp of the
// earliest record they bring, but no earlier than FetchWait ago (the
// broker held the fetch that long at most; a producer's clock may be
// off). A hot room's transaction runs to the tick, and its tick counts
// from there: otherwise its events would wait the fetch's time on top of
// a whole tick (one frame per ~60 ms instead of per 50 ms, and its p99
// that much later).
func (s *session) fetchStart(fetches kgo.Fetches, revoked map[int32]bool) time.Time {
	now := time.Now()
	if s.p.cfg.FetchWait <= 0 || s.inTxn {
		return now
	}
	start, floor := now, now.Add(-s.p.cfg.FetchWait)
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 || revoked[fp.Partition] {
			return
		}
		if ts := fp.Records[0].Timestamp; ts.Before(start) {
			start = ts
		}
	})
	if start.Before(floor) {
		return floor
	}
	return start
}

// record handles one events record: a control record, an invalid record
// (dead-lettered), or an event.
func (s *session) record(ctx context.Context, pt *part, rec *kgo.Record) error {
	if action, ok := controlOf(rec); ok {
		if action == schemas.ControlVerdicts {
			return nil // written by a processor for analytics (verdicts.go)
		}
		if action == schemas.ControlDeployment {
			s.deployment(ctx, pt, rec)
			return nil
		}
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
	ev, filled, err := s.p.cfg.Custom.ParseRecord(rec)
	if err != nil {
		s.deadLetter(ctx, pt, rec, ReasonInvalid, err.Error())
		return nil
	}
	switch place, detail := schemas.Place(rec, ev.Room, s.nparts); place {
	case schemas.Reroute:
		s.reroute(ctx, pt, rec, &ev, filled)
		return nil
	case schemas.MisplacedAgain:
		reason := ReasonWrongPartition
		if string(rec.Key) != ev.Room {
			reason = ReasonWrongKey
		}
		s.deadLetter(ctx, pt, rec, reason, detail)
		return nil
	}
	value := rec.Value
	if filled {
		// The stash and rebuild reads keep the value alone: keep the
		// id and ts it was given here.
		if value, err = ev.Marshal(); err != nil {
			return err
		}
	}
	if pt.core.Rebuilding(ev.Room) {
		pt.core.Stash(ev.Room, rec.Offset, value, &pt.batch)
		return nil
	}
	if upto, ok := s.quarantine[pt.id][ev.Room]; ok && rec.Offset <= upto {
		s.deadLetter(ctx, pt, rec, ReasonTooLarge, fmt.Sprintf("%s event %s: a record made from room %s's events of one transaction passed %d bytes", ev.Type, ev.ID, ev.Room, s.p.cfg.MaxRecordBytes))
		return nil
	}
	out, reason := pt.core.Apply(&ev, &pt.batch)
	if out == NeedsLoad {
		if err := s.load(ctx, pt, ev.Room); err != nil {
			return err
		}
		out, reason = pt.core.Apply(&ev, &pt.batch)
	}
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

// reroute copies an event its producer put in another partition (or
// under another key) into its room's partition, keyed by the room and
// marked with schemas.HeaderRerouted, in the open transaction: the copy
// is committed exactly when the source offset is, so it is counted once,
// by whoever owns the room, when it is read there. Copies keep the order
// they are read in, so a source partition's order per room is kept.
func (s *session) reroute(ctx context.Context, pt *part, rec *kgo.Record, ev *schemas.Event, filled bool) {
	if upto, ok := s.quarantine[pt.id][ev.Room]; ok && rec.Offset <= upto {
		s.deadLetter(ctx, pt, rec, ReasonTooLarge, fmt.Sprintf("%s event %s: its rerouted copy passed %d bytes", ev.Type, ev.ID, s.p.cfg.MaxRecordBytes))
		return
	}
	value := rec.Value
	if filled {
		// The copy carries the id and ts derived from the source, so it
		// means the same wherever it is read.
		b, err := ev.Marshal()
		if err != nil {
			s.deadLetter(ctx, pt, rec, ReasonInvalid, err.Error())
			return
		}
		value = b
	}
	out := &kgo.Record{
		Topic: rec.Topic, Partition: schemas.RoomPartition(ev.Room, s.nparts),
		Key: []byte(ev.Room), Value: value, Timestamp: rec.Timestamp,
		Headers: append(append([]kgo.RecordHeader(nil), rec.Headers...),
			kgo.RecordHeader{Key: schemas.HeaderRerouted, Value: []byte(schemas.RecordSource(rec))}),
	}
	// The copy is measured like every record (produce): one too large
	// aborts the transaction and its room's events here are then
	// dead-lettered (quarantine), so no input stalls the partition.
	s.produce(ctx, pt.id, kindReroute, out)
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
		msg += ": " + truncate(detail, 1024)
	}
	out := &kgo.Record{
		Topic: s.p.cfg.Topics.DLQ, Partition: rec.Partition % int32(s.dlqN),
		Key: rec.Key, Value: rec.Value,
		Headers: append(append([]kgo.RecordHeader(nil), rec.Headers...),
			kgo.RecordHeader{Key: schemas.HeaderDLQReason, Value: []byte(msg)},
			kgo.RecordHeader{Key: schemas.HeaderDLQSource, Value: []byte(rec.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "@" + strconv.FormatInt(rec.Offset, 10))}),
	}
	if recordBytes(out) > s.p.cfg.MaxRecordBytes {
		// The source says where the original is; the copy goes without
		// its value rather than not at all.
		out.Value = nil
		out.Headers = out.Headers[len(out.Headers)-2:]
		out.Headers[0].Value = append(out.Headers[0].Value, []byte(" (value and headers left out: too large for the dead-letter topic)")...)
	}
	s.produce(ctx, pt.id, kindDLQ, out)
}

// produceBatch sends what the partition's core wrote so far.
func (s *session) produceBatch(ctx context.Context, pt *part) {
	t := &s.p.cfg.Topics
	for _, r := range pt.batch.Frames {
		s.produce(ctx, pt.id, kindFrame, &kgo.Record{Topic: t.Frames, Partition: pt.id, Key: r.Key, Value: r.Value})
	}
	for _, r := range pt.batch.Snapshots {
		s.produce(ctx, pt.id, kindSnapshot, &kgo.Record{Topic: t.Snapshots, Partition: pt.id, Key: r.Key, Value: r.Value})
	}
	for _, r := range pt.batch.Changelog {
		s.produce(ctx, pt.id, kindChangelog, &kgo.Record{Topic: t.Changelog, Partition: pt.id, Key: r.Key, Value: r.Value})
	}
	for _, r := range pt.batch.Events {
		// Timer closes go to the room's own events partition (the topics
		// are co-partitioned), to be folded when read back.
		s.produce(ctx, pt.id, kindTimer, &kgo.Record{Topic: t.Events, Partition: pt.id, Key: r.Key, Value: r.Value})
	}
	for _, r := range verdictRecords(t.Events, pt.id, pt.batch.Verdicts) {
		s.produce(ctx, pt.id, kindVerdict, r)
	}
	for _, r := range copyRecords(t.Events, s.p.cfg.DeploymentRoom, s.nparts, pt.batch.Copies) {
		s.produce(ctx, pt.id, kindCopy, r)
	}
	pt.batch.Reset()
}

// recordBytes is what a record's key, value and headers take.
func recordBytes(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// produce measures r and sends it in the open transaction. A record over
// Config.MaxRecordBytes is not sent: the transaction is aborted and the
// events of its room in it are dead-lettered when they come again (see
// end), so no input can make a partition abort forever. The same happens
// when the broker refuses a record as too large.
func (s *session) produce(ctx context.Context, partition int32, kind recKind, r *kgo.Record) {
	limit := s.p.cfg.MaxRecordBytes
	if s.p.cfg.testProduceLimit > 0 {
		limit = s.p.cfg.testProduceLimit
	}
	if n := recordBytes(r); n > limit && kind != kindDLQ {
		s.p.m.tooLarge.WithLabelValues(kind.String()).Inc()
		s.p.log.Error("record too large; aborting the transaction and dead-lettering the events of its room", "kind", kind.String(), "bytes", n, "limit", limit, "room", truncate(roomOfKey(kind, r.Key), 70), "partition", partition)
		s.prodMu.Lock()
		s.oversize = append(s.oversize, roomAt{partition: partition, room: roomOfKey(kind, r.Key)})
		s.prodMu.Unlock()
		return
	}
	s.led.add(kind, r)
	evicted := kind == kindChangelog && isEvictedCore(r)
	s.cl.Produce(ctx, r, func(rec *kgo.Record, err error) {
		s.prodMu.Lock()
		defer s.prodMu.Unlock()
		switch {
		case err == nil:
			if evicted {
				s.evictAt = append(s.evictAt, roomAt{partition: partition, room: roomOfKey(kind, rec.Key), offset: rec.Offset})
			}
		case errors.Is(err, kerr.MessageTooLarge):
			// Every record is measured against the topics' limit, so the
			// limit changed under the session (or a batch of small records
			// passed it): which room made it cannot be told. A new session
			// reads the limits again and sizes its batches to them.
			s.limitChanged = true
			fallthrough
		default:
			if s.prodErr == nil {
				s.prodErr = err
			}
		}
	})
}

// end flushes every touched partition and ends the transaction. On commit
// the in-memory state becomes the committed state; otherwise the touched
// partitions are dropped and restored from the changelog when their
// records come again (the client rewinds to the committed offsets).
func (s *session) end(ctx context.Context) error {
	now := time.Now().UnixMilli()
	sweep := time.Since(s.lastSweep) >= s.p.cfg.sweepEvery()
	if sweep {
		s.lastSweep = time.Now()
	}
	for _, pt := range s.parts {
		pt.core.Flush(now, &pt.batch)
		if sweep {
			if n := pt.core.Evict(now, &pt.batch); n > 0 {
				s.p.m.evictions.Add(float64(n))
			}
		}
		if !pt.touched && pt.batch.Len() == 0 {
			continue
		}
		pt.touched = true
		pt.batch.Changelog = append(pt.batch.Changelog, OffsetRecord(pt.next))
		s.produceBatch(ctx, pt)
	}
	start := time.Now()
	s.lastCommit = start
	committed, err := s.commit(ctx)
	s.p.m.commitSecs.Observe(time.Since(start).Seconds())
	s.inTxn = false
	s.prodMu.Lock()
	oversize, evictAt, limitChanged := s.oversize, s.evictAt, s.limitChanged
	s.oversize, s.evictAt = nil, nil
	s.prodMu.Unlock()
	if err != nil {
		return err
	}
	if limitChanged && !committed {
		s.aborted()
		return fmt.Errorf("%w: a topic refused a record as larger than its max.message.bytes, which must have changed; a new session reads the limits again", ErrRecordTooLarge)
	}
	if committed {
		s.p.m.txns.WithLabelValues("commit").Inc()
		s.p.m.consecAborts.Set(0)
		s.led.commit(s.p.m)
		for _, e := range evictAt {
			if pt := s.parts[e.partition]; pt != nil {
				pt.core.Evicted(e.room, e.offset)
			}
		}
		for id, pt := range s.parts {
			s.p.publishStandings(id, pt.core.TakeStandings())
			pt.touched = false
			for room, upto := range s.quarantine[id] {
				if pt.next > upto {
					delete(s.quarantine[id], room)
				}
			}
		}
		s.updateGauges()
		return nil
	}
	// A record was too large: its room's events of this transaction are
	// dead-lettered when they come again, so the next try commits.
	for _, o := range oversize {
		pt := s.parts[o.partition]
		if pt == nil {
			continue
		}
		q := s.quarantine[o.partition]
		if q == nil {
			q = map[string]int64{}
			s.quarantine[o.partition] = q
		}
		q[o.room] = max(q[o.room], pt.next-1)
	}
	s.aborted()
	s.dropTouched("transaction aborted")
	return nil
}

// aborted counts an abort, and consecutive ones: a partition that aborts
// again and again does not move.
func (s *session) aborted() {
	s.p.m.txns.WithLabelValues("abort").Inc()
	s.p.m.consecAborts.Inc()
	s.led.reset()
}

func (s *session) dropTouched(why string) {
	for id, pt := range s.parts {
		if pt.touched {
			pt.drop()
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
		s.prodMu.Lock()
		tooLarge := len(s.oversize) > 0
		s.prodMu.Unlock()
		if tooLarge {
			return false, ErrRecordTooLarge
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
	s.prodMu.Lock()
	tooLarge := len(s.oversize) > 0
	s.prodMu.Unlock()
	try := kgo.TryCommit
	if tooLarge && perr == nil {
		perr = ErrRecordTooLarge
	}
	if perr != nil {
		s.p.log.Warn("a record of the transaction failed to produce; aborting it", "err", perr)
		try = kgo.TryAbort
	}
	committed, err := s.sess.End(kgo.PreTxnCommitFnContext(ctx, s.fenceEmptyCommit), try)
	if err != nil {
		return false, fmt.Errorf("end transaction: %w", err)
	}
	return committed, nil
}

// fenceEmptyCommit makes a transaction that consumed nothing (snapshot
// catch-ups, evictions, presence expiry and timers of idleFlush) prove
// that this replica is still the group's member. franz-go sends no
// TxnOffsetCommit when no offsets moved, and then nothing checks the
// group's generation: a replica the group replaced while it was paused
// past its session (a zombie: SIGSTOP, a long GC or VM pause) would
// commit its stale snapshots, evictions and core records on top of its
// successor's, and the partition could never be restored again
// ("frame record N is missing"). Committing the offset the replica
// already holds for one of its partitions costs one small request and
// lets the coordinator refuse a zombie (ILLEGAL_GENERATION,
// UNKNOWN_MEMBER_ID): the transaction aborts and its state is dropped,
// as for a zombie that consumed (TestFenceEmptyCommit).
func (s *session) fenceEmptyCommit(req *kmsg.TxnOffsetCommitRequest) error {
	var pick *part
	for _, pt := range s.parts {
		if pt.next >= 0 && (pick == nil || pt.id < pick.id) {
			pick = pt
		}
	}
	if pick != nil {
		fenceEmpty(req, s.p.cfg.Topics.Events, pick.id, pick.next)
	}
	return nil
}

// fenceEmpty adds (topic, partition) at offset to a TxnOffsetCommit that
// carries no offsets, so that the coordinator checks the member's
// generation (see fenceEmptyCommit); offset must be the one the group
// already has for it.
func fenceEmpty(req *kmsg.TxnOffsetCommitRequest, topic string, partition int32, offset int64) {
	if len(req.Topics) > 0 {
		return
	}
	t := kmsg.NewTxnOffsetCommitRequestTopic()
	t.Topic = topic
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = partition, offset, -1, &req.MemberID
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
}

// abortAndDrop aborts the open transaction and drops the state of the
// partitions it touched.
func (s *session) abortAndDrop(ctx context.Context) error {
	if s.sess != nil {
		if _, err := s.sess.End(ctx, kgo.TryAbort); err != nil {
			return fmt.Errorf("abort transaction: %w", err)
		}
	}
	s.inTxn = false
	s.aborted()
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
// stopped reporting, the snapshots that lag their rooms' frames past
// Config.SnapshotInterval, timers' closes, and evicts idle rooms, when no
// events arrive to carry them.
func (s *session) idleFlush(ctx context.Context) error {
	now := time.Now().UnixMilli()
	ttl := s.p.cfg.PresenceTTL.Milliseconds()
	due := false
	sweep := time.Since(s.lastSweep) >= s.p.cfg.sweepEvery()
	for _, pt := range s.parts {
		if pt.core.presenceDue(now, ttl) || sweep && pt.core.idleRooms(now) > 0 || pt.core.nextTimer() > 0 && pt.core.nextTimer() <= now ||
			s.catchUpAt(pt) > 0 && s.catchUpAt(pt) <= now {
			due = true
			break
		}
	}
	if !due {
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

// load brings an evicted room back from its changelog group, inside the
// open transaction: one short read of a few records, bounded well below
// the transaction timeout.
func (s *session) load(ctx context.Context, pt *part, room string) error {
	start := time.Now()
	from, to, ok := pt.core.EvictedRange(room)
	if !ok {
		return fmt.Errorf("room %s is evicted but its changelog position is unknown", room)
	}
	lctx, cancel := context.WithTimeout(ctx, s.p.cfg.TransactionTimeout/4)
	defer cancel()
	var recs []Rec
	err := kread.Read(lctx, []kgo.Opt{kgo.SeedBrokers(s.p.cfg.Brokers...)},
		kread.Range{Topic: s.p.cfg.Topics.Changelog, Partition: pt.id, From: from, End: to}, nil,
		func(r *kgo.Record) error {
			recs = append(recs, Rec{Key: r.Key, Value: r.Value})
			return nil
		})
	if err != nil {
		return fmt.Errorf("load evicted room %s: %w", room, err)
	}
	if err := pt.core.Load(room, recs); err != nil {
		return fmt.Errorf("load evicted room %s: %w", room, err)
	}
	s.p.m.loads.Inc()
	s.p.m.loadSecs.Observe(time.Since(start).Seconds())
	return nil
}
