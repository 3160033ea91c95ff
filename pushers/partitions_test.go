package pushers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestNewPartitionsUnderLoad grows the frames and snapshots topics from 8
// to 12 partitions while a processor writes frames for 48 rooms every
// 50 ms and clients watch every room: the pusher finds the new partitions
// by itself, and every room's state on the clients equals the processor's,
// frames gapless, within 60 s of the growth, including the rooms whose
// frames now land on partitions 8-11.
func TestNewPartitionsUnderLoad(t *testing.T) {
	brokers := kafkatest.Brokers(t) // real Kafka: the claim is about a broker growing a topic
	topics := schemas.Topics{
		Events:    kafkatest.Topic(t, brokers, 8),
		Frames:    kafkatest.Topic(t, brokers, 8),
		Snapshots: kafkatest.Topic(t, brokers, 8, "cleanup.policy=compact"),
	}.WithDefaults()
	s := startServer(t, brokers, topics, nil)
	p := newProc(t, brokers, topics)
	room := func(i int) string { return fmt.Sprintf("grow-%d", i) }
	const rooms = 48
	var clients []*tclient
	for c := 0; c < 2; c++ {
		cl, _, err := dialClient(s.url, allRooms(t, fmt.Sprintf("viewer-%d", c)), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.close()
		clients = append(clients, cl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	i := 0
	tick := func() {
		deltas := map[string]*schemas.Delta{}
		for r := 0; r < rooms; r++ {
			deltas[room(r)] = randomDelta(i+r, r%2, 40)
		}
		i++
		if err := p.tick(ctx, deltas); err != nil {
			t.Fatal(err)
		}
	}
	tick()
	for r := 0; r < rooms; r++ {
		clients[r%2].subscribe(room(r))
	}
	for start := time.Now(); time.Since(start) < 3*time.Second; {
		tick()
		time.Sleep(50 * time.Millisecond)
	}

	adm := kadm.NewClient(p.cl)
	grown := time.Now()
	for _, topic := range []string{topics.Frames, topics.Snapshots} {
		resp, err := adm.UpdatePartitions(ctx, 12, topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("grow %s to 12 partitions: %v", topic, err)
		}
	}
	// The processor's producer learns of the new partitions (a real
	// processor does on its own metadata refresh).
	p.cl.ForceMetadataRefresh()
	for time.Since(grown) < 20*time.Second {
		tick()
		time.Sleep(50 * time.Millisecond)
	}
	ends, err := adm.ListEndOffsets(ctx, topics.Frames)
	if err != nil {
		t.Fatal(err)
	}
	newFrames := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Partition >= 8 {
			newFrames += o.Offset
		}
	})
	if newFrames == 0 {
		t.Fatal("no frame landed on partitions 8-11: the test would prove nothing")
	}
	for r := 0; r < rooms; r++ {
		_, last, want := p.room(room(r))
		c := clients[r%2]
		c.waitFor(t, time.Until(grown.Add(60*time.Second)), "room "+room(r)+" caught up", func(c *tclient) bool {
			x := c.rooms[room(r)]
			return x != nil && x.seq == last
		})
		c.mu.Lock()
		if got := stateJSON(c.rooms[room(r)].state); got != stateJSON(want) || len(c.violations) > 0 {
			t.Errorf("%s: violations %v\n got %s\nwant %s", room(r), c.violations, got, stateJSON(want))
		}
		c.mu.Unlock()
	}
	t.Logf("8 -> 12 partitions under load: %d frames on the new partitions; all %d rooms exact on the clients %v after the growth", newFrames, rooms, time.Since(grown).Round(100*time.Millisecond))
}
