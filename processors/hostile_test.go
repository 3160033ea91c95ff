package processors

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// frameWatch reads a frames topic live, read_committed, and keeps for
// every frame of the watched room how long after its newest event it
// became readable (what a pusher, and so a viewer, waits).
type frameWatch struct {
	mu     sync.Mutex
	delays []time.Duration
}

func watchFrames(t *testing.T, brokers []string, topic, room string) (*frameWatch, func()) {
	t.Helper()
	w := &frameWatch{}
	cl := kafkatest.Client(t, brokers,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now().UnixMilli()
			fs.EachRecord(func(r *kgo.Record) {
				if string(r.Key) != room {
					return
				}
				f, err := schemas.UnmarshalFrame(r.Value)
				if err != nil || f.Delta.Totals == nil {
					return // a viewers-only frame carries no event time
				}
				w.mu.Lock()
				w.delays = append(w.delays, time.Duration(now-f.TS)*time.Millisecond)
				w.mu.Unlock()
			})
		}
	}()
	return w, func() { cancel(); <-done }
}

// p99 returns the 99th percentile delay and the number of frames.
func (w *frameWatch) p99() (time.Duration, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := slices.Clone(w.delays)
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*99/100)], len(d)
}

// neighbour publishes reactions into room at about rate per second until
// stopped, each stamped with the time it is produced, and returns them.
func neighbour(t *testing.T, brokers []string, topic, room string, rate int) func() []*schemas.Event {
	t.Helper()
	cl := kafkatest.Client(t, brokers, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	ctx, cancel := context.WithCancel(context.Background())
	var evs []*schemas.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			e := ev(t, fmt.Sprintf("n%d", i), room, fmt.Sprintf("viewer%d", i%50), schemas.Reaction, time.Now().UnixMilli(), schemas.ReactionData{Emoji: "👏"})
			b, _ := e.Marshal()
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(room), Value: b}).FirstErr(); err != nil {
				if ctx.Err() == nil {
					t.Errorf("neighbour produce: %v", err)
				}
				return
			}
			evs = append(evs, e)
		}
	}()
	return func() []*schemas.Event { cancel(); <-done; return evs }
}

