package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// ClickHouseConfig says how to reach ClickHouse. Only the native protocol
// is used: it works with 18.16 and with current releases.
type ClickHouseConfig struct {
	// Addr lists native-protocol addresses (host:port). Required.
	Addr []string
	// Database holds Ovation's tables; default "ovation". Letters, digits
	// and _ only.
	Database string
	// Username defaults to "default"; Password to empty.
	Username string
	Password string
	// Cluster, when set, is the name of a cluster in the servers'
	// remote_servers config: the schema is created ON CLUSTER with
	// Replicated*MergeTree tables and Distributed tables sharded by room
	// (docs/analytics.md, Cluster mode). Empty: one server.
	Cluster string
	// DialTimeout defaults to 5 s; QueryTimeout (per statement) to 60 s.
	DialTimeout  time.Duration
	QueryTimeout time.Duration
}

// withDefaults fills zero fields.
func (c ClickHouseConfig) withDefaults() ClickHouseConfig {
	if c.Database == "" {
		c.Database = "ovation"
	}
	if c.Username == "" {
		c.Username = "default"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 60 * time.Second
	}
	return c
}

// Validate checks c after applying defaults.
func (c ClickHouseConfig) Validate() error {
	c = c.withDefaults()
	if len(c.Addr) == 0 {
		return fmt.Errorf("%w: no ClickHouse address", ErrConfig)
	}
	if c.Cluster != "" {
		if err := checkIdent("cluster", c.Cluster); err != nil {
			return err
		}
	}
	return checkDatabase(c.Database)
}

// open returns a connection pool; it dials lazily, so it succeeds while
// ClickHouse is down and recovers by itself when it is back.
func (c ClickHouseConfig) open() (driver.Conn, error) {
	c = c.withDefaults()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        c.Addr,
		Protocol:    clickhouse.Native,
		Auth:        clickhouse.Auth{Database: "default", Username: c.Username, Password: c.Password},
		DialTimeout: c.DialTimeout,
		ReadTimeout: c.QueryTimeout,
		ClientInfo:  clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "ovation", Version: "1"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: open ClickHouse %v: %w", c.Addr, err)
	}
	return conn, nil
}

// metrics are the sink's and replay's Prometheus metrics. Labels are table
// or topic kinds, never rooms or users.
type metrics struct {
	rows       *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	insertErrs *prometheus.CounterVec
	insertDur  *prometheus.HistogramVec
	batchRows  prometheus.Histogram
	pending    prometheus.Gauge
	lag        *prometheus.GaugeVec
	assigned   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ovation_analytics_rows_written_total", Help: "Rows inserted into ClickHouse, by table (a retried insert counts again).",
		}, []string{"table"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ovation_analytics_records_skipped_total", Help: "Kafka records skipped because they failed validation, by topic kind.",
		}, []string{"topic"}),
		insertErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ovation_analytics_insert_errors_total", Help: "Failed ClickHouse inserts (each is retried), by table.",
		}, []string{"table"}),
		insertDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ovation_analytics_insert_seconds", Help: "Duration of successful ClickHouse inserts, by table.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"table"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ovation_analytics_batch_rows", Help: "Rows per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ovation_analytics_pending_rows", Help: "Rows read from Kafka and not yet in ClickHouse.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ovation_analytics_consumer_lag_records", Help: "Records in Kafka the sink has not read yet (last stable offset minus the next offset, summed over partitions), by topic kind.",
		}, []string{"topic"}),
		assigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ovation_analytics_assigned_partitions", Help: "Partitions the sink group assigned to this sink, by topic kind.",
		}, []string{"topic"}),
	}
	// Both series exist from the start, so an alert on them has data
	// before the first fetch.
	m.lag.WithLabelValues("events")
	m.lag.WithLabelValues("frames")
	m.assigned.WithLabelValues("events")
	m.assigned.WithLabelValues("frames")
	if reg != nil {
		reg.MustRegister(m.rows, m.skipped, m.insertErrs, m.insertDur, m.batchRows, m.pending, m.lag, m.assigned)
	}
	return m
}

// writer inserts batches into the events and frames tables, retrying with
// capped exponential backoff until it succeeds or its context ends. A batch
// is inserted as one block per table, so each table insert is all or
// nothing; a retry after a timeout may write the block twice, which the
// tables' sort keys collapse.
type writer struct {
	conn driver.Conn
	db   string
	// cluster: the tables are Distributed; inserts wait until every shard
	// has its part (insert_distributed_sync), and the offsets are written
	// by the writer after the rows (see write).
	cluster  bool
	log      *slog.Logger
	m        *metrics
	timeout  time.Duration
	retryMin time.Duration
	retryMax time.Duration
	// onFail and onOK report ClickHouse health to readiness.
	onFail func(err error)
	onOK   func()
}

