// Package analytics is Ovation's analytics: a sink that copies the events
// and room-frames topics into ClickHouse exactly once, a replay that
// backfills any range of them, and an HTTP query API over the result.
//
// Where the numbers come from (see docs/analytics.md):
//   - counts viewers saw (totals, reactions per emoji, poll results,
//     upvotes, peak viewers, leaderboard) come from the processors' frames,
//     so they equal the processors' snapshots exactly, including every
//     semantic rule (one vote per user, votes on closed polls refused …);
//   - who did what and when (unique participants, events by type, chat
//     history) comes from the events topic, deduplicated by event id.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// SinkConfig configures a Sink.
type SinkConfig struct {
	// Custom is the deployment's custom event types (--custom-types):
	// their events count like the built-in ones. nil: none.
	Custom *schemas.Registry
	// Brokers is the Kafka bootstrap list. Required.
	Brokers []string
	// Topics names the events and frames topics; empty names take the
	// defaults.
	Topics schemas.Topics
	// ClickHouse says where to write.
	ClickHouse ClickHouseConfig
	// MaxBatchRows caps the rows of one insert; default 100,000.
	MaxBatchRows int
	// MaxBatchBytes caps the memory of one batch; default 64 MiB.
	MaxBatchBytes int
	// FlushInterval is the longest a row waits before it is inserted;
	// default 1 s.
	FlushInterval time.Duration
	// RetryMin and RetryMax bound the backoff between failed inserts;
	// defaults 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// FetchMaxBytes bounds one Kafka fetch, and so what the client buffers
	// while an insert waits; default 16 MiB.
	FetchMaxBytes int32
	// Group is the Kafka consumer group the sinks of one deployment share:
	// it only assigns partitions (offsets are never committed to Kafka;
	// each partition resumes from what ClickHouse holds). Default
	// "ovation-sink-<database>": sinks writing different databases must
	// not split one set of partitions between them.
	Group string
	// InstanceID, when set, makes this sink a static group member (KIP-345):
	// restarted within SessionTimeout it gets its partitions back without a
	// rebalance. Use a stable name per replica (a StatefulSet pod name).
	InstanceID string
	// SessionTimeout is how long a sink that stopped heartbeating (killed)
	// keeps its partitions before the group moves them; default 15 s.
	SessionTimeout time.Duration
	// MetadataRefresh is how often partitions added to the topics are
	// looked for; default 15 s.
	MetadataRefresh time.Duration
	// KafkaOpts are extra client options (logger, metrics hooks).
	KafkaOpts []kgo.Opt
	// Log defaults to slog.Default().
	Log *slog.Logger
	// Registerer receives the sink's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

func (c *SinkConfig) withDefaults() {
	c.Topics = c.Topics.WithDefaults()
	c.ClickHouse = c.ClickHouse.withDefaults()
	if c.MaxBatchRows == 0 {
		c.MaxBatchRows = 100_000
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 64 << 20
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 16 << 20
	}
	if c.Group == "" {
		c.Group = "ovation-sink-" + c.ClickHouse.Database
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 15 * time.Second
	}
	if c.MetadataRefresh == 0 {
		c.MetadataRefresh = 15 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Validate checks c after applying defaults.
func (c SinkConfig) Validate() error {
	c.withDefaults()
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%w: no Kafka brokers", ErrConfig)
	}
	if err := c.Topics.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if c.MaxBatchRows < 1 || c.MaxBatchBytes < 1<<10 {
		return fmt.Errorf("%w: batch limits must be at least 1 row and 1 KiB", ErrConfig)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		return fmt.Errorf("%w: retry backoff must satisfy 0 < min <= max", ErrConfig)
	}
	if c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute {
		return fmt.Errorf("%w: session timeout %v must be between 6s and 5m (the brokers' group.min/max.session.timeout.ms defaults)", ErrConfig, c.SessionTimeout)
	}
	if c.MetadataRefresh < 5*time.Second || c.MetadataRefresh > 10*time.Minute {
		return fmt.Errorf("%w: metadata refresh %v must be between 5s (the Kafka client's shortest) and 10m", ErrConfig, c.MetadataRefresh)
	}
	if len(c.Group) > 255 || len(c.InstanceID) > 255 {
		return fmt.Errorf("%w: group and instance id are at most 255 bytes", ErrConfig)
	}
	return c.ClickHouse.Validate()
}

// Sink copies the events and frames topics into ClickHouse. Sinks of one
// deployment share the partitions through a Kafka consumer group that
// only assigns them: each assigned partition starts after the highest
// offset ClickHouse holds for it, so a crash or a rebalance at any point
// re-reads at most the batches not yet written, whose rows collapse with
// any copies already there (docs/analytics.md, Scaling out).
type Sink struct {
	cfg   SinkConfig
	m     *metrics
	ready atomic.Bool
	why   atomic.Value // string
}

// NewSink validates cfg and returns a Sink; Run starts it.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	s := &Sink{cfg: cfg, m: newMetrics(cfg.Registerer)}
	s.why.Store("starting")
	return s, nil
}

// Ready reports whether the sink is consuming and ClickHouse accepts its
// inserts, and if not, why.
func (s *Sink) Ready() (bool, string) {
	why, _ := s.why.Load().(string)
	return s.ready.Load(), why
}

func (s *Sink) setReady(ok bool, why string) {
	s.why.Store(why)
	s.ready.Store(ok)
}

// Run consumes until ctx ends, then inserts what it holds (within 10 s) and
// returns nil. It returns an error only for what retrying cannot fix.
func (s *Sink) Run(ctx context.Context) error {
	cfg := &s.cfg
	log := cfg.Log
	conn, err := cfg.ClickHouse.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	db := cfg.ClickHouse.Database
	w := &writer{
		conn: conn, db: db, cluster: cfg.ClickHouse.Cluster != "", log: log, m: s.m, timeout: cfg.ClickHouse.QueryTimeout,
		retryMin: cfg.RetryMin, retryMax: cfg.RetryMax,
		onFail: func(err error) { s.setReady(false, "ClickHouse insert failing: "+err.Error()) },
		onOK:   func() { s.setReady(true, "") },
	}
	topics := []string{cfg.Topics.Events, cfg.Topics.Frames}

	s.setReady(false, "migrating ClickHouse schema")
	if err := retryLoop(ctx, log, cfg.RetryMin, cfg.RetryMax, "migrate", func(ctx context.Context) error {
		return Migrate(ctx, conn, cfg.ClickHouse)
	}); err != nil {
		return nilIfCanceled(err)
	}
	s.setReady(false, "joining the sink group")
	var lagMu sync.Mutex
	lag := lagTracker{}
	// resume answers the group's "where do the partitions I was just
	// assigned start": after the highest offset ClickHouse holds for each,
	// from the log start for a partition ClickHouse has never seen (a
	// new one). It retries ClickHouse until the group session is revoked.
	resume := func(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
		var held map[string]map[int32]int64
		err := retryLoop(ctx, log, cfg.RetryMin, cfg.RetryMax, "read offsets", func(ctx context.Context) error {
			var err error
			held, err = readOffsets(ctx, conn, db, topics)
			return err
		})
		if err != nil {
			return nil, err
		}
		out := map[string]map[int32]kgo.Offset{}
		n := 0
		for t, ps := range assigned {
			out[t] = map[int32]kgo.Offset{}
			for p := range ps {
				if o, ok := held[t][p]; ok {
					out[t][p] = kgo.NewOffset().At(o + 1).WithEpoch(-1)
				} else {
					out[t][p] = kgo.NewOffset().AtStart()
				}
				n++
			}
		}
		log.Info("analytics sink assigned partitions; resuming from ClickHouse", "database", db, "partitions", n, "assigned", partitionList(assigned), "offsets", held)
		return out, nil
	}
	count := func(m map[string][]int32, sign float64) {
		for t, ps := range m {
			if kind := topicKind(cfg.Topics, t); kind != "" {
				s.m.assigned.WithLabelValues(kind).Add(sign * float64(len(ps)))
			}
		}
	}
	dropped := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		if len(m) == 0 {
			return // franz-go also calls this at the end of a session that lost nothing
		}
		count(m, -1)
		lagMu.Lock()
		for t, ps := range m {
			for _, p := range ps {
				delete(lag[t], p)
			}
		}
		lagMu.Unlock()
		log.Info("analytics sink partitions revoked; rows already read are still inserted (copies collapse)", "revoked", m)
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.AdjustFetchOffsetsFn(resume),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { count(m, 1) }),
		kgo.OnPartitionsRevoked(dropped),
		kgo.OnPartitionsLost(dropped),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.SessionTimeout / 5),
		kgo.MetadataMaxAge(cfg.MetadataRefresh),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.FetchMaxBytes),
		// Records that fall off retention restart at the earliest kept.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, cfg.KafkaOpts...)
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("analytics: kafka client: %w", err)
	}
	// A static member leaves the group only by its session timing out, so
	// that a restart gets its partitions back; a dynamic one leaves at once
	// and the others take its partitions now.
	defer cl.Close()
	log.Info("analytics sink joining group", "group", cfg.Group, "instance", cfg.InstanceID, "topics", topics)
	s.setReady(true, "")

	// Two batches alternate: the loop fills one while the inserter writes
	// the other, so reading Kafka overlaps the insert. The inserter is the
	// only writer and takes batches in order, so ClickHouse's highest
	// offset per partition only ever covers complete, earlier batches.
	// When ClickHouse is slow or down, the inserter holds its batch and the
	// loop blocks handing over the next one: nothing is polled meanwhile,
	// the client keeps at most one fetch per broker (FetchMaxBytes), and
	// memory stays at two batches.
	work := make(chan *batch)
	free := make(chan *batch, 2)
	free <- newBatch(cfg.Topics, cfg.Custom, s.m)
	free <- newBatch(cfg.Topics, cfg.Custom, s.m)
	// The inserter outlives ctx by the shutdown grace, to insert what was
	// read; insCancel ends it.
	insCtx, insCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer insCancel()
	insDone := make(chan struct{})
	var inflight atomic.Int64 // rows handed to the inserter, not yet written
	go func() {
		defer close(insDone)
		for b := range work {
			inflight.Store(int64(b.rows()))
			if err := w.write(insCtx, b.verdicts, b.events, b.frames); err != nil {
				return // canceled: the next start re-reads the batch
			}
			inflight.Store(0)
			b.reset()
			free <- b
		}
	}()
	// stop hands over b (if it holds rows) and waits up to 10 s for the
	// inserter to finish.
	stop := func(b *batch) error {
		grace := time.NewTimer(10 * time.Second)
		defer grace.Stop()
		if b.rows() > 0 {
			select {
			case work <- b:
			case <-insDone:
			case <-grace.C:
			}
		}
		close(work)
		select {
		case <-insDone:
			return nil
		case <-grace.C:
			insCancel()
			<-insDone
			log.Warn("analytics sink stopped with rows not inserted; they are re-read on the next start")
			return nil
		}
	}
	b := <-free
	for {
		wait := cfg.FlushInterval
		if b.rows() > 0 {
			wait = time.Until(b.first.Add(cfg.FlushInterval))
		}
		if wait > 0 {
			pctx, cancel := context.WithTimeout(ctx, wait)
			fs := cl.PollRecords(pctx, cfg.MaxBatchRows-b.rows())
			cancel()
			if fs.IsClientClosed() {
				return stop(b)
			}
			fs.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					log.Warn("kafka fetch error", "topic", t, "partition", p, "err", err)
				}
			})
			fs.EachRecord(b.add)
			s.m.pending.Set(float64(b.rows() + int(inflight.Load())))
			lagMu.Lock()
			lag.observe(fs, cfg.Topics, s.m.lag)
			lagMu.Unlock()
		}
		if ctx.Err() != nil {
			return stop(b)
		}
		if b.rows() >= cfg.MaxBatchRows || b.bytes >= cfg.MaxBatchBytes || (b.rows() > 0 && time.Since(b.first) >= cfg.FlushInterval) {
			select {
			case work <- b:
			case <-ctx.Done():
				return stop(b)
			}
			b = <-free
		}
	}
}