// TestHostileRoomsNextToANeighbour feeds the three inputs that used to
// make a partition abort forever (issue 12), each into one room of a
// one-partition topic while a neighbour room in the same partition gets
// a steady 50 reactions a second, on real Kafka with default broker
// settings and topics made as `ovation topics create` makes them:
//
//   - 1,000 qa.ask of 300 "<" (a 2 MB snapshot once escaped),
//   - 400 chat lines of 500 "<" at once (1.2 MB of frames in one tick),
//   - a burst of 20,000 reactions with long ids and users (dedup ids of
//     several MB in one transaction).
//
// The neighbour's frames keep flowing (p99 delay under 1 s), every count
// and seq is exact, and transactions do not abort.
func TestHostileRoomsNextToANeighbour(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	lt := strings.Repeat
	cases := []struct {
		name string
		feed func(room string) []*schemas.Event
	}{
		{"1000 questions of 300 <", func(room string) []*schemas.Event {
			var out []*schemas.Event
			for i := range 1000 {
				// 100 users: one user may only have 10 open questions.
				out = append(out, ev(t, fmt.Sprintf("q%d", i), room, fmt.Sprintf("asker%d", i/10), schemas.QAAsk, time.Now().UnixMilli(), schemas.QAAskData{Text: lt("<", schemas.MaxQuestionLen)}))
			}
			return out
		}},
		{"400 chat lines of 500 <", func(room string) []*schemas.Event {
			var out []*schemas.Event
			for i := range 400 {
				out = append(out, ev(t, fmt.Sprintf("m%d", i), room, "chatty", schemas.ChatMessage, time.Now().UnixMilli(), schemas.ChatMessageData{Text: lt("<", schemas.MaxChatLen), Name: lt("<", schemas.MaxNameLen)}))
			}
			return out
		}},
		{"20000 reactions backlog", func(room string) []*schemas.Event {
			var out []*schemas.Event
			for i := range 20_000 {
				id := fmt.Sprintf("%s%d", lt("r", schemas.MaxIDLen-6), 100000+i)
				out = append(out, ev(t, id, room, fmt.Sprintf("%d%s", i%500, lt("<", 100)), schemas.Reaction, time.Now().UnixMilli(), schemas.ReactionData{Emoji: "🔥"}))
			}
			return out
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp := testTopics(t)
			createTopics(t, brokers, tp, 1, 1)
			group := "hostile-" + tp.Events
			reg := prometheus.NewRegistry()
			runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: reg})
			watch, stopWatch := watchFrames(t, brokers, tp.Frames, "calm")
			defer stopWatch()
			stopNeighbour := neighbour(t, brokers, tp.Events, "calm", 50)
			time.Sleep(time.Second)
			feed := tc.feed("hostile")
			start := time.Now()
			produceEvents(t, brokers, tp.Events, feed)
			fed := time.Since(start)
			time.Sleep(2 * time.Second) // the neighbour goes on while the processor digests the feed
			calm := stopNeighbour()
			waitCaughtUp(t, brokers, group, tp.Events, 90*time.Second)
			time.Sleep(300 * time.Millisecond)
			stopWatch()

			m := newModel()
			for _, e := range feed {
				m.apply(e)
			}
			for _, e := range calm {
				m.apply(e)
			}
			verifyOutput(t, brokers, tp, m)
			p99, n := watch.p99()
			aborts := metricValue(reg, "ovation_processor_transactions_total", "abort")
			commits := metricValue(reg, "ovation_processor_transactions_total", "commit")
			dlq := metricValue(reg, "ovation_processor_events_dead_lettered_total", "")
			largest := map[string]int{}
			for _, topic := range []string{tp.Frames, tp.Snapshots, tp.Changelog} {
				for _, r := range readAll(t, brokers, topic).records {
					largest[topic[strings.IndexByte(topic, '.')+1:]] = max(largest[topic[strings.IndexByte(topic, '.')+1:]], len(r.Key)+len(r.Value))
				}
			}
			t.Logf("%d hostile events produced in %s, %d neighbour events; neighbour frames %d, p99 delay %s; transactions: %v commits, %v aborts; dead letters %v; largest records %v",
				len(feed), fed.Round(time.Millisecond), len(calm), n, p99, commits, aborts, dlq, largest)
			if n < 10 {
				t.Fatalf("only %d neighbour frames", n)
			}
			// The neighbour's events produced during the burst are behind
			// it in the partition: they wait for the backlog ahead of
			// them, never for a stuck or aborting transaction.
			if p99 >= raceSlowdown*time.Second {
				t.Fatalf("neighbour p99 frame delay %s, want < %ds", p99, raceSlowdown)
			}
			if aborts > 1 || metricValue(reg, "ovation_processor_consecutive_aborts", "") != 0 {
				t.Fatalf("%v transactions aborted", aborts)
			}
			if dlq != 0 {
				t.Fatalf("%v events dead-lettered; with Ovation's topics every one of these fits", dlq)
			}
		})
	}
}

