package processors

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// quietMode is one processor configuration of TestBenchQuietRooms.
type quietMode struct {
	name string
	cfg  func(*Config) // nil: no processor (the test's producer and reader alone)
}

// quietModes are the configuration before issue 18 (every transaction a
// full tick, a snapshot of every changed room in every transaction), the
// adaptive tick without Config.TxnInterval, the second round's defaults
// (the interval, no fetch wait), and the defaults (Config.FetchWait); the
// test runs those four unless OVATION_PROC_BENCH_MODES picks others:
// the defaults with a 5 s snapshot interval, or no processor at all.
var quietModes = []quietMode{
	{name: "before: fixed 50ms tick, snapshot every frame", cfg: func(c *Config) {
		c.Tick, c.Linger, c.SnapshotEvery, c.FetchWait = 50*time.Millisecond, 50*time.Millisecond, 1, -1
	}},
	{name: "linger, snapshot schedule, no txn interval, no fetch wait", cfg: func(c *Config) { c.TxnInterval, c.FetchWait = -1, -1 }},
	{name: "second round: linger, txn interval, no fetch wait", cfg: func(c *Config) { c.FetchWait = -1 }},
	{name: "after: defaults (fetch wait, txn interval)", cfg: func(c *Config) { c.FetchWait = DefaultFetchWait }},
	{name: "defaults with a 5s snapshot interval", cfg: func(c *Config) { c.FetchWait, c.SnapshotInterval = DefaultFetchWait, 5*time.Second }},
	{name: "no processor (the producer and reader alone)"},
}

