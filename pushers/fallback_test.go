package pushers

import (
	"context"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestResumeFromKafka: a position older than the in-memory window (here a
// 3 KiB window holding ~8 frames) is still recovered, by reading the
// frames topic from a checkpoint offset: recovered:true, every missed
// frame once, in order, and the processor's state.
func TestResumeFromKafka(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	ctx := context.Background()
	s := startServer(t, brokers, topics, func(c *Config) { c.RoomWindowBytes = 3 << 10 })
	p := newProc(t, brokers, topics)
	const room = "old-timer"
	for i := 1; i <= 100; i++ {
		if err := p.tick(ctx, map[string]*schemas.Delta{room: randomDelta(i, 1, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	// The state at seq 10, rebuilt the way a client would have it.
	// (A fresh processor with the same deltas gives the same state.)
	_, last, want := p.room(room)
	r := s.hub.get(room)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		caught := r.last == last
		first := uint64(0)
		if len(r.win) > 0 {
			first = r.win[0].seq
		}
		r.mu.Unlock()
		if caught {
			if first <= 11 {
				t.Fatalf("window starts at %d; the test needs it past 11", first)
			}
			t.Logf("window holds seqs %d..%d", first, last)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pusher did not read the frames")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A client that applied frames 1..10 resumes at 10.
	st := schemas.NewRoomState()
	for i := 1; i <= 10; i++ {
		st.Apply(randomDelta(i, 1, 100))
	}
	c, _, err := dialClient(s.url, allRooms(t, "late"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.resume(room, "e1", 10, st)
	c.waitFor(t, 15*time.Second, "resumed to the last frame", func(c *tclient) bool { return c.rooms[room].seq == last })
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.rooms[room]
	if x.recovered != 1 || x.resets != 0 || x.frames != int(last-10) || len(c.violations) > 0 {
		t.Fatalf("recovered %d resets %d frames %d (want 1, 0, %d) violations %v", x.recovered, x.resets, x.frames, last-10, c.violations)
	}
	// Chat line texts and ids match; timestamps differ between the two
	// randomDelta calls, so compare without them.
	for i := range x.state.Chat {
		x.state.Chat[i].TS = 0
	}
	for i := range want.Chat {
		want.Chat[i].TS = 0
	}
	if stateJSON(x.state) != stateJSON(want) {
		t.Fatalf("state\n got %s\nwant %s", stateJSON(x.state), stateJSON(want))
	}
	if v := counterValue(s.m.resumes.WithLabelValues("recovered_kafka")); v != 1 {
		t.Fatalf("recovered_kafka resumes = %v, want 1", v)
	}
}
