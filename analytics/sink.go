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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// SinkConfig configures a Sink.
type SinkConfig struct {
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
	return c.ClickHouse.Validate()
}

// Sink copies the events and frames topics into ClickHouse. It consumes
// partitions directly (no consumer group) from the offsets ClickHouse
// holds, so a crash at any point re-reads at most the last batch, whose
// rows collapse with the copies already written. Running two sinks at once
// is therefore safe, only wasteful.
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
		conn: conn, db: db, log: log, m: s.m, timeout: cfg.ClickHouse.QueryTimeout,
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
	var held map[string]map[int32]int64
	if err := retryLoop(ctx, log, cfg.RetryMin, cfg.RetryMax, "read offsets", func(ctx context.Context) error {
		held, err = readOffsets(ctx, conn, db, topics)
		return err
	}); err != nil {
		return nilIfCanceled(err)
	}
	s.setReady(false, "reading Kafka metadata")
	parts, err := partitionsOf(ctx, cfg.Brokers, cfg.KafkaOpts, topics, log, cfg.RetryMin, cfg.RetryMax)
	if err != nil {
		return nilIfCanceled(err)
	}
	start := map[string]map[int32]kgo.Offset{}
	for t, ps := range parts {
		start[t] = map[int32]kgo.Offset{}
		for _, p := range ps {
			if o, ok := held[t][p]; ok {
				start[t][p] = kgo.NewOffset().At(o + 1)
			} else {
				start[t][p] = kgo.NewOffset().AtStart()
			}
		}
	}
	log.Info("analytics sink resuming from ClickHouse", "database", db, "offsets", held)

	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.FetchMaxBytes),
		// Records that fall off retention restart at the earliest kept.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, cfg.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("analytics: kafka client: %w", err)
	}
	defer cl.Close()
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
	free <- newBatch(cfg.Topics, s.m)
	free <- newBatch(cfg.Topics, s.m)
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
			if err := w.write(insCtx, b.events, b.frames); err != nil {
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
	lag := lagTracker{}
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
			lag.observe(fs, cfg.Topics, s.m.lag)
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

// partitionsOf lists the partitions of topics, retrying until every topic
// exists.
func partitionsOf(ctx context.Context, brokers []string, extra []kgo.Opt, topics []string, log *slog.Logger, lo, hi time.Duration) (map[string][]int32, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("analytics: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	out := map[string][]int32{}
	err = retryLoop(ctx, log, lo, hi, "list partitions", func(ctx context.Context) error {
		td, err := adm.ListTopics(ctx, topics...)
		if err != nil {
			return err
		}
		for _, t := range topics {
			d, ok := td[t]
			if !ok || d.Err != nil || len(d.Partitions) == 0 {
				return fmt.Errorf("%w: %s", ErrNoPartitions, t)
			}
			out[t] = d.Partitions.Numbers()
		}
		return nil
	})
	return out, err
}

// batch accumulates the rows of one insert.
type batch struct {
	topics schemas.Topics
	m      *metrics
	events []eventRow
	frames []frameRow
	bytes  int
	first  time.Time
}

func newBatch(t schemas.Topics, m *metrics) *batch { return &batch{topics: t, m: m} }

func (b *batch) rows() int { return len(b.events) + len(b.frames) }

func (b *batch) reset() {
	clear(b.events)
	clear(b.frames)
	b.events, b.frames, b.bytes = b.events[:0], b.frames[:0], 0
}

// add decodes one record into a row. Records that fail validation are
// skipped and counted, as every consumer of the events topic does (the
// processors dead-letter them), so no count includes them.
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
	if r.Attrs.IsControl() || isProcessorControl(r) {
		return
	}
	if b.rows() == 0 {
		b.first = time.Now()
	}
	src := source{topic: r.Topic, partition: r.Partition, offset: r.Offset}
	switch isEvent {
	case true:
		ev, err := schemas.ParseEvent(r.Value)
		if err != nil {
			b.m.skipped.WithLabelValues("events").Inc()
			return
		}
		row := newEventRow(&ev, src)
		b.bytes += row.size()
		b.events = append(b.events, row)
	default:
		f, err := parseFrame(r.Value)
		if err != nil {
			b.m.skipped.WithLabelValues("frames").Inc()
			return
		}
		row := newFrameRow(&f, src)
		b.bytes += row.size()
		b.frames = append(b.frames, row)
	}
}

// controlHeader marks the processors' control records on the events topic
// (processors.HeaderControl: rebuild requests). They are not events; the
// sink skips them without counting them as invalid. analytics may not
// import processors, hence the copy.
const controlHeader = "ovation-control"

func isProcessorControl(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == controlHeader {
			return true
		}
	}
	return false
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
