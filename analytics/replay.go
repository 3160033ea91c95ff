package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// ReplayTopicPrefix marks the rows a replay writes: their ktopic is
// "replay:" + topic. Rows collapse with the sink's by their sort keys, which
// do not include ktopic, while the sink's resume point (the highest offset
// per topic it wrote) never jumps over records a replay of a later range
// wrote first.
const ReplayTopicPrefix = "replay:"

// ReplayConfig configures a replay of one topic range into ClickHouse.
type ReplayConfig struct {
	// Custom is the deployment's custom event types (--custom-types).
	Custom *schemas.Registry
	// Brokers is the Kafka bootstrap list. Required.
	Brokers []string
	// Topics names the events and frames topics; Topic must be one of the
	// two.
	Topics schemas.Topics
	Topic  string
	// FromOffset, when >= 0, starts every partition at this offset (or at
	// its log start if later). Otherwise FromTime, when set, starts at the
	// first record at or after it; otherwise at the log start.
	FromOffset int64
	FromTime   time.Time
	// ToTime, when set, ends before the first record at or after it;
	// otherwise at the last committed record when the replay planned.
	ToTime time.Time
	// ClickHouse says where to write.
	ClickHouse ClickHouseConfig
	// PositionFile, when set, keeps the replay's plan and progress: an
	// interrupted replay started again with the same file continues where
	// it stopped. The file is removed when the replay completes.
	PositionFile string
	// BatchRows caps the rows per insert; default 100,000.
	BatchRows int
	// KafkaOpts are extra client options.
	KafkaOpts []kgo.Opt
	// Log defaults to slog.Default().
	Log *slog.Logger
}

func (c *ReplayConfig) withDefaults() {
	c.Topics = c.Topics.WithDefaults()
	c.ClickHouse = c.ClickHouse.withDefaults()
	if c.BatchRows == 0 {
		c.BatchRows = 100_000
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Validate checks c after applying defaults.
func (c ReplayConfig) Validate() error {
	c.withDefaults()
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%w: no Kafka brokers", ErrConfig)
	}
	if c.Topic != c.Topics.Events && c.Topic != c.Topics.Frames {
		return fmt.Errorf("%w: --topic %q: replay into ClickHouse reads the events topic (%s) or the frames topic (%s)", ErrConfig, c.Topic, c.Topics.Events, c.Topics.Frames)
	}
	if c.FromOffset >= 0 && !c.FromTime.IsZero() {
		return fmt.Errorf("%w: give a start offset or a start time, not both", ErrConfig)
	}
	if !c.FromTime.IsZero() && !c.ToTime.IsZero() && !c.ToTime.After(c.FromTime) {
		return fmt.Errorf("%w: the end time must be after the start time", ErrConfig)
	}
	if c.BatchRows < 1 {
		return fmt.Errorf("%w: BatchRows must be positive", ErrConfig)
	}
	return c.ClickHouse.Validate()
}

// spec identifies what was asked, so a position file is only resumed by
// the same replay.
func (c *ReplayConfig) spec() string {
	s := "topic=" + c.Topic + " database=" + c.ClickHouse.Database
	if c.FromOffset >= 0 {
		s += fmt.Sprintf(" from-offset=%d", c.FromOffset)
	}
	if !c.FromTime.IsZero() {
		s += " from-time=" + c.FromTime.UTC().Format(time.RFC3339Nano)
	}
	if !c.ToTime.IsZero() {
		s += " to-time=" + c.ToTime.UTC().Format(time.RFC3339Nano)
	}
	return s
}

// ReplayPlan is what a replay reads: per partition, offsets [Start, End),
// and how far it got (Next).
type ReplayPlan struct {
	Spec       string           `json:"spec"`
	Topic      string           `json:"topic"`
	Partitions []PartitionRange `json:"partitions"`
	// Resumed is true when the plan came from the position file.
	Resumed bool `json:"-"`
}

// PartitionRange is one partition's part of a plan.
type PartitionRange struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Next      int64 `json:"next"`
}

// Total returns how many offsets the plan covers, and how many remain.
func (p *ReplayPlan) Total() (total, remaining int64) {
	for _, r := range p.Partitions {
		total += r.End - r.Start
		remaining += r.End - r.Next
	}
	return total, remaining
}

