package pushers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestMemoryBudgets: with the windows' and snapshots' memory budgets far
// below what 10 rooms write, the pusher stays under them (idle rooms give
// up their windows and keep only snapshot offsets), and still serves
// those rooms exactly: a new subscriber gets the snapshot read back from
// Kafka, and a resume gets recovered:true from Kafka.
func TestMemoryBudgets(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	ctx := context.Background()
	s := startServer(t, brokers, topics, func(c *Config) {
		c.MaxWindowBytes = 8 << 10
		c.MaxSnapshotBytes = 4 << 10
	})
	p := newProc(t, brokers, topics)
	run := fmt.Sprint(time.Now().UnixNano() % 1e9)
	room := func(i int) string { return fmt.Sprintf("budget-%s-%d", run, i) }
	for k := 1; k <= 30; k++ {
		ds := map[string]*schemas.Delta{}
		for i := 0; i < 10; i++ {
			ds[room(i)] = randomDelta(k, 1, 60)
		}
		if err := p.tick(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		w, sn := s.hub.winTotal.Load(), s.hub.snapTotal.Load()
		r := s.hub.get(room(9))
		r.mu.Lock()
		caught := r.last == 30
		r.mu.Unlock()
		if caught && w <= 8<<10 && sn <= 4<<10 {
			t.Logf("after shedding: windows %d B (budget 8 KiB), snapshots %d B (budget 4 KiB)", w, sn)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("budgets not enforced: windows %d B, snapshots %d B", w, sn)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cold := 0
	for i := 0; i < 10; i++ {
		r := s.hub.get(room(i))
		r.mu.Lock()
		if r.snap != nil && r.snap.cold {
			cold++
		}
		r.mu.Unlock()
	}
	if cold == 0 {
		t.Fatal("no snapshot went cold; the test would prove nothing")
	}
	t.Logf("%d of 10 rooms keep only their snapshot's offset", cold)

	c, _, err := dialClient(s.url, allRooms(t, "budget"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for i := 0; i < 10; i++ {
		c.subscribe(room(i))
	}
	for i := 0; i < 10; i++ {
		_, last, want := p.room(room(i))
		c.waitFor(t, 15*time.Second, "snapshot of "+room(i), func(c *tclient) bool { r := c.rooms[room(i)]; return r != nil && r.hadState && r.seq == last })
		c.mu.Lock()
		if got := stateJSON(c.rooms[room(i)].state); got != stateJSON(want) || len(c.violations) > 0 {
			t.Fatalf("%s: violations %v\n got %s\nwant %s", room(i), c.violations, got, stateJSON(want))
		}
		c.mu.Unlock()
	}
	// A resume far back in an idle room: recovered from Kafka.
	st := schemas.NewRoomState()
	for k := 1; k <= 5; k++ {
		st.Apply(randomDelta(k, 1, 60))
	}
	c2, _, err := dialClient(s.url, allRooms(t, "budget2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.close()
	c2.resume(room(3), "e1", 5, st)
	c2.waitFor(t, 15*time.Second, "resume to 30", func(c *tclient) bool { return c.rooms[room(3)].seq == 30 })
	c2.mu.Lock()
	defer c2.mu.Unlock()
	if r := c2.rooms[room(3)]; r.recovered != 1 || r.resets != 0 || r.frames != 25 || len(c2.violations) > 0 {
		t.Fatalf("resume: recovered %d resets %d frames %d violations %v", r.recovered, r.resets, r.frames, c2.violations)
	}
}

// TestIdleRoomsRemoved: subscribing to made-up rooms and leaving them
// leaves nothing behind, so room names cannot be used to grow memory.
func TestIdleRoomsRemoved(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	s := startServer(t, brokers, topics, nil)
	count := func() int {
		n := 0
		for i := range s.hub.shards {
			sh := &s.hub.shards[i]
			sh.mu.Lock()
			n += len(sh.rooms)
			sh.mu.Unlock()
		}
		return n
	}
	before := count()
	c, _, err := dialClient(s.url, allRooms(t, "wanderer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for i := 0; i < 40; i++ { // 81 messages: inside the inbound burst
		c.send(fmt.Sprintf(`{"op":"subscribe","room":"made-up-%d"}`, i))
		c.send(fmt.Sprintf(`{"op":"unsubscribe","room":"made-up-%d"}`, i))
	}
	c.send(`{"op":"subscribe","room":"kept"}`)
	c.waitFor(t, 5*time.Second, "kept subscribed", func(c *tclient) bool { r := c.rooms["kept"]; return r != nil && r.hadState })
	deadline := time.Now().Add(10 * time.Second)
	for count() != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d rooms remain, want %d (only the subscribed one)", count(), before+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The kept room still works after the sweeps.
	p := newProc(t, brokers, topics)
	p.tick(context.Background(), map[string]*schemas.Delta{"kept": randomDelta(1, 0, 0)})
	c.waitFor(t, 5*time.Second, "frame in kept", func(c *tclient) bool { return c.rooms["kept"].seq == 1 })
}