func (w *writer) write(ctx context.Context, verdicts []verdictRow, events []eventRow, frames []frameRow) error {
	// Verdicts first: in single-server mode the events' view records the
	// batch's offsets with the events, and a verdict must never sit below
	// an offset ClickHouse already claims (a crash in between would skip
	// it on the next start).
	if len(verdicts) > 0 {
		err := w.retry(ctx, TableVerdicts, func(ctx context.Context) error {
			return w.insert(ctx, TableVerdicts, verdictColumns, len(verdicts), func(b driver.Batch) error {
				return appendColumns(b, verdictColumnsOf(verdicts))
			})
		})
		if err != nil {
			return err
		}
	}
	if len(events) > 0 {
		err := w.retry(ctx, TableEvents, func(ctx context.Context) error {
			return w.insert(ctx, TableEvents, eventColumns, len(events), func(b driver.Batch) error {
				return appendColumns(b, eventColumnsOf(events))
			})
		})
		if err != nil {
			return err
		}
	}
	if len(frames) > 0 {
		err := w.retry(ctx, TableFrames, func(ctx context.Context) error {
			return w.insert(ctx, TableFrames, frameColumns, len(frames), func(b driver.Batch) error {
				return appendColumns(b, frameColumnsOf(frames))
			})
		})
		if err != nil {
			return err
		}
	}
	if w.cluster && len(verdicts)+len(events)+len(frames) > 0 {
		// In cluster mode no view records offsets: a block inserted into a
		// Distributed table is split per shard, and a view on one shard
		// would see only its part, so a shard could claim an offset whose
		// rows on the other shard were never written. Instead the highest
		// offset per partition is written here, only after every shard has
		// its rows (synchronous Distributed inserts). A crash between the
		// rows and this insert re-reads the batch, whose rows collapse.
		offs := batchOffsets(verdicts, events, frames)
		err := w.retry(ctx, TableOffsets, func(ctx context.Context) error {
			return w.insert(ctx, TableOffsets, offsetColumns, len(offs.topic), func(b driver.Batch) error {
				return appendColumns(b, []any{offs.topic, offs.partition, offs.offset})
			})
		})
		if err != nil {
			return err
		}
	}
	w.m.batchRows.Observe(float64(len(verdicts) + len(events) + len(frames)))
	return nil
}

const offsetColumns = "ktopic, kpartition, koffset"

// offsetCols holds sink_offsets rows as columns.
type offsetCols struct {
	topic     []string
	partition []int32
	offset    []uint64
}

// batchOffsets returns the highest offset per topic and partition of a
// batch.
func batchOffsets(verdicts []verdictRow, events []eventRow, frames []frameRow) offsetCols {
	type tp struct {
		t string
		p int32
	}
	hi := map[tp]int64{}
	see := func(s source) {
		k := tp{s.topic, s.partition}
		if o, ok := hi[k]; !ok || s.offset > o {
			hi[k] = s.offset
		}
	}
	for i := range verdicts {
		see(verdicts[i].src)
	}
	for i := range events {
		see(events[i].src)
	}
	for i := range frames {
		see(frames[i].src)
	}
	var c offsetCols
	for k, o := range hi {
		c.topic = append(c.topic, k.t)
		c.partition = append(c.partition, k.p)
		c.offset = append(c.offset, uint64(o))
	}
	return c
}

func (w *writer) insert(ctx context.Context, table, columns string, n int, fill func(driver.Batch) error) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	start := time.Now()
	if w.cluster {
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	}
	b, err := w.conn.PrepareBatch(ctx, "INSERT INTO "+w.db+"."+table+" ("+columns+")")
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	if err := fill(b); err != nil {
		b.Abort()
		return fmt.Errorf("append to %s batch: %w", table, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", n, table, err)
	}
	w.m.insertDur.WithLabelValues(table).Observe(time.Since(start).Seconds())
	w.m.rows.WithLabelValues(table).Add(float64(n))
	return nil
}

// retry runs fn until it succeeds or ctx ends, sleeping between attempts
// with capped exponential backoff and jitter.
func (w *writer) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	return retryLoop(ctx, w.log, w.retryMin, w.retryMax, what, func(ctx context.Context) error {
		err := fn(ctx)
		if err != nil {
			w.m.insertErrs.WithLabelValues(what).Inc()
			if w.onFail != nil {
				w.onFail(err)
			}
			return err
		}
		if w.onOK != nil {
			w.onOK()
		}
		return nil
	})
}

func retryLoop(ctx context.Context, log *slog.Logger, lo, hi time.Duration, what string, fn func(context.Context) error) error {
	backoff := lo
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info("clickhouse recovered", "op", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("clickhouse operation failed; retrying", "op", what, "attempt", attempt, "backoff", backoff, "err", err)
		jitter := time.Duration(rand.Int64N(int64(backoff)/4 + 1))
		t := time.NewTimer(backoff + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, hi)
	}
}

// readOffsets returns, per topic and partition, the highest Kafka offset
// ClickHouse holds.
func readOffsets(ctx context.Context, conn driver.Conn, db string, topics []string) (map[string]map[int32]int64, error) {
	rows, err := conn.Query(ctx, "SELECT ktopic, kpartition, toInt64(max(koffset)) FROM "+db+".sink_offsets WHERE has(?, ktopic) GROUP BY ktopic, kpartition", topics)
	if err != nil {
		return nil, fmt.Errorf("analytics: read offsets: %w", err)
	}
	defer rows.Close()
	out := map[string]map[int32]int64{}
	for rows.Next() {
		var (
			t string
			p int32
			o int64
		)
		if err := rows.Scan(&t, &p, &o); err != nil {
			return nil, fmt.Errorf("analytics: read offsets: %w", err)
		}
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = o
	}
	return out, rows.Err()
}

// appendColumns fills a batch column by column: one typed slice per column
// instead of a []any per row, which is most of the client's cost.
func appendColumns(b driver.Batch, cols []any) error {
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}
