package pushers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestDeploymentBanUnsubscribes: a frame of the deployment room that bans
// a user ends that user's subscriptions to every room on the pusher with
// unsubscribed, code banned ("everywhere"), while other users keep
// theirs; the user's subscribe to any room is refused with banned; a
// lift lets them back; a pusher that starts later learns the ban from
// the deployment room's snapshot.
func TestDeploymentBanUnsubscribes(t *testing.T) {
	const dep = schemas.DefaultDeploymentRoom
	brokers, topics := testKafka(t, 2)
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	tick := func(deltas map[string]*schemas.Delta) {
		t.Helper()
		if err := p.tick(ctx, deltas); err != nil {
			t.Fatal(err)
		}
	}
	tick(map[string]*schemas.Delta{"r1": randomDelta(0, 1, 10), "r2": randomDelta(0, 1, 10), dep: randomDelta(0, 1, 10)})
	withDep := func(c *Config) { c.DeploymentRoom = dep }
	s := startServer(t, brokers, topics, withDep)
	dial := func(user string) *tclient {
		c, _, err := dialClient(s.url, allRooms(t, user), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		for _, room := range []string{"r1", "r2"} {
			c.subscribe(room)
			c.waitFor(t, 10*time.Second, user+" subscribed to "+room, func(c *tclient) bool { r := c.rooms[room]; return r != nil && r.seq >= 1 })
		}
		return c
	}
	troll, ann := dial("troll"), dial("ann")

	tick(map[string]*schemas.Delta{dep: {Mod: &schemas.ModDelta{Sanctions: map[string]schemas.Sanction{"troll": {Kind: schemas.SanctionBan, By: "admin", TS: 1}}}}})
	troll.waitFor(t, 10*time.Second, "troll unsubscribed from both rooms", func(c *tclient) bool { return len(c.revoked) == 2 })
	troll.mu.Lock()
	for _, u := range troll.revoked {
		if u.Code != CodeBanned || !strings.Contains(u.Message, "everywhere") || troll.rooms[u.Room] != nil {
			t.Fatalf("troll's socket: %+v", troll.revoked)
		}
	}
	troll.mu.Unlock()
	// The socket stays open: a subscribe to any room is refused.
	troll.subscribe("r3")
	troll.waitFor(t, 10*time.Second, "subscribe refused", func(c *tclient) bool { return len(c.errors) == 1 })
	troll.mu.Lock()
	if troll.errors[0]["code"] != CodeBanned {
		t.Fatalf("troll's subscribe: %v", troll.errors)
	}
	troll.mu.Unlock()
	// Others keep their frames.
	tick(map[string]*schemas.Delta{"r1": randomDelta(1, 1, 10)})
	ann.waitFor(t, 10*time.Second, "ann at seq 2", func(c *tclient) bool { return c.rooms["r1"].seq == 2 })
	ann.mu.Lock()
	if len(ann.revoked) != 0 || len(ann.violations) != 0 {
		t.Fatalf("ann: revoked %v violations %v", ann.revoked, ann.violations)
	}
	ann.mu.Unlock()

	// A pusher that starts after the ban learns it from the snapshot.
	s2 := startServer(t, brokers, topics, withDep)
	c, _, err := dialClient(s2.url, allRooms(t, "troll"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.subscribe("r2")
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
			t.Fatalf("the new pusher never refused troll (errors %d, last %q)", n, code)
		}
	}

	// Lifted everywhere: troll is back.
	tick(map[string]*schemas.Delta{dep: {Mod: &schemas.ModDelta{Lifted: []string{"troll"}}}})
	deadline = time.Now().Add(10 * time.Second)
	for {
		troll.subscribe("r1")
		time.Sleep(100 * time.Millisecond)
		troll.mu.Lock()
		back := troll.rooms["r1"] != nil
		troll.mu.Unlock()
		if back {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("troll was not let back after the lift")
		}
	}
}
