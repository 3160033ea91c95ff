package pushers

import (
	"fmt"
	"testing"
	"time"
)

// TestPresence: a pusher reports its viewers per room as valid presence
// events keyed by room (3 while three clients watch), then 0 once they
// left, and 0 for every room it still counted when it stops.
func TestPresence(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	s := startServer(t, brokers, topics, nil)
	var cs []*tclient
	for i := 0; i < 3; i++ {
		c, _, err := dialClient(s.url, allRooms(t, fmt.Sprint("p", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.subscribe("pres-a")
		c.subscribe("pres-b")
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.waitFor(t, 5*time.Second, "subscribed", func(c *tclient) bool { return c.rooms["pres-a"] != nil && c.rooms["pres-b"] != nil })
	}
	time.Sleep(1200 * time.Millisecond) // > 2 presence intervals
	if got := latestPresence(t, brokers, topics.Events, "test"); got["pres-a"] != 3 || got["pres-b"] != 3 {
		t.Fatalf("presence while watching: %v, want 3 in pres-a and pres-b", got)
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