// Describe writes the plan for humans (the dry run's output).
func (p *ReplayPlan) Describe(w io.Writer, db string) {
	total, remaining := p.Total()
	verb := "would replay"
	if p.Resumed {
		verb = "would resume replaying"
	}
	fmt.Fprintf(w, "%s %s into ClickHouse database %s (tables events/frames; rows collapse with what is already there)\n", verb, p.Topic, db)
	for _, r := range p.Partitions {
		fmt.Fprintf(w, "  partition %3d: offsets %d..%d (%d records), next %d\n", r.Partition, r.Start, r.End, r.End-r.Start, r.Next)
	}
	fmt.Fprintf(w, "  total %d offsets, %d left\n", total, remaining)
}

// Replayer replays one topic range into ClickHouse.
type Replayer struct {
	cfg ReplayConfig
}

// NewReplayer validates cfg.
func NewReplayer(cfg ReplayConfig) (*Replayer, error) {
	if cfg.FromOffset == 0 && cfg.FromTime.IsZero() {
		// The zero value means "from the log start", same as -1.
		cfg.FromOffset = -1
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	return &Replayer{cfg: cfg}, nil
}

// Plan returns the replay's plan: from the position file when it holds one
// for the same spec, else from Kafka's offsets now.
func (r *Replayer) Plan(ctx context.Context) (*ReplayPlan, error) {
	cfg := &r.cfg
	if cfg.PositionFile != "" {
		b, err := os.ReadFile(cfg.PositionFile)
		switch {
		case err == nil:
			var p ReplayPlan
			if err := json.Unmarshal(b, &p); err != nil {
				return nil, fmt.Errorf("analytics: position file %s: %w", cfg.PositionFile, err)
			}
			if p.Spec != cfg.spec() {
				return nil, fmt.Errorf("%w: %s holds %q, this replay is %q: delete the file or pick another", ErrPositionMismatch, cfg.PositionFile, p.Spec, cfg.spec())
			}
			p.Resumed = true
			return &p, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("analytics: position file: %w", err)
		}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.KafkaOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("analytics: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("analytics: list start offsets of %s: %w", cfg.Topic, err)
	}
	// The end is the last stable offset: a replay reads committed data
	// only, and a transaction open now is not waited for.
	ends, err := adm.ListCommittedOffsets(ctx, cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("analytics: list end offsets of %s: %w", cfg.Topic, err)
	}
	var fromT, toT kadm.ListedOffsets
	if !cfg.FromTime.IsZero() {
		if fromT, err = adm.ListOffsetsAfterMilli(ctx, cfg.FromTime.UnixMilli(), cfg.Topic); err != nil {
			return nil, fmt.Errorf("analytics: offsets at %v: %w", cfg.FromTime, err)
		}
	}
	if !cfg.ToTime.IsZero() {
		if toT, err = adm.ListOffsetsAfterMilli(ctx, cfg.ToTime.UnixMilli(), cfg.Topic); err != nil {
			return nil, fmt.Errorf("analytics: offsets at %v: %w", cfg.ToTime, err)
		}
	}
	p := &ReplayPlan{Spec: cfg.spec(), Topic: cfg.Topic}
	starts.Each(func(o kadm.ListedOffset) {
		pr := PartitionRange{Partition: o.Partition, Start: o.Offset}
		if e, ok := ends.Lookup(cfg.Topic, o.Partition); ok {
			pr.End = e.Offset
		}
		if cfg.FromOffset >= 0 {
			pr.Start = max(pr.Start, cfg.FromOffset)
		}
		if f, ok := fromT.Lookup(cfg.Topic, o.Partition); ok && f.Offset >= 0 {
			pr.Start = max(pr.Start, f.Offset)
		}
		if t, ok := toT.Lookup(cfg.Topic, o.Partition); ok && t.Offset >= 0 {
			pr.End = min(pr.End, t.Offset)
		}
		pr.End = max(pr.End, pr.Start)
		pr.Next = pr.Start
		p.Partitions = append(p.Partitions, pr)
	})
	if len(p.Partitions) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoPartitions, cfg.Topic)
	}
	slices.SortFunc(p.Partitions, func(a, b PartitionRange) int { return int(a.Partition - b.Partition) })
	return p, nil
}

// ReplayStats is what a replay did.
type ReplayStats struct {
	Records int64 // records read (control records included)
	Rows    int64 // rows inserted
	Skipped int64 // records that failed validation
}