// TestBenchQuietRooms measures, with OVATION_PROC_BENCH=1, the latency a
// processor adds in quiet rooms (issue 18): 100 rooms, each sent 5 chat
// lines a second (500 events/s in all), and for every frame a
// read_committed reader receives, the time from its event's produce stamp
// to its arrival (produce → processor → committed frame). The modes run
// alternately, twice each, on the real broker (OVATION_KAFKA_BROKERS) and
// on kfake (what `ovation dev` runs); the process's CPU over each phase
// (processor, producer and reader together: the same load in every mode)
// is reported next to it. It prints a table; ratios from one run are what
// to quote, since the machine is shared.
func TestBenchQuietRooms(t *testing.T) {
	if os.Getenv("OVATION_PROC_BENCH") != "1" {
		t.Skip("OVATION_PROC_BENCH=1 runs the quiet-rooms benchmark (about two minutes)")
	}
	rooms, perRoom, d := 100, 5, 10*time.Second
	if v := os.Getenv("OVATION_PROC_BENCH_SECONDS"); v != "" {
		var s int
		fmt.Sscan(v, &s)
		d = time.Duration(s) * time.Second
	}
	type result struct {
		broker, mode       string
		n                  int
		p50, p90, p99, max time.Duration
		cpuPer1k           float64
		txns, snaps        float64
		endP50, endP99     float64
		sent               int
		reqs               reqSnapshot
		brokerUS           float64 // the broker process's CPU per event, µs (real broker with OVATION_PROC_BENCH_BROKER_PID)
	}
	var results []result
	brokerKinds := []string{"kfake"}
	if os.Getenv(kafkatest.EnvBrokers) != "" {
		brokerKinds = append([]string{"kafka"}, brokerKinds...)
	}
	if v := os.Getenv("OVATION_PROC_BENCH_BROKERS"); v != "" {
		brokerKinds = strings.Split(v, ",")
	}
	// OVATION_PROC_BENCH_MODES picks modes by index (e.g. "2,3"),
	// OVATION_PROC_BENCH_ROUNDS how often each runs (alternating).
	modes := quietModes[:4]
	if v := os.Getenv("OVATION_PROC_BENCH_MODES"); v != "" {
		modes = nil
		for _, f := range strings.Split(v, ",") {
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || i >= len(quietModes) {
				t.Fatalf("OVATION_PROC_BENCH_MODES: %q is not a mode index below %d", f, len(quietModes))
			}
			modes = append(modes, quietModes[i])
		}
	}
	rounds := 2
	if v := os.Getenv("OVATION_PROC_BENCH_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	brokerPID, _ := strconv.Atoi(os.Getenv("OVATION_PROC_BENCH_BROKER_PID"))
	for _, kind := range brokerKinds {
		for round := range rounds * len(modes) {
			mode := modes[round%len(modes)]
			tp := testTopics(t)
			var brokers []string
			if kind == "kafka" {
				brokers = kafkatest.Brokers(t)
				createTopics(t, brokers, tp, 4, 1)
			} else {
				c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ))
				if err != nil {
					t.Fatal(err)
				}
				brokers = c.ListenAddrs()
				defer c.Close()
			}
			reg := prometheus.NewRegistry()
			group := "quiet-" + tp.Events
			cfg := Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: reg}
			rc := newReqCounter()
			stop := func() {}
			if mode.cfg != nil {
				mode.cfg(&cfg)
				_, stop = runProcessor(t, cfg, kgo.WithHooks(rc))
			}
			cl := kafkatest.Client(t, brokers, kgo.DefaultProduceTopic(tp.Events), kgo.ProducerLinger(0))
			// Every room first gets a full chat history (100 lines), so
			// its state is what a quiet room's is after a while.
			var warm []*schemas.Event
			ts := time.Now().UnixMilli()
			for i := range 100 {
				for r := range rooms {
					warm = append(warm, quietLine(t, r, fmt.Sprintf("w%d", i), ts))
				}
			}
			produceEvents(t, brokers, tp.Events, warm)
			if mode.cfg != nil {
				waitCaughtUp(t, brokers, group, tp.Events, 2*time.Minute)
			}
			txn0, snap0 := metricValue(reg, "ovation_processor_transactions_total", "commit"), metricValue(reg, "ovation_processor_snapshots_written_total", "")
			cpu0 := cpuTime()
			var bcpu0 time.Duration
			if kind == "kafka" && brokerPID > 0 {
				bcpu0 = procCPU(brokerPID)
			}
			h0 := histogram(reg, "ovation_processor_txn_commit_seconds")
			rq0 := rc.snapshot()
			lat, sent := measureQuiet(t, brokers, tp, cl, rooms, perRoom, d)
			cpu := cpuTime() - cpu0
			rq := rc.snapshot().sub(rq0)
			var bcpu time.Duration
			if kind == "kafka" && brokerPID > 0 {
				bcpu = procCPU(brokerPID) - bcpu0
			}
			hd := histogram(reg, "ovation_processor_txn_commit_seconds").sub(h0)
			slices.Sort(lat)
			r := result{broker: kind, mode: mode.name, n: len(lat), sent: sent, reqs: rq,
				txns:   (metricValue(reg, "ovation_processor_transactions_total", "commit") - txn0) / d.Seconds(),
				snaps:  (metricValue(reg, "ovation_processor_snapshots_written_total", "") - snap0) / d.Seconds(),
				endP50: hd.quantile(0.5) * 1000, endP99: hd.quantile(0.99) * 1000}
			if len(lat) > 0 {
				r.p50, r.p90, r.p99, r.max = lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1]
			}
			if sent > 0 {
				r.cpuPer1k = cpu.Seconds() / float64(sent) * 1000
				r.brokerUS = float64(bcpu.Microseconds()) / float64(sent)
			}
			results = append(results, r)
			stop()
		}
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "broker\tmode (%d rooms x %d chat lines/s, %s)\tframes\tp50\tp90\tp99\tmax\ttxns/s\ttxn end p50\tp99\tsnapshots/s\tprocess CPU-s per 1k events\tbroker CPU µs per event\trequests per event\tbatches per event\tpartitions per txn\n", rooms, perRoom, d)
	for _, r := range results {
		perTxn := 0.0
		if n := r.reqs.reqs[kmsg.EndTxn.Int16()]; n > 0 {
			perTxn = float64(r.reqs.marked) / float64(n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.0f\t%.1fms\t%.1fms\t%.0f\t%.3f\t%.0f\t%.2f\t%.2f\t%.1f\n", r.broker, r.mode, r.n, r.p50, r.p90, r.p99, r.max, r.txns, r.endP50, r.endP99, r.snaps, r.cpuPer1k,
			r.brokerUS, float64(r.reqs.total())/float64(max(r.sent, 1)), float64(r.reqs.batches)/float64(max(r.sent, 1)), perTxn)
	}
	tw.Flush()
	// Requests by kind, per event sent.
	for _, r := range results {
		fmt.Fprintf(&sb, "%s, %s: %s\n", r.broker, r.mode, r.reqs.perLine(r.sent))
	}
	t.Log("\n" + sb.String())
}

