package pushers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestSnapshotLargerThanQueue: a room's snapshot may be larger than a
// connection's queue bound (a room at its limits encodes to ~6 MB, the
// default bound is 1 MiB). A subscriber with nothing else queued gets it,
// rather than 4009 and a reconnect loop.
func TestSnapshotLargerThanQueue(t *testing.T) {
	brokers, topics := fakeKafka(t, 1)
	s := startServer(t, brokers, topics, func(c *Config) {
		c.MergeBytes = 16 << 10
		c.MaxQueueBytes = 64 << 10
	})
	p := newProc(t, brokers, topics)
	d := &schemas.Delta{}
	for i := range schemas.ChatHistory {
		d.Chat = append(d.Chat, schemas.ChatLine{ID: fmt.Sprint("m", i), User: "u", Text: strings.Repeat("<", schemas.MaxChatLen), TS: 1})
	}
	if err := p.tick(context.Background(), map[string]*schemas.Delta{"big": d}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the pusher has read the snapshot: new subscribers get it, not the frame
	c, _, err := dialClient(s.url, allRooms(t, "viewer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.subscribe("big")
	c.waitFor(t, 10*time.Second, "the big room's state", func(c *tclient) bool { r := c.rooms["big"]; return r != nil && r.hadState })
	time.Sleep(300 * time.Millisecond)
	c.mu.Lock()
	code, text := c.closeCode, c.closeText
	c.mu.Unlock()
	if code != 0 {
		t.Fatalf("closed %d %q for a snapshot larger than the queue bound", code, text)
	}
}
