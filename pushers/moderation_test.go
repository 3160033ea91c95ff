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

// TestModViewNeedsModerate: a room's moderator view (ROOM~mod, its
// pending queue) is served like any room, snapshot then frames, to a
// token with moderate in the room, and refused with forbidden to one
// that can only subscribe or publish there.
func TestModViewNeedsModerate(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	view := schemas.ModView("r1")
	held := func(k, user string) *schemas.Delta {
		return &schemas.Delta{Held: map[string]*schemas.HeldItem{k: {Kind: schemas.HeldChat, User: user, ID: k, Text: "wait for me", TS: 1}}}
	}
	if err := p.tick(ctx, map[string]*schemas.Delta{"r1": randomDelta(0, 1, 10), view: held("h1", "ann")}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, brokers, topics, nil)

	viewer, _, err := dialClient(s.url, allRooms(t, "viewer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viewer.close)
	viewer.subscribe(view)
	viewer.waitFor(t, 10*time.Second, "the view refused", func(c *tclient) bool { return len(c.errors) == 1 })
	viewer.mu.Lock()
	if viewer.errors[0]["code"] != CodeForbidden || viewer.rooms[view] != nil {
		t.Fatalf("a publish token's subscribe to %s: %v", view, viewer.errors)
	}
	viewer.mu.Unlock()

	modTok := token(t, "mod", time.Hour, map[string][]schemas.Capability{"r1": {schemas.CapModerate}})
	mod, _, err := dialClient(s.url, modTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mod.close)
	mod.subscribe(view)
	mod.waitFor(t, 10*time.Second, "the view's snapshot", func(c *tclient) bool { r := c.rooms[view]; return r != nil && r.seq == 1 })
	if err := p.tick(ctx, map[string]*schemas.Delta{view: {HeldRemoved: []string{"h1"}, Held: held("h2", "bob").Held}}); err != nil {
		t.Fatal(err)
	}
	mod.waitFor(t, 10*time.Second, "the view's frame 2", func(c *tclient) bool { return c.rooms[view].seq == 2 })
	mod.mu.Lock()
	st := mod.rooms[view].state
	if len(st.Held) != 1 || st.Held["h2"] == nil || st.Held["h2"].User != "bob" || len(mod.errors) != 0 || len(mod.violations) != 0 {
		t.Fatalf("moderator's view: held %v, errors %v, violations %v", st.Held, mod.errors, mod.violations)
	}
	mod.mu.Unlock()

	// A moderator banned in the room loses the view too.
	other, _, err := dialClient(s.url, token(t, "mod2", time.Hour, map[string][]schemas.Capability{"r1": {schemas.CapModerate}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.close)
	other.subscribe(view)
	other.waitFor(t, 10*time.Second, "mod2's view", func(c *tclient) bool { r := c.rooms[view]; return r != nil && r.seq == 2 })
	if err := p.tick(ctx, map[string]*schemas.Delta{"r1": {Mod: &schemas.ModDelta{Sanctions: map[string]schemas.Sanction{"mod2": {Kind: schemas.SanctionBan, By: "mod", TS: 3}}}}}); err != nil {
		t.Fatal(err)
	}
	other.waitFor(t, 10*time.Second, "mod2's view ended", func(c *tclient) bool { return len(c.revoked) == 1 })
	other.mu.Lock()
	rv := other.revoked[0]
	other.mu.Unlock()
	if rv.Room != view || rv.Code != CodeBanned {
		t.Fatalf("banned moderator's view: %+v", rv)
	}
	mod.mu.Lock()
	if len(mod.revoked) != 0 || mod.rooms[view] == nil {
		mod.mu.Unlock()
		t.Fatalf("another moderator's ban ended mod's view: %+v", mod.revoked)
	}
	mod.mu.Unlock()

	// A refreshed token that still has moderate keeps the view; one
	// that lost it ends the view's subscription with forbidden.
	mod.send(map[string]any{"op": "refresh", "id": "r1", "token": token(t, "mod", 2*time.Hour, map[string][]schemas.Capability{"r1": {schemas.CapModerate}})})
	mod.waitFor(t, 10*time.Second, "refreshed", func(c *tclient) bool { return len(c.refreshed) == 1 })
	mod.mu.Lock()
	revoked, watching := len(mod.revoked), mod.rooms[view] != nil
	mod.mu.Unlock()
	if revoked != 0 || !watching {
		t.Fatalf("a refresh that keeps moderate ended the view (%d revoked)", revoked)
	}
	mod.send(map[string]any{"op": "refresh", "id": "r2", "token": token(t, "mod", 3*time.Hour, map[string][]schemas.Capability{"r1": {schemas.CapPublish}})})
	mod.waitFor(t, 10*time.Second, "refreshed again", func(c *tclient) bool { return len(c.refreshed) == 2 })
	mod.mu.Lock()
	defer mod.mu.Unlock()
	if len(mod.revoked) != 1 || mod.revoked[0].Room != view || mod.revoked[0].Code != CodeForbidden || mod.rooms[view] != nil {
		t.Fatalf("after refreshes: revoked %+v", mod.revoked)
	}
}
