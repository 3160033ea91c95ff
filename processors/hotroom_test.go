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

	"github.com/ovation-live/ovation/schemas"
)

// TestHotRoomFramesPerTick: with the adaptive tick (Config.Linger), a room
// taking an event every 2 ms still gets about one frame per tick, not one
// per linger: its transactions run to the tick once it is hot (a frame
// within the last tick, Partition.Hot). Before that rule a 500 events/s
// room got ~85 frames/s, and its 2,000 viewers five times the socket
// writes (docs/benchmarks.md, issue 18's hot room). A quiet room's event
// afterwards is still committed at the linger. Counts are exact. ~3 s.
func TestHotRoomFramesPerTick(t *testing.T) {
	tp := testTopics(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	cfg := Config{Brokers: brokers, Topics: tp, Group: "g", TransactionalID: "p-1", Tick: 50 * time.Millisecond, Linger: 2 * time.Millisecond,
		Log: testLogger(t), Registerer: prometheus.NewRegistry()}
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
