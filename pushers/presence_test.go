package pushers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestPresence: a pusher reports its viewers per room as valid presence
// events keyed by room (3 while three clients watch), then 0 once they
// left, and 0 for every room it still counted when it stops; a room with
// no frame or snapshot gets no report at all.
func TestPresence(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	s := startServer(t, brokers, topics, nil)
	// Presence is reported only for rooms that exist (have a frame or a
	// snapshot): pres-a and pres-b do, made-up does not.
	p := newProc(t, brokers, topics)
	if err := p.tick(context.Background(), map[string]*schemas.Delta{"pres-a": randomDelta(1, 0, 0), "pres-b": randomDelta(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	var cs []*tclient
	for i := 0; i < 3; i++ {
		c, _, err := dialClient(s.url, allRooms(t, fmt.Sprint("p", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.subscribe("pres-a")
		c.subscribe("pres-b")
		c.subscribe("made-up")
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.waitFor(t, 5*time.Second, "subscribed", func(c *tclient) bool {
			return c.rooms["pres-a"] != nil && c.rooms["pres-a"].seq == 1 && c.rooms["pres-b"] != nil && c.rooms["pres-b"].seq == 1 && c.rooms["made-up"] != nil
		})
	}
	time.Sleep(1200 * time.Millisecond) // > 2 presence intervals
	if got := latestPresence(t, brokers, topics.Events, "test"); got["pres-a"] != 3 || got["pres-b"] != 3 || len(got) != 2 {
		t.Fatalf("presence while watching: %v, want 3 in pres-a and pres-b and no report for made-up", got)
	}
	for _, c := range cs {
		c.send(`{"op":"unsubscribe","room":"pres-a"}`)
	}
	for _, c := range cs {
		c.waitFor(t, 5*time.Second, "unsubscribed", func(c *tclient) bool { return c.rooms["pres-a"] == nil })
	}
	time.Sleep(1200 * time.Millisecond)
	if got := latestPresence(t, brokers, topics.Events, "test"); got["pres-a"] != 0 || got["pres-b"] != 3 {
		t.Fatalf("presence after leaving pres-a: %v, want 0 and 3", got)
	}
	s.cancel() // stop Run: a final report of zeros
	<-s.done
	if got := latestPresence(t, brokers, topics.Events, "test"); got["pres-a"] != 0 || got["pres-b"] != 0 {
		t.Fatalf("presence after the pusher stopped: %v, want 0 and 0", got)
	}
	for _, c := range cs {
		c.close()
	}
}