// TestSlowRebuildRead rebuilds a room whose history read is slowed past
// the transaction timeout: the rebuild completes, the room's events that
// came meanwhile follow the new epoch, and the partition's other room
// keeps committing frames all along.
func TestSlowRebuildRead(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 1, 1)
	group := "slowrebuild-" + tp.Events
	reg := prometheus.NewRegistry()
	cfg := Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: reg,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 2 * time.Second, testReadDelay: 5 * time.Second}
	runProcessor(t, cfg)
	m := newModel()
	var history []*schemas.Event
	for i := range 300 {
		e := ev(t, fmt.Sprintf("h%d", i), "rebuilt", fmt.Sprintf("u%d", i%7), schemas.ChatMessage, time.Now().UnixMilli(), schemas.ChatMessageData{Text: fmt.Sprintf("line %d", i)})
		history = append(history, e)
		m.apply(e)
	}
	produceEvents(t, brokers, tp.Events, history)
	waitCaughtUp(t, brokers, group, tp.Events, 30*time.Second)

	watch, stopWatch := watchFrames(t, brokers, tp.Frames, "calm")
	defer stopWatch()
	stopNeighbour := neighbour(t, brokers, tp.Events, "calm", 50)
	time.Sleep(500 * time.Millisecond)
	cl := kafkatest.Client(t, brokers)
	req := RebuildRequest{Room: "rebuilt", Epoch: "slow-epoch", FromOffset: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, req.Record(tp.Events)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	commitsBefore := metricValue(reg, "ovation_processor_transactions_total", "commit")
	// Events of the rebuilding room wait for the read; they follow the
	// new epoch.
	var during []*schemas.Event
	for i := range 20 {
		e := ev(t, fmt.Sprintf("d%d", i), "rebuilt", "late", schemas.Reaction, time.Now().UnixMilli(), schemas.ReactionData{Emoji: "🎉"})
		during = append(during, e)
		m.apply(e)
	}
	produceEvents(t, brokers, tp.Events, during)
	time.Sleep(4 * time.Second) // inside the slowed read, past the transaction timeout
	commitsDuring := metricValue(reg, "ovation_processor_transactions_total", "commit") - commitsBefore
	// Wait for the new epoch.
	deadline := time.Now().Add(60 * time.Second)
	for metricValue(reg, "ovation_processor_rebuilds_total", "") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the rebuild never completed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(asked)
	time.Sleep(time.Second)
	for _, e := range stopNeighbour() {
		m.apply(e)
	}
	waitCaughtUp(t, brokers, group, tp.Events, 30*time.Second)
	stopWatch()
	frames := verifyOutput(t, brokers, tp, m)
	var epochs []string
	for _, r := range frames.records {
		if f, _ := schemas.UnmarshalFrame(r.Value); f.Room == "rebuilt" && !slices.Contains(epochs, f.Epoch) {
			epochs = append(epochs, f.Epoch)
		}
	}
	p99, n := watch.p99()
	aborts := metricValue(reg, "ovation_processor_transactions_total", "abort")
	sessions := metricValue(reg, "ovation_processor_sessions_started_total", "")
	t.Logf("rebuild with its read slowed 5s past a 2s transaction timeout took %s; %v transactions committed during the read; neighbour frames %d, p99 delay %s; aborts %v, sessions %v; epochs %v",
		took.Round(time.Millisecond), commitsDuring, n, p99, aborts, sessions, epochs)
	if len(epochs) != 2 || epochs[1] != "slow-epoch" {
		t.Fatalf("epochs %v, want the old one then slow-epoch", epochs)
	}
	if took < 5*time.Second {
		t.Fatalf("rebuild took %s: the read was not slowed", took)
	}
	if commitsDuring < 20 || p99 >= raceSlowdown*time.Second {
		t.Fatalf("%v commits during the read, neighbour p99 %s: the partition waited for the rebuild", commitsDuring, p99)
	}
	if aborts > 0 || sessions != 1 {
		t.Fatalf("%v aborts, %v sessions: the slow read cost the partition its transaction", aborts, sessions)
	}
}

// TestSameIDTwoUsersKafka: the same event id from two users in one room
// is two events; the same user twice is one, in the frames.
func TestSameIDTwoUsersKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 1, 1)
	group := "sameid-" + tp.Events
	runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t)})
	ts := time.Now().UnixMilli()
	evs := []*schemas.Event{
		ev(t, "shared-1", "room", "alice", schemas.Reaction, ts, schemas.ReactionData{Emoji: "👍"}),
		ev(t, "shared-1", "room", "bob", schemas.Reaction, ts, schemas.ReactionData{Emoji: "👍"}),
		ev(t, "shared-1", "room", "alice", schemas.Reaction, ts+1, schemas.ReactionData{Emoji: "👍"}),
		ev(t, "msg-1", "room", "alice", schemas.ChatMessage, ts+2, schemas.ChatMessageData{Text: "alice's"}),
		ev(t, "msg-1", "room", "bob", schemas.ChatMessage, ts+3, schemas.ChatMessageData{Text: "bob's"}),
		ev(t, "msg-1", "room", "bob", schemas.ChatMessage, ts+4, schemas.ChatMessageData{Text: "bob's"}),
	}
	produceEvents(t, brokers, tp.Events, evs)
	waitCaughtUp(t, brokers, group, tp.Events, 30*time.Second)
	st := schemas.NewRoomState()
	for _, r := range readAll(t, brokers, tp.Frames).records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(&f.Delta)
	}
	t.Logf("reactions %v, chat %v", st.Reactions, chatIDs(st.Chat))
	if st.Reactions["👍"] != 2 || st.Totals.Reactions != 2 {
		t.Fatalf("👍 %d (totals %d): want 2, alice's and bob's, alice's retry not counted", st.Reactions["👍"], st.Totals.Reactions)
	}
	if len(st.Chat) != 2 || st.Chat[0].Text != "alice's" || st.Chat[1].Text != "bob's" || st.Chat[0].ID == st.Chat[1].ID {
		t.Fatalf("chat %+v: want alice's and bob's lines, with distinct ids", st.Chat)
	}
}

// heapBytes is the live heap after a full collection.
func heapBytes() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// produceRooms writes one event per room for n made-up rooms, built and
// dropped in batches so the test's own garbage does not count.
func produceRooms(t *testing.T, brokers []string, topic string, n int, mk func(i int) *schemas.Event) {
	t.Helper()
	for lo := 0; lo < n; lo += 10_000 {
		var batch []*schemas.Event
		for i := lo; i < min(n, lo+10_000); i++ {
			batch = append(batch, mk(i))
		}
		produceEvents(t, brokers, topic, batch)
	}
}

