package ingest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestDeploymentPreCheck: a user banned or timed out in the deployment
// room is refused banned (with until for a timeout) in every room, rooms
// with moderation state of their own or none; a lift in the deployment
// room's frames lets them publish again; a room's own ban says "in this
// room".
func TestDeploymentPreCheck(t *testing.T) {
	const topic = "events"
	const dep = schemas.DefaultDeploymentRoom
	c := newFake(t, 1, topic)
	r := newRig(t, c.ListenAddrs(), topic, Config{UserRate: -1, ClientRate: -1})
	view := NewModView()
	view.SetDeploymentRoom(dep)
	r.svc.SetModeration(view)
	now := time.Now().UnixMilli()
	view.ApplySnapshot(modSnapshot(t, dep, "e1", 3, &schemas.Moderation{
		Sanctions: map[string]schemas.Sanction{"troll": {Kind: schemas.SanctionBan, By: "admin", TS: now}},
	}))
	view.ApplySnapshot(modSnapshot(t, "r", "e1", 5, &schemas.Moderation{Controls: schemas.Controls{SlowMode: 10}}))
	hc := &http.Client{}
	say := func(user, room string) reply {
		return post(t, hc, r.url(room), pubToken(t, user, room), []byte(evt("reaction", `{"emoji":"👏"}`)))
	}
	for _, room := range []string{"r", "elsewhere"} {
		rep := say("troll", room)
		if rep.status != http.StatusForbidden || rep.code() != CodeBanned || !strings.Contains(string(rep.raw), "everywhere") {
			t.Fatalf("troll in %s: %d %s", room, rep.status, rep.raw)
		}
		if rep := say("ann", room); rep.status != http.StatusOK {
			t.Fatalf("ann in %s: %d %s", room, rep.status, rep.raw)
		}
	}
	// A frame of the deployment room times bob out and lifts troll.
	until := now + 60_000
	view.ApplyFrame(modFrame(t, dep, "e1", 4, schemas.Delta{Mod: &schemas.ModDelta{
		Lifted:    []string{"troll"},
		Sanctions: map[string]schemas.Sanction{"bob": {Kind: schemas.SanctionTimeout, Until: until, By: "admin", TS: now}},
	}}))
	rep := say("bob", "elsewhere")
	if rep.status != http.StatusForbidden || rep.code() != CodeBanned || rep.single.Error.Until != until || rep.single.Error.RetryAfter < 59 {
		t.Fatalf("bob timed out everywhere: %d %s", rep.status, rep.raw)
	}
	if rep := say("troll", "r"); rep.status != http.StatusOK {
		t.Fatalf("troll after the lift: %d %s", rep.status, rep.raw)
	}
	// A room's own ban names the room.
	view.ApplyFrame(modFrame(t, "r", "e1", 6, schemas.Delta{Mod: &schemas.ModDelta{
		Sanctions: map[string]schemas.Sanction{"bob": {Kind: schemas.SanctionBan, By: "mod", TS: now}},
	}}))
	if rep := say("bob", "r"); rep.code() != CodeBanned || !strings.Contains(string(rep.raw), "in this room") {
		t.Fatalf("bob banned in r: %d %s", rep.status, rep.raw)
	}
	// A new epoch of the deployment room without moderation state lifts
	// everything.
	view.ApplySnapshot(modSnapshot(t, dep, "e2", 1, nil))
	if rep := say("bob", "elsewhere"); rep.status != http.StatusOK {
		t.Fatalf("bob after the deployment room's new epoch: %d %s", rep.status, rep.raw)
	}
	// Without a deployment room, its sanctions are a room's like any.
	v2 := NewModView()
	v2.ApplySnapshot(modSnapshot(t, dep, "e1", 3, &schemas.Moderation{Sanctions: map[string]schemas.Sanction{"troll": {Kind: schemas.SanctionBan, By: "admin", TS: now}}}))
	if pe, _ := v2.check("elsewhere", "troll", schemas.Reaction, &schemas.ReactionData{Emoji: "👏"}, now); pe != nil {
		t.Fatalf("no deployment room configured, yet troll is refused: %v", pe)
	}
}
