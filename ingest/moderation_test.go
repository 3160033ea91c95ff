package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

func modSnapshot(t testing.TB, room, epoch string, seq uint64, mod *schemas.Moderation) []byte {
	t.Helper()
	st := schemas.NewRoomState()
	st.Mod = mod
	st.Chat = []schemas.ChatLine{{ID: "x", User: "u", Text: `a line with "quotes" and ,"state":{"mod": inside`, TS: 1}}
	b, err := schemas.MarshalSnapshot(&schemas.Snapshot{Room: room, Epoch: epoch, Seq: seq, TS: 1, State: st})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func modFrame(t testing.TB, room, epoch string, seq uint64, d schemas.Delta) []byte {
	t.Helper()
	b, err := schemas.MarshalFrame(&schemas.Frame{Room: room, Epoch: epoch, Seq: seq, TS: 1, Delta: d})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestModerationPreCheck: ingest refuses from its view of the room's
// moderation state, learnt from snapshots and frames, with the
// documented codes, until and retry_after, and produces nothing it
// refused.
func TestModerationPreCheck(t *testing.T) {
	const topic = "events"
	c := newFake(t, 1, topic)
	r := newRig(t, c.ListenAddrs(), topic, Config{UserRate: -1, ClientRate: -1})
	view := NewModView()
	r.svc.SetModeration(view)
	now := time.Now().UnixMilli()
	if !view.ApplySnapshot(modSnapshot(t, "r", "e1", 5, &schemas.Moderation{
		Controls:  schemas.Controls{SlowMode: 10},
		Sanctions: map[string]schemas.Sanction{"troll": {Kind: schemas.SanctionBan, By: "mod", TS: now}},
	})) {
		t.Fatal("the snapshot's moderation was not taken")
	}
	hc := &http.Client{}
	say := func(user, typ, data string) reply {
		return post(t, hc, r.url("r"), pubToken(t, user, "r"), []byte(evt(typ, data)))
	}
	chat := `{"text":"hello"}`
	if rep := say("troll", "chat.message", chat); rep.status != http.StatusForbidden || rep.code() != CodeBanned {
		t.Fatalf("banned user: %d %s", rep.status, rep.raw)
	}
	if rep := say("ann", "chat.message", chat); rep.status != http.StatusOK {
		t.Fatalf("ann's first line: %d %s", rep.status, rep.raw)
	}
	rep := say("ann", "chat.message", chat)
	if rep.status != http.StatusTooManyRequests || rep.code() != CodeSlowMode || rep.single.Error.RetryAfter < 9 || rep.single.Error.RetryAfter > 10 || rep.retryAfter == "" {
		t.Fatalf("ann's second line inside slow mode: %d retry-after %q %s", rep.status, rep.retryAfter, rep.raw)
	}
	if rep := say("ann", "reaction", `{"emoji":"👏"}`); rep.status != http.StatusOK {
		t.Fatalf("a reaction is not slowed: %d %s", rep.status, rep.raw)
	}

	// A frame lifts troll's ban, times bob out and turns chat off.
	until := now + 60_000
	if !view.ApplyFrame(modFrame(t, "r", "e1", 6, schemas.Delta{Mod: &schemas.ModDelta{
		Lifted:    []string{"troll"},
		Sanctions: map[string]schemas.Sanction{"bob": {Kind: schemas.SanctionTimeout, Until: until, By: "mod", TS: now}},
		Controls:  &schemas.Controls{ChatOff: true, QuestionsOff: true},
	}})) {
		t.Fatal("the frame's moderation was not taken")
	}
	// An older snapshot, read after the frame, changes nothing.
	if view.ApplySnapshot(modSnapshot(t, "r", "e1", 5, &schemas.Moderation{})) {
		t.Fatal("an older snapshot replaced newer state")
	}
	// A frame without moderation is not even decoded; another room's
	// frames leave r alone.
	if view.ApplyFrame(modFrame(t, "other", "e1", 9, schemas.Delta{Chat: []schemas.ChatLine{{ID: "a", User: "u", Text: `,"delta":{"mod":`, TS: 1}}})) || view.Rooms() != 1 {
		t.Fatalf("a frame without moderation changed the view (%d rooms)", view.Rooms())
	}
	if rep := say("troll", "chat.message", chat); rep.code() != CodeChatOff {
		t.Fatalf("troll under chat off: %d %s", rep.status, rep.raw)
	}
	if rep := say("troll", "qa.ask", `{"text":"why?"}`); rep.code() != CodeQuestionsOff {
		t.Fatalf("a question under questions off: %d %s", rep.status, rep.raw)
	}
	rep = say("bob", "reaction", `{"emoji":"👏"}`)
	if rep.code() != CodeBanned || rep.single.Error.Until != until || rep.single.Error.RetryAfter < 59 || rep.single.Error.RetryAfter > 60 {
		t.Fatalf("timed out user: %d %s", rep.status, rep.raw)
	}
	if rep := say("troll", "reaction", `{"emoji":"👏"}`); rep.status != http.StatusOK {
		t.Fatalf("troll after the unban: %d %s", rep.status, rep.raw)
	}
	// Emote-only: words refused, emoji taken.
	view.ApplyFrame(modFrame(t, "r", "e1", 7, schemas.Delta{Mod: &schemas.ModDelta{Controls: &schemas.Controls{EmoteOnly: true}}}))
	if rep := say("cat", "chat.message", chat); rep.code() != CodeEmoteOnly || rep.field() != "data.text" {
		t.Fatalf("words in emote-only: %d %s", rep.status, rep.raw)
	}
	if rep := say("cat", "chat.message", `{"text":"👏 🔥"}`); rep.status != http.StatusOK {
		t.Fatalf("emoji in emote-only: %d %s", rep.status, rep.raw)
	}
	// A rebuilt epoch without moderation drops the room from the view.
	if !view.ApplySnapshot(modSnapshot(t, "r", "e2", 1, nil)) || view.Rooms() != 0 {
		t.Fatal("a new epoch without moderation kept the room")
	}

	// Kafka holds exactly the accepted events: ann's line and reaction,
	// troll's reaction, cat's emoji line.
	recs := readAll(t, r.brokers, topic)
	var got []string
	for _, rec := range recs {
		ev, err := schemas.ParseEvent(rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.User+":"+string(ev.Type))
	}
	if strings.Join(got, ",") != "ann:chat.message,ann:reaction,troll:reaction,cat:chat.message" {
		t.Fatalf("produced %v", got)
	}
	if v := counterValue(t, r.svc.m.rejected.WithLabelValues("chat.message", CodeBanned)); v != 1 {
		t.Fatalf("rejected{chat.message,banned} = %v", v)
	}
}

// TestModWatchKfake: the watch reads the snapshots and frames topics
// from their start and keeps following them.
func TestModWatchKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "frames", "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	produce := func(topic string, key string, v []byte) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce("snapshots", "r", modSnapshot(t, "r", "e1", 3, &schemas.Moderation{Sanctions: map[string]schemas.Sanction{"troll": {Kind: schemas.SanctionBan, By: "m", TS: 1}}}))
	view := NewModView()
	w, err := NewModWatch(c.ListenAddrs(), "frames", "snapshots", view, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx, "frames") }()
	defer func() { stop(); <-done }()
	banned := func(user string) bool {
		pe, _ := view.check("r", user, schemas.Reaction, &schemas.ReactionData{Emoji: "👏"}, time.Now().UnixMilli())
		return pe != nil && pe.Code == CodeBanned
	}
	waitFor(t, "the snapshot's ban", func() bool { return banned("troll") })
	produce("frames", "r", modFrame(t, "r", "e1", 4, schemas.Delta{Mod: &schemas.ModDelta{Lifted: []string{"troll"}, Sanctions: map[string]schemas.Sanction{"bob": {Kind: schemas.SanctionBan, By: "m", TS: 2}}}}))
	waitFor(t, "the frame's ban and unban", func() bool { return banned("bob") && !banned("troll") })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FuzzModView: no frame or snapshot value, however malformed, makes the
// view panic, and what it takes from a snapshot is what a full decode of
// the snapshot says.
func FuzzModView(f *testing.F) {
	f.Add(modSnapshot(f, "r", "e1", 5, &schemas.Moderation{Controls: schemas.Controls{SlowMode: 3}, Sanctions: map[string]schemas.Sanction{"t": {Kind: "ban", By: "m", TS: 1}}}), true)
	f.Add(modFrame(f, "r", "e1", 6, schemas.Delta{Mod: &schemas.ModDelta{Lifted: []string{"t"}}}), false)
	f.Add([]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{"mod":{"controls":{}},"reactions":{}}}`), true)
	f.Add([]byte(`{"room":"r","epoch":"e","seq":1,"ts":1,"state":{"mod":nul`), true)
	f.Fuzz(func(t *testing.T, b []byte, snapshot bool) {
		v := NewModView()
		if !snapshot {
			v.ApplyFrame(b)
			return
		}
		if !v.ApplySnapshot(b) {
			return
		}
		s, err := schemas.UnmarshalSnapshot(b)
		if err != nil {
			return // the view read a valid prefix of an invalid record; the processors never write one
		}
		got := v.rooms[s.Room]
		want := schemas.Moderation{}
		if s.State.Mod != nil {
			want = *s.State.Mod
		}
		gj, _ := json.Marshal(got.mod)
		wj, _ := json.Marshal(want)
		if got == nil || string(gj) != string(wj) || got.seq != s.Seq || got.epoch != s.Epoch {
			t.Fatalf("view %s, snapshot %s", gj, wj)
		}
	})
}

// BenchmarkModerationPreCheck measures what the moderation pre-check adds
// to the CPU of the publish path per event, side by side in one run: the
// same batch of 100 events prepared by a Service without a view and by
// one whose view holds 1,000 moderated rooms, the published room among
// them with 100 sanctions and controls set (none refusing these events).
// It reports ns/event of each (the fastest batch of each) and the
// overhead in percent.
func BenchmarkModerationPreCheck(b *testing.B) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	mk := func() *Service {
		s, err := New(Config{UserRate: -1, ClientRate: -1}, cl, v, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	off, on := mk(), mk()
	view := NewModView()
	for i := range 1000 {
		m := &schemas.Moderation{Controls: schemas.Controls{QuestionsOff: true}, Sanctions: map[string]schemas.Sanction{}}
		for j := range 100 {
			m.Sanctions[fmt.Sprint("troll-", j)] = schemas.Sanction{Kind: schemas.SanctionBan, By: "m", TS: 1}
		}
		view.ApplySnapshot(modSnapshot(b, fmt.Sprint("room-", i), "e", 1, m))
	}
	view.ApplySnapshot(modSnapshot(b, "bench", "e", 1, &schemas.Moderation{Controls: schemas.Controls{QuestionsOff: true}, Sanctions: map[string]schemas.Sanction{"troll": {Kind: "ban", By: "m", TS: 1}}}))
	// A deployment room at its sanction limit: every event is also
	// looked up among its sanctions.
	dep := &schemas.Moderation{Sanctions: map[string]schemas.Sanction{}}
	for j := range schemas.MaxSanctionsPerRoom {
		dep.Sanctions[fmt.Sprint("everywhere-", j)] = schemas.Sanction{Kind: schemas.SanctionBan, By: "m", TS: 1}
	}
	view.SetDeploymentRoom(schemas.DefaultDeploymentRoom)
	view.ApplySnapshot(modSnapshot(b, schemas.DefaultDeploymentRoom, "e", 1, dep))
	on.SetModeration(view)
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bench-user"}, Rooms: map[string][]schemas.Capability{"bench": {schemas.CapHost}}}
	kinds := []string{
		evt("chat.message", `{"text":"hello there, this is a chat line of typical length","name":"Zoë"}`),
		evt("reaction", `{"emoji":"🔥"}`),
		evt("poll.vote", `{"poll_id":"poll-1","option":2}`),
		evt("qa.upvote", `{"question_id":"q-123"}`),
	}
	var raws []json.RawMessage
	for i := range 100 {
		raws = append(raws, json.RawMessage(kinds[i%len(kinds)]))
	}
	run := func(s *Service) time.Duration {
		start := time.Now()
		req := s.newRequest(claims, "bench")
		store := make([]item, len(raws))
		for i, raw := range raws {
			s.prepare(req, &store[i], raw)
			if store[i].err != nil {
				b.Fatal(store[i].err)
			}
		}
		return time.Since(start)
	}
	// The fastest batch of each, over every iteration: on a shared
	// machine a batch is only ever slowed down by others, so the minimum
	// is the cost of the code (sums and means move with the neighbours).
	minOff, minOn := time.Duration(1<<62), time.Duration(1<<62)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither always finds warm caches.
		var a, c time.Duration
		if i%2 == 0 {
			a, c = run(off), run(on)
		} else {
			c, a = run(on), run(off)
		}
		minOff, minOn = min(minOff, a), min(minOn, c)
	}
	n := float64(len(raws))
	b.ReportMetric(float64(minOff.Nanoseconds())/n, "ns/event-off")
	b.ReportMetric(float64(minOn.Nanoseconds())/n, "ns/event-on")
	b.ReportMetric(100*(float64(minOn)-float64(minOff))/float64(minOff), "overhead-%")
}
