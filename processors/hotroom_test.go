package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ovation-live/ovation/schemas"
)

// TestHotRoomFramesPerTick: with the adaptive tick (Config.Linger, and
// with Config.FetchWait), a room taking an event every 2 ms still gets
// about one frame per tick, not one per linger: its transactions run to
// the tick once it is hot (a frame
// within the last tick, Partition.Hot). Before that rule a 500 events/s
// room got ~85 frames/s, and its 2,000 viewers five times the socket
// writes (docs/benchmarks.md, issue 18's hot room). A quiet room's event
// afterwards is still committed at the linger. Counts are exact. ~5 s.
func TestHotRoomFramesPerTick(t *testing.T) {
	t.Run("linger", func(t *testing.T) { hotRoomFramesPerTick(t, -1) })
	// With the fetch wait (the roles' default) a transaction's tick
	// counts from its first record (fetchStart), and the hot rule holds
	// the same.
	t.Run("fetch wait", func(t *testing.T) { hotRoomFramesPerTick(t, DefaultFetchWait) })
}

func hotRoomFramesPerTick(t *testing.T, fetchWait time.Duration) {
	tp := testTopics(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cfg := Config{Brokers: brokers, Topics: tp, Group: "g", TransactionalID: "p-1", Tick: 50 * time.Millisecond, Linger: 2 * time.Millisecond,
		FetchWait: fetchWait, Log: testLogger(t), Registerer: prometheus.NewRegistry()}
	_, stop := runProcessor(t, cfg)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(tp.Events), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	m := newModel()
	send := func(e *schemas.Event) {
		m.apply(e)
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(e.Room), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	// Warm up: the group joins and the first frame is out.
	send(ev(t, "w", "hot", "u0", schemas.ChatMessage, time.Now().UnixMilli(), schemas.ChatMessageData{Text: "hi"}))
	waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)

	const n = 500
	start := time.Now()
	for i := range n {
		if ahead := time.Duration(i)*2*time.Millisecond - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
		send(ev(t, fmt.Sprintf("h%d", i), "hot", fmt.Sprintf("u%d", i%50), schemas.Reaction, time.Now().UnixMilli(), schemas.ReactionData{Emoji: "👏"}))
	}
	took := time.Since(start)
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	quietAt := time.Now()
	send(ev(t, "q", "quiet", "u", schemas.ChatMessage, quietAt.UnixMilli(), schemas.ChatMessageData{Text: "hello"}))
	waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)
	verifyOutput(t, brokers, tp, m)

	frames := 0
	var quietFrame time.Time
	for _, r := range readAll(t, brokers, tp.Frames).records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			continue
		}
		switch f.Room {
		case "hot":
			frames++
		case "quiet":
			quietFrame = r.Timestamp
		}
	}
	// One frame per tick over the burst, with slack for the first
	// (linger) transaction and for ticks stretched by a loaded machine.
	ticks := int(took/cfg.Tick) + 1
	t.Logf("%d events in %s to one room: %d frames (%d ticks); the quiet room's event framed %s after it was sent", n, took.Round(time.Millisecond), frames, ticks, quietFrame.Sub(quietAt).Round(time.Millisecond))
	if frames > ticks*3/2+3 {
		t.Errorf("%d frames for a %s burst: want about one per %s tick (%d), not one per linger", frames, took.Round(time.Millisecond), cfg.Tick, ticks)
	}
}

// TestTxnIntervalSharesTransactions: under a steady trickle of events
// into many quiet rooms (one every 5 ms, 20 rooms), Config.TxnInterval
// keeps commits at most one per interval, so several events share a
// transaction and its fixed cost; without it each event's transaction
// ends at the linger (2 ms) and the same trickle takes about one
// transaction per event (196 for 200 when the test was written). Without
// Config.FetchWait, whose fetches would share transactions on their own
// (TestFetchWaitCollectsTrickle). Output is exact (verifyOutput). ~3 s.
func TestTxnIntervalSharesTransactions(t *testing.T) {
	tp := testTopics(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	reg := prometheus.NewRegistry()
	cfg := Config{Brokers: brokers, Topics: tp, Group: "g", TransactionalID: "p-1", Tick: 50 * time.Millisecond, Linger: 2 * time.Millisecond,
		TxnInterval: 25 * time.Millisecond, FetchWait: -1, Log: testLogger(t), Registerer: reg}
	_, stop := runProcessor(t, cfg)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(tp.Events), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	m := newModel()
	send := func(e *schemas.Event) {
		m.apply(e)
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(e.Room), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	send(ev(t, "w", "room0", "u0", schemas.ChatMessage, time.Now().UnixMilli(), schemas.ChatMessageData{Text: "hi"}))
	waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)

	commits := func() float64 { return metricValue(reg, "ovation_processor_transactions_total", "commit") }
	c0 := commits()
	const n = 200
	start := time.Now()
	for i := range n {
		if ahead := time.Duration(i)*5*time.Millisecond - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
		send(ev(t, fmt.Sprintf("e%d", i), fmt.Sprintf("room%d", i%20), fmt.Sprintf("u%d", i%20), schemas.ChatMessage, time.Now().UnixMilli(), schemas.ChatMessageData{Text: "hello"}))
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)
	took := time.Since(start)
	txns := int(commits() - c0)

	// A partition idle for longer than the interval commits at the
	// linger. (After the lagging snapshots' own transaction, 250 ms after
	// the last records, franz-go holds the next commit for 500 ms: see
	// catchUpQuiet. Wait past that.)
	time.Sleep(time.Second)
	quietAt := time.Now()
	send(ev(t, "q", "quiet", "u", schemas.ChatMessage, quietAt.UnixMilli(), schemas.ChatMessageData{Text: "hello"}))
	waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)
	verifyOutput(t, brokers, tp, m)
	var quietFrame time.Time
	for _, r := range readAll(t, brokers, tp.Frames).records {
		if f, err := schemas.UnmarshalFrame(r.Value); err == nil && f.Room == "quiet" {
			quietFrame = r.Timestamp
		}
	}
	// At most one commit per interval while the trickle lasts, plus the
	// catch-up of lagging snapshots after it (a transaction of their own).
	bound := int(took/cfg.TxnInterval) + 4
	t.Logf("%d events over %s into 20 rooms: %d transactions (at most %d); the idle partition's event framed %s after it was sent",
		n, took.Round(time.Millisecond), txns, bound, quietFrame.Sub(quietAt).Round(time.Millisecond))
	if txns > bound {
		t.Errorf("%d transactions for %d events over %s: want at most one per %s (%d)", txns, n, took.Round(time.Millisecond), cfg.TxnInterval, bound)
	}
}

