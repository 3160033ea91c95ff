package pushers

import (
	"context"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestBanUnsubscribes: a frame that bans a user ends every subscription
// of that user to the room (after delivering the frame, which shows the
// ban in state.mod) with unsubscribed code banned; other users keep
// their frames; the banned user's subscribe is refused with code banned
// (and until, for a timeout) until an unban lifts it. It runs on real
// Kafka when OVATION_KAFKA_BROKERS is set, else on kfake.
func TestBanUnsubscribes(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	tick := func(d *schemas.Delta) {
		t.Helper()
		if err := p.tick(ctx, map[string]*schemas.Delta{"r1": d}); err != nil {
			t.Fatal(err)
		}
	}
	tick(randomDelta(0, 1, 10))
	s := startServer(t, brokers, topics, nil)
	dial := func(user string) *tclient {
		c, _, err := dialClient(s.url, allRooms(t, user), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		c.subscribe("r1")
		c.waitFor(t, 10*time.Second, user+" subscribed", func(c *tclient) bool { r := c.rooms["r1"]; return r != nil && r.seq >= 1 })
		return c
	}
	troll1, troll2, ann := dial("troll"), dial("troll"), dial("ann")

	tick(&schemas.Delta{Mod: &schemas.ModDelta{Sanctions: map[string]schemas.Sanction{"troll": {Kind: schemas.SanctionBan, By: "mod", TS: 1, Reason: "spam"}}}})
	for _, c := range []*tclient{troll1, troll2} {
		c.waitFor(t, 10*time.Second, "troll unsubscribed", func(c *tclient) bool { return len(c.revoked) == 1 })
		c.mu.Lock()
		if c.revoked[0].Code != CodeBanned || c.revoked[0].Room != "r1" || c.rooms["r1"] != nil {
			t.Fatalf("troll's socket: %+v", c.revoked)
		}
		c.mu.Unlock()
	}
	tick(randomDelta(2, 1, 10))
	ann.waitFor(t, 10*time.Second, "ann at seq 3", func(c *tclient) bool { return c.rooms["r1"].seq == 3 })
	ann.mu.Lock()
	if sn := ann.rooms["r1"].state.Mod; sn == nil || sn.Sanctions["troll"].Kind != schemas.SanctionBan || len(ann.revoked) != 0 || len(ann.violations) != 0 {
		t.Fatalf("ann: mod %+v revoked %v violations %v", ann.rooms["r1"].state.Mod, ann.revoked, ann.violations)
	}
	ann.mu.Unlock()

	// troll subscribing again is refused; so is a new socket of troll's.
	troll1.subscribe("r1")
	troll1.waitFor(t, 10*time.Second, "subscribe refused", func(c *tclient) bool { return len(c.errors) == 1 })
	troll1.mu.Lock()
	if troll1.errors[0]["code"] != CodeBanned || troll1.rooms["r1"] != nil {
		t.Fatalf("troll's subscribe: %v", troll1.errors)
	}
	troll1.mu.Unlock()

	// A timeout: the error says until when.
	until := time.Now().Add(time.Hour).UnixMilli()
	tick(&schemas.Delta{Mod: &schemas.ModDelta{Lifted: []string{"troll"}, Sanctions: map[string]schemas.Sanction{"ann": {Kind: schemas.SanctionTimeout, Until: until, By: "mod", TS: 2}}}})
	ann.waitFor(t, 10*time.Second, "ann unsubscribed", func(c *tclient) bool { return len(c.revoked) == 1 })
	ann.subscribe("r1")
	ann.waitFor(t, 10*time.Second, "ann's subscribe refused", func(c *tclient) bool { return len(c.errors) == 1 })
	ann.mu.Lock()
	if ann.errors[0]["code"] != CodeBanned || int64(ann.errors[0]["until"].(float64)) != until {
		t.Fatalf("ann's subscribe: %v", ann.errors)
	}
	ann.mu.Unlock()
	// troll's ban was lifted: troll is back.
	troll2.subscribe("r1")
	troll2.waitFor(t, 10*time.Second, "troll back", func(c *tclient) bool { r := c.rooms["r1"]; return r != nil && r.seq == 4 })

	// A pusher that starts after the ban learns it from the snapshot.
	s2 := startServer(t, brokers, topics, nil)
	c, _, err := dialClient(s2.url, allRooms(t, "ann"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.subscribe("r1")
		time.Sleep(100 * time.Millisecond)
		c.mu.Lock()
		n, code := len(c.errors), ""
		if n > 0 {
			code, _ = c.errors[n-1]["code"].(string)
		}
		c.mu.Unlock()
		if code == CodeBanned {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new pusher let timed-out ann subscribe (errors %v)", c.errors)
		}
		c.send(map[string]any{"op": "unsubscribe", "room": "r1"})
	}
}