// quietLine is a chat line of typical length in room r.
func quietLine(t testing.TB, r int, id string, ts int64) *schemas.Event {
	return ev(t, id, fmt.Sprintf("quiet%d", r), fmt.Sprintf("user%d", r), schemas.ChatMessage, ts,
		schemas.ChatMessageData{Text: "hello there, this is a chat line of typical length " + id, Name: "Zoë"})
}

// measureQuiet sends perRoom chat lines a second to each of rooms rooms,
// evenly spread, for d, and returns for every frame a read_committed
// reader receives the time from its newest event's stamp (taken just
// before the produce) to its arrival, and how many events it sent. The
// stamp is in ms, so is the latency: sub-millisecond results show as 0
// or 1 ms.
func measureQuiet(t testing.TB, brokers []string, tp schemas.Topics, cl *kgo.Client, rooms, perRoom int, d time.Duration) (lat []time.Duration, sent int) {
	rc := kafkatest.Client(t, brokers, kgo.ConsumeTopics(tp.Frames), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	rc.PollFetches(wctx) // the reader's start position is known before anything is sent
	wcancel()
	every := time.Second / time.Duration(rooms*perRoom)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		for ; time.Since(start) < d; sent++ {
			i := sent
			if wait := time.Until(start.Add(time.Duration(i) * every)); wait > 0 {
				time.Sleep(wait)
			}
			e := quietLine(t, i%rooms, fmt.Sprintf("q%d", i), time.Now().UnixMilli())
			b, _ := e.Marshal()
			cl.Produce(ctx, &kgo.Record{Key: []byte(e.Room), Value: b}, nil)
		}
		cl.Flush(ctx)
	}()
	end := time.Now().Add(d + 2*time.Second)
	for time.Now().Before(end) {
		pctx, pcancel := context.WithDeadline(ctx, end)
		fs := rc.PollFetches(pctx)
		pcancel()
		now := time.Now().UnixMilli()
		fs.EachRecord(func(r *kgo.Record) {
			f, err := schemas.UnmarshalFrame(r.Value)
			if err == nil && f.TS > 0 {
				lat = append(lat, time.Duration(now-f.TS)*time.Millisecond)
			}
		})
	}
	<-done
	return lat, sent
}

// quietPartition is a partition of rooms rooms, each with a full chat
// history (100 lines), as the quiet-rooms scenario has after a while.
func quietPartition(tb testing.TB, cfg *Config, rooms int) *harnessLite {
	h := &harnessLite{p: NewPartition(cfg), now: 1_000_000}
	for i := range 100 {
		for r := range rooms {
			h.apply(tb, quietLine(tb, r, fmt.Sprintf("w%d", i), h.now))
		}
		h.flush()
	}
	return h
}

// harnessLite drives a Partition like the Kafka loop and only counts what
// it writes (the benchmarks' harness: no decoding).
type harnessLite struct {
	p                  *Partition
	b                  Batch
	now                int64
	frames, snaps      int
	frameB, snapB, clB int
}

func (h *harnessLite) apply(tb testing.TB, e *schemas.Event) {
	if o, r := h.p.Apply(e, &h.b); o != Applied {
		tb.Fatalf("event %s: %v %s", e.ID, o, r)
	}
}