// Run executes plan, reporting each record read to progress (may be nil),
// saving the position after every insert. It returns when every partition
// reached its end, or with ctx's error (the position file then holds where
// it stopped).
func (r *Replayer) Run(ctx context.Context, plan *ReplayPlan, progress func(n int)) (ReplayStats, error) {
	cfg := &r.cfg
	var st ReplayStats
	offsets := map[int32]kgo.Offset{}
	remaining := 0
	for _, pr := range plan.Partitions {
		if pr.Next < pr.End {
			offsets[pr.Partition] = kgo.NewOffset().At(pr.Next)
			remaining++
		}
	}
	if remaining == 0 {
		return st, r.finish()
	}
	if err := r.save(plan); err != nil {
		return st, err
	}
	conn, err := cfg.ClickHouse.open()
	if err != nil {
		return st, err
	}
	defer conn.Close()
	db := cfg.ClickHouse.Database
	m := newMetrics(nil)
	if err := retryLoop(ctx, cfg.Log, 200*time.Millisecond, 5*time.Second, "migrate", func(ctx context.Context) error { return Migrate(ctx, conn, cfg.ClickHouse) }); err != nil {
		return st, err
	}
	w := &writer{conn: conn, db: db, cluster: cfg.ClickHouse.Cluster != "", log: cfg.Log, m: m, timeout: cfg.ClickHouse.QueryTimeout, retryMin: 200 * time.Millisecond, retryMax: 5 * time.Second}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records are kept so that a partition ending in a
		// transaction marker is seen to reach its end.
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, cfg.KafkaOpts...)...)
	if err != nil {
		return st, fmt.Errorf("analytics: kafka client: %w", err)
	}
	defer cl.Close()

	byPart := map[int32]*PartitionRange{}
	for i := range plan.Partitions {
		byPart[plan.Partitions[i].Partition] = &plan.Partitions[i]
	}
	b := newBatch(cfg.Topics, cfg.Custom, m)
	flush := func() error {
		if err := w.write(ctx, b.verdicts, b.events, b.frames); err != nil {
			return err
		}
		st.Rows += int64(b.rows())
		b.reset()
		return r.save(plan)
	}
	lastProgress := time.Now()
	for remaining > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollRecords(pctx, cfg.BatchRows-b.rows())
		cancel()
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				cfg.Log.Warn("kafka fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		read := 0
		fs.EachRecord(func(rec *kgo.Record) {
			pr := byPart[rec.Partition]
			if pr == nil || rec.Offset < pr.Next || pr.Next >= pr.End {
				return
			}
			if rec.Offset >= pr.End {
				// Past the end: the partition is done.
				read += int(pr.End - pr.Next)
				pr.Next = pr.End
				remaining--
				return
			}
			read += int(rec.Offset + 1 - pr.Next)
			pr.Next = rec.Offset + 1
			before := b.rows()
			rec.Topic = ReplayTopicPrefix + cfg.Topic
			b.addAs(rec, cfg.Topic == cfg.Topics.Events)
			if b.rows() == before && !rec.Attrs.IsControl() {
				st.Skipped++
			}
			if pr.Next >= pr.End {
				remaining--
			}
		})
		st.Records += int64(read)
		if read > 0 {
			lastProgress = time.Now()
			if progress != nil {
				progress(read)
			}
		} else if time.Since(lastProgress) > 30*time.Second {
			return st, fmt.Errorf("analytics: replay made no progress for 30 s (partitions left: %d); the position is saved, run again to resume", remaining)
		}
		if b.rows() >= cfg.BatchRows || b.bytes >= 64<<20 || (remaining == 0 && b.rows() > 0) {
			if err := flush(); err != nil {
				return st, err
			}
		} else if b.rows() == 0 {
			if err := r.save(plan); err != nil {
				return st, err
			}
		}
	}
	if b.rows() > 0 {
		if err := flush(); err != nil {
			return st, err
		}
	}
	return st, r.finish()
}

// save writes the plan with its progress atomically (write, then rename).
func (r *Replayer) save(plan *ReplayPlan) error {
	path := r.cfg.PositionFile
	if path == "" {
		return nil
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("analytics: save position: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("analytics: save position: %w", err)
	}
	return nil
}

func (r *Replayer) finish() error {
	if r.cfg.PositionFile == "" {
		return nil
	}
	if err := os.Remove(r.cfg.PositionFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("analytics: remove position file: %w", err)
	}
	return nil
}
