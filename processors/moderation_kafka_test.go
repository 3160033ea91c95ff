package processors

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestModerationKillKafka is moderation's exactly-once proof on real
// Kafka: two `ovation process` processes fold 30,000 events over 6 rooms
// with bans (some hiding what the user wrote), timeouts, unbans, slow
// mode, chat off, emote-only and hold for review (holds, approvals,
// rejections) mixed in, while one of them is SIGKILLed and restarted
// every 2.5 s; half-way, room0 is rebuilt into a new epoch. In the end
// every room's frames are gapless, and their fold and the latest
// snapshot equal the model's naive fold of the events: the same
// sanctions and controls, and no event of a sanctioned user after the
// sanction's position (nor any other refused event) counted or shown;
// every moderator view's frames fold, in its room's epoch, to the
// model's pending queue, and no room frame ever showed a held line
// before its approval or a rejected one at all.
func TestModerationKillKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 4, 1)
	// The analytics sink and API run throughout (verdicts_kafka_test.go).
	get := startAnalytics(t, brokers, chAddr, tp)

	g := newGen(1414, 6)
	g.moderation = true
	g.hold = true
	m := newModel()
	ts := time.Now().UnixMilli()
	const n = 30_000
	evs := make([]*schemas.Event, 0, n)
	afterClose := map[string]bool{} // room, user, id of events that came after their room closed
	for i := range n {
		// 1 ms of event time per event: a user chats about every 1.5 s
		// of event time in a room, so 1–3 s of slow mode and 1–5 s
		// timeouts refuse and then let through.
		e := g.next(t, ts+int64(i))
		evs = append(evs, e)
		if r := m.rooms[e.Room]; r != nil && r.closed && !r.seen[e.User+"\x00"+e.ID] {
			afterClose[e.Room+"\x00"+e.User+"\x00"+e.ID] = true
		}
		m.apply(e)
	}
	refused := map[string]int{}
	var held, approved, rejected, pending int
	for _, r := range m.rooms {
		for k, v := range r.refused {
			refused[k] += v
		}
		held, approved, rejected, pending = held+r.nHeld, approved+r.nApproved, rejected+r.nRejected, pending+len(r.held)
	}
	group := "modkill-" + tp.Events
	procs := []*proc{newProc(t, bin, "a", brokers, tp, group), newProc(t, bin, "b", brokers, tp, group)}
	for _, p := range procs {
		p.start()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	kills := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2500 * time.Millisecond):
			}
			p := procs[i%2]
			p.kill()
			kills++
			t.Logf("SIGKILL %s (kill %d)", p.name, kills)
			p.start()
		}
	}()
	if err := produceSteady(t, brokers, tp.Events, evs[:n/2], 3000); err != nil {
		t.Fatal(err)
	}
	cl := kafkatest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := RebuildRequest{Room: "room0", Epoch: "rebuilt-room0", FromOffset: -1}
	if err := cl.ProduceSync(ctx, req.Record(tp.Events)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := produceSteady(t, brokers, tp.Events, evs[n/2:], 3000); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	waitCaughtUp(t, brokers, group, tp.Events, 120*time.Second)
	frames := verifyOutput(t, brokers, tp, m)

	rebuilt := false
	sanctioned, viewFrames := 0, 0
	for _, r := range frames.records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if f.Epoch == "rebuilt-room0" && f.Seq == 1 {
			rebuilt = true
		}
		if _, view := schemas.ModViewOf(f.Room); view {
			viewFrames++
			continue
		}
		if f.Delta.Mod != nil {
			sanctioned += len(f.Delta.Mod.Sanctions)
		}
		// Not only the end state: no frame ever showed a refused line
		// or question (ids are unique in the stream, so a line's id is
		// its event's). A client retry of a refused event that came
		// after the sanction ended was taken: the model saw it.
		mr := m.rooms[f.Room]
		refused := func(user, id string) bool { k := user + "\x00" + id; return mr.refusedIDs[k] && !mr.seen[k] }
		for _, l := range f.Delta.Chat {
			if mr.neverShown(l.User, l.ID) {
				t.Fatalf("room %s frame %d shows line %s of %s, which was held and never approved", f.Room, f.Seq, l.ID, l.User)
			}
			if refused(l.User, l.ID) {
				t.Fatalf("room %s frame %d shows refused line %s of %s", f.Room, f.Seq, l.ID, l.User)
			}
		}
		for id, q := range f.Delta.Questions {
			if q.Text != "" && (refused(q.User, id) || mr.neverShown(q.User, id)) {
				t.Fatalf("room %s frame %d shows refused question %s of %s", f.Room, f.Seq, id, q.User)
			}
		}
	}
	if !rebuilt {
		t.Fatal("room0 was not rebuilt into epoch rebuilt-room0")
	}
	checkAnalytics(t, get, evs, m, afterClose, frames)
	if kills < 3 || refused["banned"] == 0 || refused["timed_out"] == 0 || refused["slow_mode"] == 0 || approved == 0 || rejected == 0 || viewFrames == 0 {
		t.Fatalf("%d kills, refusals %v: the test did not exercise what it claims", kills, refused)
	}
	t.Logf("%d SIGKILLs; %d events, %d frames (%d sanctions set in frames); refused by moderation, none counted or shown: %v; held for review %d, approved %d, rejected %d, pending at the end %d (%d moderator view frames)",
		kills, n, len(frames.records), sanctioned, refused, held, approved, rejected, pending, viewFrames)
}

