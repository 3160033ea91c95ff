package processors

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestBenchTxnVsAtLeastOnce measures, in one run against the real broker
// (OVATION_KAFKA_BROKERS) and with OVATION_PROC_BENCH=1, the same
// processor loop with transactions (exactly-once) and without (at least
// once): events/s aggregated from a backlog, and the latency a frame adds
// (produce time of its newest event → visible to a read_committed reader)
// at a steady rate. It prints a table; the ratio is what to quote, since
// this machine is shared.
func TestBenchTxnVsAtLeastOnce(t *testing.T) {
	if os.Getenv("OVATION_PROC_BENCH") != "1" {
		t.Skip("OVATION_PROC_BENCH=1 runs the processor benchmark (about a minute)")
	}
	brokers := kafkatest.Brokers(t)
	n := 300_000
	if v := os.Getenv("OVATION_PROC_BENCH_EVENTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	// One backlog, reused by both modes: rooms busy enough that each tick
	// folds many events per room, as in a live show.
	g := newGen(1, 100)
	ts := time.Now().UnixMilli()
	raw := make([][]byte, 0, n)
	keys := make([][]byte, 0, n)
	for i := range n {
		e := g.next(t, ts+int64(i/100))
		b, _ := e.Marshal()
		raw = append(raw, b)
		keys = append(keys, []byte(e.Room))
	}
	type result struct {
		mode                 string
		rate                 float64
		p50, p90, p99, pmax  time.Duration
		frames, commits      float64
		changelogMBps        float64
		perCPU               float64
		commitP50, commitP99 float64
	}
	var results []result
	var restore string
	// Two rounds, alternating, so both modes see the same machine load.
	for round, alo := range []bool{false, true, false, true} {
		mode := "exactly-once (transactions)"
		if alo {
			mode = "at-least-once (no transactions)"
		}
		tp := testTopics(t)
		createTopics(t, brokers, tp, 4, 1)
		cl := kafkatest.Client(t, brokers, kgo.DefaultProduceTopic(tp.Events), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		for i := range raw {
			cl.Produce(ctx, &kgo.Record{Key: keys[i], Value: raw[i]}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		group := "bench-" + tp.Events
		_, stop := runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group,
			AtLeastOnce: alo, Log: testLogger(t), Registerer: reg})
		// Throughput: from the first applied event to the backlog's end.
		var first time.Time
		var cpu0 time.Duration
		for first.IsZero() {
			if metricValue(reg, "ovation_processor_events_applied_total", "") > 0 {
				first, cpu0 = time.Now(), cpuTime()
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The end: every record of the backlog folded (applied, ignored
		// or dead-lettered); the last tick's commit follows within a tick.
		seen := func() float64 {
			return metricValue(reg, "ovation_processor_events_applied_total", "") +
				metricValue(reg, "ovation_processor_events_ignored_total", "") +
				metricValue(reg, "ovation_processor_events_dead_lettered_total", "")
		}
		for seen() < float64(n) {
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(first)
		cpu := cpuTime() - cpu0
		waitCaughtUp(t, brokers, group, tp.Events, 3*time.Minute)
		consumed := float64(n)
		r := result{mode: mode, rate: consumed / took.Seconds(), perCPU: consumed / cpu.Seconds(),
			frames: metricValue(reg, "ovation_processor_frames_written_total", ""), commits: metricValue(reg, "ovation_processor_transactions_total", "commit"),
			changelogMBps: metricValue(reg, "ovation_processor_changelog_bytes_total", "") / took.Seconds() / 1e6}

		if round < 2 {
			// Latency at a steady 20,000 events/s (issue 8's load) for 8 s.
			h0 := histogram(reg, "ovation_processor_txn_commit_seconds")
			lat := measureLatency(t, brokers, tp, cl, g, 20000, 8*time.Second)
			h1 := histogram(reg, "ovation_processor_txn_commit_seconds")
			r.commitP50, r.commitP99 = h1.sub(h0).quantile(0.5), h1.sub(h0).quantile(0.99)
			slices.Sort(lat)
			if len(lat) > 0 {
				r.p50, r.p90, r.p99, r.pmax = lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1]
			}
		}
		results = append(results, r)
		stop()
		if round == 0 {
			// Restore: a new processor takes over the partitions and
			// reads their changelog.
			reg2 := prometheus.NewRegistry()
			_, stop2 := runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group,
				Log: testLogger(t), Registerer: reg2})
			for i := range 100 {
				room := fmt.Sprintf("room%d", i)
				b := fmt.Sprintf(`{"v":1,"id":"wake-%s","room":%q,"user":"u","type":"reaction","ts":%d,"data":{"emoji":"👏"}}`, room, room, time.Now().UnixMilli())
				cl.Produce(ctx, &kgo.Record{Key: []byte(room), Value: []byte(b)}, nil)
			}
			cl.Flush(ctx)
			deadline := time.Now().Add(2 * time.Minute)
			for metricValue(reg2, "ovation_processor_restore_seconds", "") < 4 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			restore = fmt.Sprintf("restore of 4 partitions (100 rooms) after the exactly-once backlog: %.0f changelog records, %.2f s in all (ovation_processor_restore_seconds sum)",
				metricValue(reg2, "ovation_processor_restore_records_total", ""), histogram(reg2, "ovation_processor_restore_seconds").sum)
			stop2()
		}
		cancel()
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "mode\tevents/s (backlog of %d)\tevents per CPU-second\tframes\ttxns\tchangelog MB/s\tframe latency p50\tp90\tp99\tmax (steady 20k ev/s, tick 50ms)\ttxn end p50\tp99\n", n)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%.0fms\t%.0fms\n", r.mode, r.rate, r.perCPU, r.frames, r.commits, r.changelogMBps, r.p50, r.p90, r.p99, r.pmax, r.commitP50*1000, r.commitP99*1000)
	}
	tw.Flush()
	eo := (results[0].rate + results[2].rate) / 2
	al := (results[1].rate + results[3].rate) / 2
	fmt.Fprintf(&sb, "mean of two rounds: exactly-once %.0f events/s, at-least-once %.0f events/s, ratio %.2f\n", eo, al, eo/al)
	ec := (results[0].perCPU + results[2].perCPU) / 2
	ac := (results[1].perCPU + results[3].perCPU) / 2
	fmt.Fprintf(&sb, "per CPU-second of the processor (load-independent): exactly-once %.0f, at-least-once %.0f, ratio %.2f\n", ec, ac, ec/ac)
	sb.WriteString(restore + "\n")
	t.Log("\n" + sb.String())
}

// measureLatency produces events stamped with the current time at rate
// for d and returns, for every frame a read_committed reader receives, the
// time from its newest event's stamp to its arrival.
func measureLatency(t testing.TB, brokers []string, tp schemas.Topics, cl *kgo.Client, g *gen, rate int, d time.Duration) []time.Duration {
	rc := kafkatest.Client(t, brokers, kgo.ConsumeTopics(tp.Frames), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), d+15*time.Second)
	defer cancel()
	// Make sure the reader has its start position before producing.
	wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	rc.PollFetches(wctx)
	wcancel()
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		i := 0
		for time.Since(start) < d {
			for ; i < int(time.Since(start).Seconds()*float64(rate)); i++ {
				e := g.next(t, time.Now().UnixMilli())
				e2 := *e
				e2.ID = fmt.Sprintf("lat%d-%s", i, e.ID)
				e2.TS = time.Now().UnixMilli()
				b, _ := e2.Marshal()
				cl.Produce(ctx, &kgo.Record{Key: []byte(e.Room), Value: b}, nil)
			}
			time.Sleep(2 * time.Millisecond)
		}
		cl.Flush(ctx)
	}()
	end := time.Now().Add(d + 3*time.Second)
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
	return lat
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hist is a Prometheus histogram's cumulative buckets.
type hist struct {
	bounds []float64
	counts []float64
	sum    float64
}

func histogram(reg *prometheus.Registry, name string) hist {
	var h hist
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ph := m.GetHistogram()
			h.sum += ph.GetSampleSum()
			for _, b := range ph.GetBucket() {
				h.bounds = append(h.bounds, b.GetUpperBound())
				h.counts = append(h.counts, float64(b.GetCumulativeCount()))
			}
		}
	}
	return h
}

