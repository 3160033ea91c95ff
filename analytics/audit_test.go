package analytics

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestAPIModerationAudit: the audit trail lists every moderation event of
// the room's log once (a client retry of a ban included only once), with
// who, when and what, newest first, paged; other rooms' actions and
// ordinary events stay out; a subscriber may not read it.
func TestAPIModerationAudit(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	events := kafkatest.Topic(t, brokers, 2)
	frames := kafkatest.Topic(t, brokers, 2)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()
	var recs []*kgo.Record
	add := func(room, id, user string, typ schemas.Type, ts int64, data string) {
		ev := schemas.Event{V: 1, ID: id, Room: room, User: user, Type: typ, TS: ts, Data: json.RawMessage(data)}
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		b, _ := ev.Marshal()
		recs = append(recs, &kgo.Record{Key: []byte(room), Value: b})
	}
	add("room-a", "c1", "troll", schemas.ChatMessage, t0, `{"text":"spam"}`)
	add("room-a", "m1", "mod-1", schemas.ModBan, t0+1000, `{"target":"troll","reason":"spam","hide":true}`)
	add("room-a", "m1", "mod-1", schemas.ModBan, t0+1000, `{"target":"troll","reason":"spam","hide":true}`) // a retry
	add("room-a", "c2", "ann", schemas.ChatMessage, t0+1500, `{"text":"hi"}`)
	add("room-a", "m2", "mod-2", schemas.ModTimeout, t0+2000, `{"target":"bob","seconds":600}`)
	add("room-a", "m3", "mod-1", schemas.RoomControls, t0+3000, `{"slow_mode":30}`)
	add("room-a", "m4", "mod-2", schemas.ChatDelete, t0+4000, `{"message_id":"c2"}`)
	add("room-a", "m5", "mod-1", schemas.ReactionRemove, t0+5000, `{"emoji":"👍"}`)
	add("room-a", "m6", "mod-1", schemas.ModUnban, t0+6000, `{"target":"troll"}`)
	add("room-a", "m7", "mod-2", schemas.ModFilters, t0+6100, `{"words":["spoiler"],"action":"hold"}`)
	add("room-a", "m8", "mod-2", schemas.ModApprove, t0+6200, `{"id":"c9"}`)
	add("room-a", "m9", "mod-2", schemas.ModReject, t0+6300, `{"id":"c8"}`)
	add("room-a", "n1", "mod-1", schemas.ChatPin, t0+6400, `{"message_id":"c1"}`)
	add("room-a", "n2", "mod-1", schemas.ChatUnpin, t0+6500, `{}`)
	add("room-b", "m1", "mod-9", schemas.ModBan, t0+7000, `{"target":"x"}`)
	f, _ := schemas.MarshalFrame(&schemas.Frame{Room: "room-a", Epoch: "e1", Seq: 1, TS: t0, Delta: schemas.Delta{Totals: &schemas.Totals{Chat: 1}}})
	cl := kafkatest.Client(t, brokers)
	produceAll(t, cl, events, recs)
	produceAll(t, cl, frames, []*kgo.Record{{Key: []byte("room-a"), Value: f}})
	stop := runSink(t, SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames},
		ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, FlushInterval: 200 * time.Millisecond, Log: testLog(t)})
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)
	stop()
	base := newAPIServer(t, chAddr, db).URL

	mod := testToken(t, "mod-1", map[string][]schemas.Capability{"room-a": {schemas.CapModerate}})
	var got []string
	next := ""
	for pages := 0; ; pages++ {
		path := "/v1/rooms/room-a/analytics/moderation?limit=4"
		if next != "" {
			path += "&before=" + next
		}
		status, body := apiDo(t, base, mod, path)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var page AuditPage
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Actions {
			got = append(got, fmt.Sprintf("%d %s %s %s %s %s", a.TS-t0, a.By, a.Type, a.Target, a.Reason, a.Data))
		}
		if next = page.Next; next == "" || pages > 5 {
			break
		}
	}
	want := []string{
		`6500 mod-1 chat.unpin   {}`,
		`6400 mod-1 chat.pin c1  {"message_id":"c1"}`,
		`6300 mod-2 mod.reject c8  {"id":"c8"}`,
		`6200 mod-2 mod.approve c9  {"id":"c9"}`,
		`6100 mod-2 mod.filters   {"words":["spoiler"],"action":"hold"}`,
		`6000 mod-1 mod.unban troll  {"target":"troll"}`,
		`5000 mod-1 reaction.remove 👍  {"emoji":"👍"}`,
		`4000 mod-2 chat.delete c2  {"message_id":"c2"}`,
		`3000 mod-1 room.controls   {"slow_mode":30}`,
		`2000 mod-2 mod.timeout bob  {"target":"bob","seconds":600}`,
		`1000 mod-1 mod.ban troll spam {"target":"troll","reason":"spam","hide":true}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit trail:\n%s\nwant:\n%s", js(got), js(want))
	}
	viewer := testToken(t, "viewer", map[string][]schemas.Capability{"room-a": {schemas.CapSubscribe}})
	if status, body := apiDo(t, base, viewer, "/v1/rooms/room-a/analytics/moderation"); status != 403 {
		t.Fatalf("a subscriber reads the audit trail: %d %s", status, body)
	}
	if status, body := apiDo(t, base, mod, "/v1/rooms/room-a/analytics/moderation?limit=0"); status != 400 {
		t.Fatalf("limit=0: %d %s", status, body)
	}
}

func js(v any) string { b, _ := json.MarshalIndent(v, "", " "); return string(b) }
