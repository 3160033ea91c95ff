package processors

import (
	"context"
	"sync"
	"testing"
	"time"

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
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 4, 1)

	g := newGen(1414, 6)
	g.moderation = true
	g.hold = true
	m := newModel()
	ts := time.Now().UnixMilli()
	const n = 30_000
	evs := make([]*schemas.Event, 0, n)
	for i := range n {
		// 1 ms of event time per event: a user chats about every 1.5 s
		// of event time in a room, so 1–3 s of slow mode and 1–5 s
		// timeouts refuse and then let through.
		e := g.next(t, ts+int64(i))
		evs = append(evs, e)
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
	if kills < 3 || refused["banned"] == 0 || refused["timed_out"] == 0 || refused["slow_mode"] == 0 || approved == 0 || rejected == 0 || viewFrames == 0 {
		t.Fatalf("%d kills, refusals %v: the test did not exercise what it claims", kills, refused)
	}
	t.Logf("%d SIGKILLs; %d events, %d frames (%d sanctions set in frames); refused by moderation, none counted or shown: %v; held for review %d, approved %d, rejected %d, pending at the end %d (%d moderator view frames)",
		kills, n, len(frames.records), sanctioned, refused, held, approved, rejected, pending, viewFrames)
}
