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