// evictedRoomBudget is what an evicted room may keep in memory.
const evictedRoomBudget = 256

// TestMadeUpRoomsMemory reproduces issue 12's subscribe-only viewers:
// pushers report presence for 100,000 made-up rooms, on real Kafka. The
// processor's live heap, measured in process after a full collection
// (the test's own data dropped first), does not move: presence makes no
// room. Then 20,000 rooms get one event each and go idle: once
// Config.RoomIdle passes they leave memory and the heap is back within
// 20% of the start, plus the index of where evicted rooms are (budgeted
// at evictedRoomBudget a room; BenchmarkRoomMemory measures both costs).
func TestMadeUpRoomsMemory(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 4, 1)
	group := "memory-" + tp.Events
	reg := prometheus.NewRegistry()
	runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: reg,
		RoomIdle: 3 * time.Second, PresenceTTL: 2 * time.Second})
	ts := time.Now().UnixMilli()
	// Warm up: every partition restored and a few rooms live, so the
	// baseline holds what a running processor holds.
	produceRooms(t, brokers, tp.Events, 40, func(i int) *schemas.Event {
		return ev(t, fmt.Sprintf("w%d", i), fmt.Sprintf("warm%d", i), "u", schemas.Reaction, ts, schemas.ReactionData{Emoji: "👍"})
	})
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	start := heapBytes()

	const madeUp, real = 100_000, 20_000
	t0 := time.Now()
	produceRooms(t, brokers, tp.Events, madeUp, func(i int) *schemas.Event {
		return ev(t, fmt.Sprintf("p%d", i), fmt.Sprintf("madeup-%d", i), "system", schemas.Presence, time.Now().UnixMilli(), schemas.PresenceData{Node: "pusher-1", Viewers: 1})
	})
	waitCaughtUp(t, brokers, group, tp.Events, 120*time.Second)
	afterPresence := heapBytes()
	presenceTook := time.Since(t0)
	if got := metricValue(reg, "ovation_processor_events_ignored_total", string(ReasonNoRoom)); got != madeUp {
		t.Fatalf("%v presence reports ignored as no_room, want %d", got, madeUp)
	}
	if got := metricValue(reg, "ovation_processor_rooms_in_memory", "") + metricValue(reg, "ovation_processor_rooms_evicted", ""); got != 40 {
		t.Fatalf("%v rooms after presence for made-up rooms, want the 40 warm ones", got)
	}

	t0 = time.Now()
	produceRooms(t, brokers, tp.Events, real, func(i int) *schemas.Event {
		return ev(t, fmt.Sprintf("r%d", i), fmt.Sprintf("madeup-%d", i), "viewer", schemas.Reaction, time.Now().UnixMilli(), schemas.ReactionData{Emoji: "👍"})
	})
	waitCaughtUp(t, brokers, group, tp.Events, 120*time.Second)
	busy := heapBytes()
	waitMetric(t, reg, "ovation_processor_rooms_evicted", real+40)
	if n := metricValue(reg, "ovation_processor_rooms_in_memory", ""); n != 0 {
		t.Fatalf("%v rooms still in memory after the idle time", n)
	}
	evicted := heapBytes()
	mb := func(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
	t.Logf("live heap: start %s; after presence for %d made-up rooms %s (%s); after %d rooms got an event %s; after they idled out %s (%s, %d B a room)",
		mb(start), madeUp, mb(afterPresence), presenceTook.Round(time.Millisecond), real, mb(busy), mb(evicted), time.Since(t0).Round(time.Millisecond),
		(int64(evicted)-int64(start))/real)
	if float64(afterPresence) > 1.2*float64(start) {
		t.Fatalf("presence for made-up rooms grew the heap from %s to %s", mb(start), mb(afterPresence))
	}
	if float64(evicted) > 1.2*float64(start)+real*evictedRoomBudget {
		t.Fatalf("after the idle time the heap is %s, started at %s (+ %d B per evicted room allowed)", mb(evicted), mb(start), evictedRoomBudget)
	}
}