// checkAnalytics holds the analytics API to the processors' rule: per
// room, participants and distinct events per type count every event sent
// except those moderation refused, those after the room closed and lines
// held for review and never approved; no line of chat history is one of
// those; and every line a viewer's state shows at the end (the fold of
// the room's current epoch) is in the history, as shown.
func checkAnalytics(t *testing.T, get func(string, any) bool, evs []*schemas.Event, m *model, afterClose map[string]bool, frames topicContent) {
	t.Helper()
	type want struct {
		events map[string]int64
		users  map[string]bool
		// either: refused, then retried with the same id and taken,
		// per type; either users: their authors (see below).
		either      map[string]int64
		eitherUsers map[string]bool
	}
	wants := map[string]*want{}
	seen := map[string]bool{}
	out := map[string]bool{} // room, user, id counted nowhere
	retried := 0
	either := map[string]bool{}
	for _, e := range evs {
		k := e.Room + "\x00" + e.User + "\x00" + e.ID
		if seen[k] {
			continue
		}
		seen[k] = true
		mr := m.rooms[e.Room]
		w := wants[e.Room]
		if w == nil {
			w = &want{events: map[string]int64{}, users: map[string]bool{}, either: map[string]int64{}, eitherUsers: map[string]bool{}}
			wants[e.Room] = w
		}
		if mr.refusedIDs[e.User+"\x00"+e.ID] && mr.seen[e.User+"\x00"+e.ID] {
			// Refused, then retried with the same id once the sanction
			// ended and taken: analytics may keep the refusal's verdict
			// (docs/analytics.md, the known gap), so either count holds.
			retried++
			either[k] = true
			w.either[string(e.Type)]++
			if e.Type != schemas.Presence {
				w.eitherUsers[e.User] = true
			}
			continue
		}
		if mr.refusedIDs[e.User+"\x00"+e.ID] || afterClose[k] || mr.neverShown(e.User, e.ID) {
			out[k] = true
			continue
		}
		w.events[string(e.Type)]++
		if e.Type != schemas.Presence {
			w.users[e.User] = true
		}
	}
	views := map[string]*schemas.RoomState{}
	epochs := map[string]string{}
	for _, r := range frames.records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if _, view := schemas.ModViewOf(f.Room); view {
			continue
		}
		if epochs[f.Room] != f.Epoch {
			st := schemas.NewRoomState()
			views[f.Room], epochs[f.Room] = &st, f.Epoch
		}
		views[f.Room].Apply(&f.Delta)
	}
	var sum struct {
		Participants int64            `json:"participants"`
		Events       map[string]int64 `json:"events"`
	}
	lines := 0
	for room, w := range wants {
		deadline := time.Now().Add(60 * time.Second)
		for {
			// A fresh map each read: decoding into the last room's would
			// keep its types (a room without them, like a deployment
			// room of only mod.* events, would seem to have them).
			sum.Events, sum.Participants = nil, 0
			ok := get("/v1/rooms/"+room+"/analytics/summary", &sum)
			match := ok
			for typ, n := range sum.Events {
				if n < w.events[typ] || n > w.events[typ]+w.either[typ] {
					match = false
				}
			}
			for typ, n := range w.events {
				if sum.Events[typ] < n {
					match = false
				}
			}
			users := int64(len(w.users))
			for u := range w.eitherUsers {
				if !w.users[u] {
					users++ // at most
				}
			}
			if match && (sum.Participants < int64(len(w.users)) || sum.Participants > users) {
				match = false
			}
			if match {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ClickHouse room %s: %d participants, events %v; the processors' rule says %d, %v (give or take %v refused then retried)", room, sum.Participants, sum.Events, len(w.users), w.events, w.either)
			}
			time.Sleep(250 * time.Millisecond)
		}
		history := map[string]string{}
		cursor := ""
		for {
			var p struct {
				Messages []schemas.ChatLine `json:"messages"`
				Next     string             `json:"next"`
			}
			path := "/v1/rooms/" + room + "/analytics/chat?limit=500"
			if cursor != "" {
				path += "&before=" + url.QueryEscape(cursor)
			}
			get(path, &p)
			for _, l := range p.Messages {
				if out[room+"\x00"+l.User+"\x00"+l.ID] {
					t.Fatalf("ClickHouse room %s: chat history lists %s of %s, which the processors refused or never showed", room, l.ID, l.User)
				}
				history[l.User+"\x00"+l.ID] = l.Text
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		for _, l := range views[room].Chat {
			if either[room+"\x00"+l.User+"\x00"+l.ID] {
				continue // the known gap, above
			}
			if text, ok := history[l.User+"\x00"+l.ID]; !ok || text != l.Text {
				t.Fatalf("ClickHouse room %s: viewers see line %s of %s (%q), chat history has %q (%v)", room, l.ID, l.User, l.Text, text, ok)
			}
			lines++
		}
	}
	t.Logf("ClickHouse agrees with the processors in every room: participants and events per type exact (%d events counted nowhere; %d refused then retried and taken, left out as documented), chat history has none of them and all %d lines viewers see",
		len(out), retried, lines)
}