// topicKind names a topic for metric labels.
func topicKind(t schemas.Topics, topic string) string {
	switch topic {
	case t.Events:
		return "events"
	case t.Frames:
		return "frames"
	}
	return ""
}

// partitionList prints an assignment compactly for the log.
func partitionList(m map[string]map[int32]kgo.Offset) map[string][]int32 {
	out := map[string][]int32{}
	for t, ps := range m {
		for p := range ps {
			out[t] = append(out[t], p)
		}
		slices.Sort(out[t])
	}
	return out
}

// lagTracker remembers, per partition, how far behind the last stable
// offset the sink was at its last fetch with records; a partition the sink
// has caught up on keeps the (small) lag of its last fetch.
type lagTracker map[string]map[int32]int64

func (l lagTracker) observe(fs kgo.Fetches, topics schemas.Topics, g *prometheus.GaugeVec) {
	changed := false
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		next := p.Records[len(p.Records)-1].Offset + 1
		if l[p.Topic] == nil {
			l[p.Topic] = map[int32]int64{}
		}
		l[p.Topic][p.Partition] = max(p.LastStableOffset-next, 0)
		changed = true
	})
	if !changed {
		return
	}
	for topic, kind := range map[string]string{topics.Events: "events", topics.Frames: "frames"} {
		var sum int64
		for _, n := range l[topic] {
			sum += n
		}
		g.WithLabelValues(kind).Set(float64(sum))
	}
}