// TestEvictLoadKafka evicts idle rooms on real Kafka, restarts the
// processor (the new one restores them as evicted), then sends more events:
// each room is loaded back from its changelog group and its frames go on
// gapless in the same epoch, folding exactly to every event sent.
func TestEvictLoadKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	group := "evict-" + tp.Events
	cfg := func(reg *prometheus.Registry) Config {
		return Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: reg,
			RoomIdle: 2 * time.Second}
	}
	m := newModel()
	g := newGen(5, 40)
	send := func(n int) {
		var evs []*schemas.Event
		for range n {
			e := g.next(t, time.Now().UnixMilli())
			m.apply(e)
			evs = append(evs, e)
		}
		produceEvents(t, brokers, tp.Events, evs)
	}
	reg := prometheus.NewRegistry()
	_, stop := runProcessor(t, cfg(reg))
	send(3000)
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	waitMetric(t, reg, "ovation_processor_rooms_evicted", 40)
	stop()

	reg = prometheus.NewRegistry()
	runProcessor(t, cfg(reg))
	send(2000)
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	loads := metricValue(reg, "ovation_processor_rooms_loaded_total", "")
	waitMetric(t, reg, "ovation_processor_rooms_evicted", 40)
	verifyOutput(t, brokers, tp, m)
	evictions := metricValue(reg, "ovation_processor_rooms_evicted_total", "")
	t.Logf("40 rooms evicted, restored as evicted by a new processor, %v loaded back on their next event, %v evictions after", loads, evictions)
	// Each room is loaded at least once; on a loaded machine a room
	// whose events came more than RoomIdle apart is evicted and loaded
	// again in between, so every load is matched by an eviction.
	if loads < 40 || evictions != loads {
		t.Fatalf("%v rooms loaded and %v evicted, want at least 40 loads, each evicted again", loads, evictions)
	}
}

// waitMetric waits until a metric of reg reaches want.
func waitMetric(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for metricValue(reg, name, "") < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v after 60s, want %v", name, metricValue(reg, name, ""), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRecordTooLargeDeadLettersItsRoom makes a record too large that the
// room bounds let through (a test-only produce limit of 200 KB below the
// topics' 8 MiB): the transaction aborts once, the events of that room in
// it are dead-lettered (too_large) when they come again, the transaction
// commits, and the neighbour in the same partition never stops.
func TestRecordTooLargeDeadLettersItsRoom(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 1, 1)
	group := "toolarge-" + tp.Events
	reg := prometheus.NewRegistry()
	runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: reg,
		testProduceLimit: 200_000})
	watch, stopWatch := watchFrames(t, brokers, tp.Frames, "calm")
	defer stopWatch()
	stopNeighbour := neighbour(t, brokers, tp.Events, "calm", 50)
	time.Sleep(time.Second)
	var feed []*schemas.Event
	for i := range 200 {
		feed = append(feed, ev(t, fmt.Sprintf("q%d", i), "hostile", fmt.Sprintf("asker%d", i/10), schemas.QAAsk, time.Now().UnixMilli(), schemas.QAAskData{Text: strings.Repeat("<", schemas.MaxQuestionLen)}))
	}
	produceEvents(t, brokers, tp.Events, feed)
	time.Sleep(2 * time.Second)
	calm := stopNeighbour()
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	stopWatch()

	dead := map[string]bool{}
	for _, r := range readAll(t, brokers, tp.DLQ).records {
		var reason string
		for _, h := range r.Headers {
			if h.Key == schemas.HeaderDLQReason {
				reason = string(h.Value)
			}
		}
		e, err := schemas.ParseEvent(r.Value)
		if err != nil || e.Room != "hostile" || !strings.HasPrefix(reason, string(ReasonTooLarge)+": ") {
			t.Fatalf("dead letter %q of room %q: want only the hostile room's events, too_large", reason, e.Room)
		}
		dead[e.ID] = true
	}
	m := newModel()
	for _, e := range feed {
		if !dead[e.ID] {
			m.apply(e)
		}
	}
	for _, e := range calm {
		m.apply(e)
	}
	verifyOutput(t, brokers, tp, m)
	p99, n := watch.p99()
	aborts := metricValue(reg, "ovation_processor_transactions_total", "abort")
	tooLarge := metricValue(reg, "ovation_processor_records_too_large_total", "")
	t.Logf("%d of 200 questions dead-lettered as too large (%v records refused, %v aborts), the rest applied; neighbour: %d frames, p99 delay %s", len(dead), tooLarge, aborts, n, p99)
	if len(dead) == 0 || tooLarge == 0 || aborts == 0 {
		t.Fatal("no record was too large: the test did not test")
	}
	if aborts > 5 || metricValue(reg, "ovation_processor_consecutive_aborts", "") != 0 {
		t.Fatalf("%v aborts: an abort loop", aborts)
	}
	// One abort redoes the neighbour's events of that transaction too:
	// its frames wait one restore longer than in the cases above.
	if p99 >= 2*raceSlowdown*time.Second {
		t.Fatalf("neighbour p99 %s", p99)
	}
}