// TestFetchWaitCollectsTrickle: under a trickle of events into quiet
// rooms (one every 2 ms into 100 rooms, each room's 200 ms apart, two
// partitions: issue 18's 500 lines a second), Config.FetchWait makes the broker collect them, so the
// processor sends about one fetch per FetchWait instead of one per event,
// and each fetch's events share a transaction. Without it (FetchWait -1,
// linger and interval as before) the same trickle takes about one fetch
// per event (when the processor keeps up: under -race on a loaded
// machine it falls behind and takes a backlog per fetch either way). The processor's own requests are counted by a franz-go hook;
// output is exact in both (verifyOutput). ~5 s.
func TestFetchWaitCollectsTrickle(t *testing.T) {
	type result struct {
		fetches, txns int
		idle          time.Duration
	}
	run := func(t *testing.T, wait time.Duration) result {
		tp := testTopics(t)
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		brokers := c.ListenAddrs()
		reg := prometheus.NewRegistry()
		cfg := Config{Brokers: brokers, Topics: tp, Group: "g", TransactionalID: "p-1", FetchWait: wait, Log: testLogger(t), Registerer: reg}
		rc := newReqCounter()
		_, stop := runProcessor(t, cfg, kgo.WithHooks(rc))
		defer stop()
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(tp.Events), kgo.ProducerLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		m := newModel()
		send := func(e *schemas.Event) {
			m.apply(e)
			v, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			cl.Produce(ctx, &kgo.Record{Key: []byte(e.Room), Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
		send(ev(t, "w", "room0", "u0", schemas.ChatMessage, time.Now().UnixMilli(), schemas.ChatMessageData{Text: "hi"}))
		waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)

		commits := func() float64 { return metricValue(reg, "ovation_processor_transactions_total", "commit") }
		c0, r0 := commits(), rc.snapshot()
		const n = 500
		start := time.Now()
		for i := range n {
			if ahead := time.Duration(i)*2*time.Millisecond - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
			send(ev(t, fmt.Sprintf("e%d", i), fmt.Sprintf("room%d", i%100), fmt.Sprintf("u%d", i%100), schemas.ChatMessage, time.Now().UnixMilli(), schemas.ChatMessageData{Text: "hello"}))
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)
		res := result{fetches: rc.snapshot().sub(r0).reqs[kmsg.Fetch.Int16()], txns: int(commits() - c0)}

		// An event into an idle partition is framed within the fetch
		// wait (plus the commit); logged, not asserted (a loaded machine
		// stretches it).
		time.Sleep(time.Second)
		quietAt := time.Now()
		send(ev(t, "q", "quiet", "u", schemas.ChatMessage, quietAt.UnixMilli(), schemas.ChatMessageData{Text: "hello"}))
		waitCaughtUp(t, brokers, "g", tp.Events, 30*time.Second)
		verifyOutput(t, brokers, tp, m)
		for _, r := range readAll(t, brokers, tp.Frames).records {
			if f, err := schemas.UnmarshalFrame(r.Value); err == nil && f.Room == "quiet" {
				res.idle = r.Timestamp.Sub(quietAt)
			}
		}
		t.Logf("fetch wait %s: %d events, 2 ms apart into 100 rooms: %d fetches, %d transactions; the idle partition's event framed %s after it was sent",
			wait, n, res.fetches, res.txns, res.idle.Round(time.Millisecond))
		return res
	}
	var with, without result
	t.Run("wait", func(t *testing.T) { with = run(t, 10*time.Millisecond) })
	t.Run("none", func(t *testing.T) { without = run(t, -1) })
	// 500 events over ~1 s: about 100 fetches of ~10 ms each with the
	// wait (idle fetches included), about one per event without it.
	if with.fetches > 250 {
		t.Errorf("with a 10ms fetch wait: %d fetches for 500 events 2 ms apart, want at most 250 (one per ~10 ms, not one per event)", with.fetches)
	}
	// Without the wait, a processor that keeps up fetches once per event;
	// one that fell behind (-race on a loaded machine) takes a backlog
	// per fetch, and the comparison says nothing.
	if without.fetches >= 400 && without.fetches < 2*with.fetches {
		t.Errorf("without the fetch wait: %d fetches, with it %d: the wait should at least halve them", without.fetches, with.fetches)
	}
}