func nilIfCanceled(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// batch accumulates the rows of one insert.
type batch struct {
	topics schemas.Topics
	custom *schemas.Registry
	m      *metrics
	events []eventRow
	frames []frameRow
	// verdicts are the processors' verdicts read with the events;
	// written before them (writer.write).
	verdicts []verdictRow
	bytes    int
	first    time.Time
}

func newBatch(t schemas.Topics, custom *schemas.Registry, m *metrics) *batch {
	return &batch{topics: t, custom: custom, m: m}
}

func (b *batch) rows() int { return len(b.events) + len(b.frames) + len(b.verdicts) }

func (b *batch) reset() {
	clear(b.events)
	clear(b.frames)
	clear(b.verdicts)
	b.events, b.frames, b.verdicts, b.bytes = b.events[:0], b.frames[:0], b.verdicts[:0], 0
}

// add decodes one record into a row. Events count by the rule every
// consumer of the events topic shares (schemas.CountedEvent): records
// that fail validation are skipped and counted (the processors
// dead-letter them), so no count includes them; an event the processors
// rerouted is read twice, as its source and its copy, with one identity
// (room, user, id), and collapses to one row like a client's retry.
func (b *batch) add(r *kgo.Record) {
	switch r.Topic {
	case b.topics.Events:
		b.addAs(r, true)
	case b.topics.Frames:
		b.addAs(r, false)
	}
}

// addAs adds r as an event (or as a frame) whatever its topic's name.
func (b *batch) addAs(r *kgo.Record, isEvent bool) {
	if r.Attrs.IsControl() {
		return
	}
	action, control := processorControl(r)
	if control && (!isEvent || action != schemas.ControlVerdicts) {
		return
	}
	if b.rows() == 0 {
		b.first = time.Now()
	}
	src := source{topic: r.Topic, partition: r.Partition, offset: r.Offset}
	if control {
		v, err := schemas.ParseVerdicts(r.Value)
		if err != nil {
			b.m.skipped.WithLabelValues("events").Inc()
			return
		}
		for _, row := range verdictRowsOf(&v, src) {
			b.bytes += row.size()
			b.verdicts = append(b.verdicts, row)
		}
		return
	}
	switch isEvent {
	case true:
		pr := r
		if t, ok := strings.CutPrefix(r.Topic, ReplayTopicPrefix); ok {
			// An id left out is derived from the record's real source.
			c := *r
			c.Topic = t
			pr = &c
		}
		ev, ok := b.custom.CountedEvent(pr)
		if !ok {
			b.m.skipped.WithLabelValues("events").Inc()
			return
		}
		row := newEventRow(&ev, src)
		b.bytes += row.size()
		b.events = append(b.events, row)
	default:
		f, err := parseFrame(r.Value)
		if err != nil {
			if _, view := schemas.ModViewOf(f.Room); view {
				return // a moderator view's frame (its pending queue): not the room's, not counted
			}
			b.m.skipped.WithLabelValues("frames").Inc()
			return
		}
		row := newFrameRow(&f, src)
		b.bytes += row.size()
		b.frames = append(b.frames, row)
	}
}

// controlHeader marks the processors' control records on the events topic
// (processors.HeaderControl: rebuild requests, verdicts). They are not
// events: the sink skips them without counting them as invalid, except
// verdicts (schemas.ControlVerdicts), which go to the verdicts table.
// analytics may not import processors, hence the copy.
const controlHeader = "ovation-control"

// processorControl returns the action of a processors' control record.
func processorControl(r *kgo.Record) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == controlHeader {
			return string(h.Value), true
		}
	}
	return "", false
}

// parseFrame decodes a frame and checks the fields the tables key on.
func parseFrame(v []byte) (schemas.Frame, error) {
	var f schemas.Frame
	if err := json.Unmarshal(v, &f); err != nil {
		return f, fmt.Errorf("frame: %w", err)
	}
	if err := schemas.CheckRoom(f.Room); err != nil {
		return f, err
	}
	if f.Epoch == "" || len(f.Epoch) > 128 || f.Seq == 0 {
		return f, errors.New("frame: epoch or seq missing")
	}
	return f, nil
}