func (h *harnessLite) flush() {
	h.p.Flush(h.now, &h.b)
	h.frames += len(h.b.Frames)
	h.snaps += len(h.b.Snapshots)
	for _, r := range h.b.Frames {
		h.frameB += len(r.Value)
	}
	for _, r := range h.b.Snapshots {
		h.snapB += len(r.Value)
	}
	for _, r := range h.b.Changelog {
		h.clB += len(r.Key) + len(r.Value)
	}
	h.b.Reset()
}

// BenchmarkQuietTick is a quiet partition's transaction as the adaptive
// tick makes it: one chat line into one of 100 rooms (each with a full
// chat history), then Flush, every 2 ms of processor clock: the issue's
// quiet-rooms load, 100 rooms x 5 lines/s, each line its own transaction.
// Sub-benchmarks: the
// configuration before issue 18 (a snapshot in every transaction) and
// the defaults. TestQuietTickRatio prints them side by side.
func BenchmarkQuietTick(b *testing.B) {
	for _, m := range quietTickModes {
		b.Run(m.name, func(b *testing.B) { quietTick(b, m.cfg) })
	}
}

var quietTickModes = []quietMode{
	{name: "before", cfg: func(c *Config) { c.SnapshotEvery = 1 }},
	{name: "after", cfg: func(*Config) {}},
}

func quietTick(b *testing.B, mod func(*Config)) {
	cfg := testConfig()
	mod(cfg)
	h := quietPartition(b, cfg, 100)
	h.frames, h.snaps, h.frameB, h.snapB, h.clB = 0, 0, 0, 0, 0
	// The events are made first: only folding and flushing is timed.
	evs := make([]*schemas.Event, b.N)
	for i := range evs {
		evs[i] = quietLine(b, i%100, fmt.Sprintf("q%d", i), h.now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.now += 2
		h.apply(b, evs[i])
		h.flush()
	}
	b.StopTimer()
	b.ReportMetric(float64(h.snaps)/float64(b.N), "snapshots/op")
	b.ReportMetric(float64(h.snapB+h.clB+h.frameB)/float64(b.N), "bytes-written/op")
}

// TestQuietTickRatio runs BenchmarkQuietTick's modes in one run (with
// OVATION_PROC_BENCH=1) and prints them side by side with their ratio.
func TestQuietTickRatio(t *testing.T) {
	if os.Getenv("OVATION_PROC_BENCH") != "1" {
		t.Skip("OVATION_PROC_BENCH=1 runs the quiet-tick benchmark")
	}
	type res struct {
		ns, allocs, bytes, written, snaps float64
	}
	var rs []res
	for _, m := range quietTickModes {
		r := testing.Benchmark(func(b *testing.B) { quietTick(b, m.cfg) })
		rs = append(rs, res{ns: float64(r.NsPerOp()), allocs: float64(r.AllocsPerOp()), bytes: float64(r.AllocedBytesPerOp()),
			written: r.Extra["bytes-written/op"], snaps: r.Extra["snapshots/op"]})
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "quiet tick (1 chat line into 1 of 100 full rooms, then Flush)\tns/op\tallocs/op\tB alloc/op\tbytes written/op\tsnapshots/op\n")
	for i, m := range quietTickModes {
		r := rs[i]
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\n", m.name, r.ns, r.allocs, r.bytes, r.written, r.snaps)
	}
	a, b := rs[1], rs[0]
	fmt.Fprintf(tw, "after/before\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t\n", a.ns/b.ns, a.allocs/b.allocs, a.bytes/b.bytes, a.written/b.written)
	tw.Flush()
	t.Log("\n" + sb.String())
}

// BenchmarkQuietTickDefault is BenchmarkQuietTick with the default
// configuration, named so that runs of two commits compare with
// benchstat (the commit before issue 18 has the same benchmark).
func BenchmarkQuietTickDefault(b *testing.B) { quietTick(b, func(*Config) {}) }