func (h hist) sub(o hist) hist {
	d := hist{bounds: h.bounds, counts: slices.Clone(h.counts), sum: h.sum - o.sum}
	for i := range d.counts {
		if i < len(o.counts) {
			d.counts[i] -= o.counts[i]
		}
	}
	return d
}

// quantile interpolates the q-quantile inside its bucket.
func (h hist) quantile(q float64) float64 {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return 0
	}
	target := q * h.counts[len(h.counts)-1]
	lo, prev := 0.0, 0.0
	for i, c := range h.counts {
		if c >= target {
			if c == prev {
				return h.bounds[i]
			}
			return lo + (h.bounds[i]-lo)*(target-prev)/(c-prev)
		}
		lo, prev = h.bounds[i], c
	}
	return h.bounds[len(h.bounds)-1]
}

// BenchmarkRoomMemory reports the live heap one room costs while active
// (one event folded and flushed) and once evicted (only where its state
// is in the changelog), side by side: bytes/active-room and
// bytes/evicted-room. Run with -benchtime=100000x.
func BenchmarkRoomMemory(b *testing.B) {
	cfg := testConfig()
	h := newHarness(b, cfg)
	live := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	start := live()
	b.ResetTimer()
	for i := range b.N {
		h.p.Apply(ev(b, fmt.Sprintf("e%d", i), fmt.Sprintf("room-%d", i), "viewer", schemas.Reaction, h.now, schemas.ReactionData{Emoji: "👍"}), &h.batch)
		if i%1000 == 999 {
			h.p.Flush(h.now, &h.batch)
			h.batch.Reset()
		}
	}
	h.p.Flush(h.now, &h.batch)
	h.batch.Reset()
	b.StopTimer()
	active := live()
	if f := os.Getenv("OVATION_ROOM_HEAP"); f != "" {
		if w, err := os.Create(f); err == nil {
			pprof.WriteHeapProfile(w)
			w.Close()
		}
	}
	h.now += cfg.RoomIdle.Milliseconds() + 1
	h.p.Evict(h.now, &h.batch)
	for _, r := range h.batch.Changelog {
		if isEvictedCore(&kgo.Record{Key: r.Key, Value: r.Value}) {
			h.p.Evicted(roomOfKey(kindChangelog, r.Key), 1)
		}
	}
	h.batch = Batch{}
	evicted := live()
	if h.p.Rooms() != 0 || h.p.EvictedRooms() != b.N {
		b.Fatalf("%d rooms in memory, %d evicted", h.p.Rooms(), h.p.EvictedRooms())
	}
	b.ReportMetric(float64(int64(active)-int64(start))/float64(b.N), "bytes/active-room")
	b.ReportMetric(float64(int64(evicted)-int64(start))/float64(b.N), "bytes/evicted-room")
}
