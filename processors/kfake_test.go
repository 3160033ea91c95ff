package processors

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ovation-live/ovation/schemas"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("OVATION_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// runProcessor starts a processor and returns a stop function that waits
// for it.
func runProcessor(t testing.TB, cfg Config, kopts ...kgo.Opt) (*Processor, func()) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := p.Run(ctx, kopts...); err != nil {
			t.Errorf("processor: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return p, stop
}

// TestKfakeFaults runs the processor against kfake with injected faults —
// InitProducerID answered CONCURRENT_TRANSACTIONS, EndTxn delayed, offset
// commits inside transactions failed (so transactions abort and state is
// restored from the changelog), and the processor replaced mid-run by a
// new one with the same transactional id — and checks the exact result.
func TestKfakeFaults(t *testing.T) {
	tp := testTopics(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()

	var initFails, endDelays, commitFails atomic.Int32
	c.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if initFails.Add(1) > 3 {
			c.DropControl()
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
		return resp, nil, true
	})
	var endN atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if endN.Add(1)%7 == 0 {
			endDelays.Add(1)
			c.SleepControl(func() { time.Sleep(300 * time.Millisecond) })
		}
		return nil, nil, false
	})
	var commitN atomic.Int32
	c.ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if commitN.Add(1)%15 != 0 || commitFails.Load() >= 4 {
			return nil, nil, false
		}
		commitFails.Add(1)
		r := req.(*kmsg.TxnOffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.IllegalGeneration.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	g := newGen(7, 12)
	m := newModel()
	var evs []*schemas.Event
	ts := time.Now().UnixMilli()
	for i := range 20_000 {
		e := g.next(t, ts+int64(i/100))
		evs = append(evs, e)
		m.apply(e)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{Brokers: brokers, Topics: tp, Group: "g", TransactionalID: "p-1", Tick: 20 * time.Millisecond,
		SessionTimeout: 3 * time.Second, TransactionTimeout: 2 * time.Second, Log: testLogger(t), Registerer: reg, MaxPollRecords: 500}
	_, stop := runProcessor(t, cfg)
	reg2 := prometheus.NewRegistry()
	for i := 0; i < len(evs); i += 500 {
		produceEvents(t, brokers, tp.Events, evs[i:i+500])
		time.Sleep(40 * time.Millisecond)
		if i == 10_000 {
			// A hand-over: the next processor, with the same
			// transactional id, restores from the changelog.
			stop()
			cfg.Registerer = reg2
			runProcessor(t, cfg)
		}
	}
	waitCaughtUp(t, brokers, "g", tp.Events, 90*time.Second)
	frames := verifyOutput(t, brokers, tp, m)

	aborts := newMetricsFrom(reg).abort + newMetricsFrom(reg2).abort
	t.Logf("faults: %d InitProducerID refused, %d EndTxn delayed, %d offset commits failed; %d aborted transactions; frames read: %d records, %d commit and %d abort markers",
		min(initFails.Load(), 3), endDelays.Load(), commitFails.Load(), int(aborts), len(frames.records), frames.commits, frames.aborts)
	if initFails.Load() < 3 || endDelays.Load() == 0 || commitFails.Load() == 0 {
		t.Fatalf("faults not all injected: init %d, end delays %d, commit fails %d", initFails.Load(), endDelays.Load(), commitFails.Load())
	}
	if r := metricValue(reg2, "ovation_processor_restore_records_total", ""); r == 0 {
		t.Fatal("the second processor restored nothing from the changelog")
	}
	if int(aborts) < int(commitFails.Load()) || frames.aborts == 0 {
		t.Fatalf("want every failed offset commit to abort its transaction: %v aborts for %d failures, %d abort markers", aborts, commitFails.Load(), frames.aborts)
	}
}

type metricsView struct{ abort float64 }

func newMetricsFrom(reg *prometheus.Registry) metricsView {
	return metricsView{abort: metricValue(reg, "ovation_processor_transactions_total", "abort")}
}

// metricValue sums the metric name in reg over the series whose label
// values include want (all series when want is "").
func metricValue(reg *prometheus.Registry, name, want string) float64 {
	mfs, _ := reg.Gather()
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := want == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetValue() == want
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				v += c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				v += g.GetValue()
			} else if h := m.GetHistogram(); h != nil {
				v += float64(h.GetSampleCount())
			}
		}
	}
	return v
}

// TestSnapshotCatchUpAfterHandover: a processor commits frames whose
// snapshot lags (Config.SnapshotInterval not yet passed) and stops; the
// next owner of the partition writes the snapshot at the last frame
// without any further event, because it restores assigned partitions at
// once rather than on their next record. Without that, a quiet room's
// snapshot would lag until its next event, and a pusher that lost its
// window of frames could not serve it.
func TestSnapshotCatchUpAfterHandover(t *testing.T) {
	tp := testTopics(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cfg := Config{Brokers: brokers, Topics: tp, Group: "g", TransactionalID: "p-1", SnapshotInterval: time.Minute,
		SessionTimeout: 3 * time.Second, TransactionTimeout: 2 * time.Second, Log: testLogger(t), Registerer: prometheus.NewRegistry()}
	_, stop := runProcessor(t, cfg)
	m := newModel()
	ts := time.Now().UnixMilli()
	for i := range 5 {
		e := ev(t, fmt.Sprintf("e%d", i), "quiet", "u", schemas.ChatMessage, ts+int64(i), schemas.ChatMessageData{Text: "hi"})
		m.apply(e)
		produceEvents(t, brokers, tp.Events, []*schemas.Event{e})
		time.Sleep(50 * time.Millisecond) // a frame each
	}
	waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)
	stop()
	last := func() (frame, snap uint64) {
		for _, r := range readAll(t, brokers, tp.Frames).records {
			f, _ := schemas.UnmarshalFrame(r.Value)
			frame = f.Seq
		}
		for _, r := range readAll(t, brokers, tp.Snapshots).records {
			s, _ := schemas.UnmarshalSnapshot(r.Value)
			snap = s.Seq
		}
		return
	}
	if f, s := last(); f < 2 || s >= f {
		t.Fatalf("frames end at %d, snapshot at %d: the test needs a lagging snapshot", f, s)
	}
	cfg.SnapshotInterval = 200 * time.Millisecond
	cfg.Registerer = prometheus.NewRegistry()
	runProcessor(t, cfg)
	verifyOutput(t, brokers, tp, m) // waits up to 15 s for the snapshot
}
