package pushers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// TestSubscribeResumeReset walks the protocol: a fresh subscribe gets the
// snapshot then every later frame; a resume inside the window gets exactly
// the missed frames (recovered:true); an unknown epoch gets a snapshot
// (recovered:false); an epoch change mid-stream is a snapshot reset.
func TestSubscribeResumeReset(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	for i := 0; i < 5; i++ {
		if err := p.tick(ctx, map[string]*schemas.Delta{"r1": randomDelta(i, 1, 10)}); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, brokers, topics, nil)
	tok := allRooms(t, "alice")

	c, _, err := dialClient(s.url, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.subscribe("r1")
	c.waitFor(t, 10*time.Second, "snapshot at 5", func(c *tclient) bool { r := c.rooms["r1"]; return r != nil && r.seq == 5 })
	for i := 5; i < 8; i++ {
		p.tick(ctx, map[string]*schemas.Delta{"r1": randomDelta(i, 1, 10)})
	}
	c.waitFor(t, 10*time.Second, "frames to 8", func(c *tclient) bool { return c.rooms["r1"].seq == 8 })
	_, _, want := p.room("r1")
	c.mu.Lock()
	r := c.rooms["r1"]
	if r.frames != 3 || r.resets != 0 || r.subscribed != 1 || len(c.violations) > 0 || stateJSON(r.state) != stateJSON(want) {
		t.Fatalf("after subscribe: frames=%d resets=%d subscribed=%d violations=%v\n got %s\nwant %s", r.frames, r.resets, r.subscribed, c.violations, stateJSON(r.state), stateJSON(want))
	}
	if c.welcome["node"] != "test" || c.welcome["user"] != "alice" {
		t.Fatalf("welcome = %v", c.welcome)
	}
	c.mu.Unlock()
	epoch, seq, st, _ := c.position("r1")
	c.close()

	// Frames 9..12 happen while the client is away; it resumes from 8.
	for i := 8; i < 12; i++ {
		p.tick(ctx, map[string]*schemas.Delta{"r1": randomDelta(i, 1, 10)})
	}
	c2, _, err := dialClient(s.url, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.close()
	c2.resume("r1", epoch, seq, st)
	c2.waitFor(t, 10*time.Second, "resume to 12", func(c *tclient) bool { return c.rooms["r1"].seq == 12 })
	_, _, want = p.room("r1")
	c2.mu.Lock()
	r = c2.rooms["r1"]
	if r.recovered != 1 || r.frames != 4 || r.resets != 0 || len(c2.violations) > 0 || stateJSON(r.state) != stateJSON(want) {
		t.Fatalf("after resume: recovered=%d frames=%d resets=%d violations=%v", r.recovered, r.frames, r.resets, c2.violations)
	}
	c2.mu.Unlock()

	// A position in an epoch the room never had: recovered:false + snapshot.
	c3, _, err := dialClient(s.url, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.close()
	c3.resume("r1", "other-epoch", 3, schemas.NewRoomState())
	c3.waitFor(t, 10*time.Second, "reset snapshot", func(c *tclient) bool { r := c.rooms["r1"]; return r.epoch == "e1" && r.seq == 12 })
	c3.mu.Lock()
	if r := c3.rooms["r1"]; r.resets != 1 || r.recovered != 0 || stateJSON(r.state) != stateJSON(want) {
		t.Fatalf("unknown epoch: resets=%d recovered=%d", r.resets, r.recovered)
	}
	c3.mu.Unlock()

	// The processors rebuild the room in epoch e2: subscribers get a
	// snapshot reset, then e2's frames.
	p.newEpoch("r1", "e2")
	for i := 0; i < 3; i++ {
		p.tick(ctx, map[string]*schemas.Delta{"r1": randomDelta(100+i, 1, 10)})
	}
	_, _, want = p.room("r1")
	for _, c := range []*tclient{c2, c3} {
		c.waitFor(t, 10*time.Second, "epoch e2 at 3", func(c *tclient) bool { r := c.rooms["r1"]; return r.epoch == "e2" && r.seq == 3 })
		c.mu.Lock()
		if len(c.violations) > 0 || stateJSON(c.rooms["r1"].state) != stateJSON(want) || c.rooms["r1"].resets == 0 {
			t.Fatalf("after epoch change: violations %v resets %d", c.violations, c.rooms["r1"].resets)
		}
		c.mu.Unlock()
	}

	// A room with no history: snapshot at ("", 0), then frame 1 of its epoch.
	c2.subscribe("fresh")
	c2.waitFor(t, 10*time.Second, "empty snapshot", func(c *tclient) bool { r := c.rooms["fresh"]; return r != nil && r.hadState })
	p.tick(ctx, map[string]*schemas.Delta{"fresh": randomDelta(1, 0, 0)})
	c2.waitFor(t, 10*time.Second, "fresh frame 1", func(c *tclient) bool { r := c.rooms["fresh"]; return r.seq == 1 && r.epoch == "e1" })

	// Unsubscribe: the reply, then nothing more for the room.
	c2.send(`{"op":"unsubscribe","id":"u1","room":"fresh"}`)
	c2.waitFor(t, 5*time.Second, "unsubscribed", func(c *tclient) bool { return c.rooms["fresh"] == nil })
	p.tick(ctx, map[string]*schemas.Delta{"fresh": randomDelta(2, 0, 0)})
	c2.send(`{"op":"ping","id":"p1"}`)
	c2.waitFor(t, 5*time.Second, "pong", func(c *tclient) bool { return c.pongs == 1 })
	c2.mu.Lock()
	if len(c2.violations) > 0 {
		t.Fatalf("violations: %v", c2.violations)
	}
	c2.mu.Unlock()
}

// TestPublish: publish goes through the ingest path and is acked with the
// event id; refusals carry ingest's code and field; without a publish path
// the answer is publish_unavailable.
func TestPublish(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	var mu sync.Mutex
	var gotRoom, gotUser string
	s := startServer(t, brokers, topics, func(c *Config) {
		c.Publish = func(_ context.Context, claims *auth.Claims, room string, ev []byte) (string, error) {
			mu.Lock()
			gotRoom, gotUser = room, claims.User()
			mu.Unlock()
			if strings.Contains(string(ev), "bad") {
				return "", &schemas.PublishError{Status: 400, Code: "invalid_event", Field: "data.emoji", Message: "emoji is missing"}
			}
			if strings.Contains(string(ev), "boom") {
				return "", errors.New("kafka down")
			}
			return "ev-1", nil
		}
	})
	c, _, err := dialClient(s.url, allRooms(t, "bob"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.send(`{"op":"publish","id":"1","room":"r","event":{"id":"ev-1","type":"reaction","data":{"emoji":"👍"}}}`)
	c.send(`{"op":"publish","id":"2","room":"r","event":{"type":"reaction","data":{"bad":1}}}`)
	c.send(`{"op":"publish","id":"3","room":"r","event":{"type":"reaction","data":{"boom":1}}}`)
	c.send(`{"op":"publish","id":"4","room":"r"}`)
	c.waitFor(t, 5*time.Second, "ack and 3 errors", func(c *tclient) bool { return len(c.acks) == 1 && len(c.errors) == 3 })
	c.mu.Lock()
	defer c.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if c.acks["1"] != "ev-1" || gotRoom != "r" || gotUser != "bob" {
		t.Fatalf("ack %v room %q user %q", c.acks, gotRoom, gotUser)
	}
	codes := map[string]string{}
	for _, e := range c.errors {
		codes[fmt.Sprint(e["id"])] = fmt.Sprint(e["code"], "/", e["field"])
	}
	want := map[string]string{"2": "invalid_event/data.emoji", "3": "publish_failed/<nil>", "4": "bad_request/event"}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Fatalf("errors %v, want %v", codes, want)
	}

	s2 := startServer(t, brokers, topics, nil)
	c2, _, err := dialClient(s2.url, allRooms(t, "bob"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.close()
	c2.send(`{"op":"publish","id":"9","room":"r","event":{"type":"reaction","data":{"emoji":"👍"}}}`)
	c2.waitFor(t, 5*time.Second, "publish_unavailable", func(c *tclient) bool {
		return len(c.errors) == 1 && c.errors[0]["code"] == CodePublishUnavailable && c.errors[0]["id"] == "9"
	})
}

// TestBadInput: every bad thing a client (or a bad record) can do gets its
// documented answer, and the pusher keeps serving a well-behaved client
// throughout.
func TestBadInput(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	s := startServer(t, brokers, topics, func(c *Config) {
		c.MaxRooms = 3
		c.InboundRate, c.InboundBurst = 20, 20
		c.MaxMessageBytes = 2048
		c.AllowedOrigins = []string{"https://ok.example"}
		c.MaxConnsPerUser = 2
	})
	good, _, err := dialClient(s.url, allRooms(t, "good"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.close()
	good.subscribe("room")
	good.waitFor(t, 5*time.Second, "good subscribed", func(c *tclient) bool { r := c.rooms["room"]; return r != nil && r.hadState })
	seq := 0
	tickGood := func() {
		t.Helper()
		seq++
		if err := p.tick(ctx, map[string]*schemas.Delta{"room": randomDelta(seq, 1, 20)}); err != nil {
			t.Fatal(err)
		}
	}

	closeCase := func(name string, tok string, hdr http.Header, send []string, wantCode int) {
		t.Helper()
		c, _, err := dialClient(s.url, tok, hdr)
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		for _, m := range send {
			c.send(m)
		}
		code, text := c.waitClosed(t, 10*time.Second)
		if code != wantCode {
			t.Fatalf("%s: close code %d (%q), want %d", name, code, text, wantCode)
		}
		tickGood()
	}
	tok := allRooms(t, "mallory")
	closeCase("not JSON", tok, nil, []string{`{"op":`}, CloseBadMessage)
	closeCase("JSON array", tok, nil, []string{`[1,2]`}, CloseBadMessage)
	closeCase("oversized", tok, nil, []string{`{"op":"ping","id":"` + strings.Repeat("x", 4000) + `"}`}, closeMessageTooBig)
	var flood []string
	for i := 0; i < 60; i++ {
		flood = append(flood, fmt.Sprintf(`{"op":"subscribe","id":"%d","room":"room"}`, i))
	}
	closeCase("subscribe flood", tok, nil, flood, CloseRateLimited)
	closeCase("too many rooms", tok, nil, []string{
		`{"op":"subscribe","room":"a"}`, `{"op":"subscribe","room":"b"}`, `{"op":"subscribe","room":"c"}`, `{"op":"subscribe","room":"d"}`,
	}, CloseTooManyRooms)
	closeCase("forged token", strings.TrimSuffix(tok, tok[len(tok)-4:])+"AAAA", nil, nil, CloseUnauthorized)
	closeCase("no token", "", nil, nil, CloseUnauthorized)
	closeCase("expired token", token(t, "mallory", -time.Hour, map[string][]schemas.Capability{"*": {schemas.CapSubscribe}}), nil, nil, CloseTokenExpired)
	closeCase("foreign origin", tok, http.Header{"Origin": {"https://evil.example"}}, nil, CloseForbiddenOrigin)

	// Binary message.
	{
		c, _, err := dialClient(s.url, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
		if code, _ := c.waitClosed(t, 5*time.Second); code != CloseBadMessage {
			t.Fatalf("binary: close %d", code)
		}
	}
	// Allowed origin, token in the query string. The server frees a
	// closed connection's slot when the close handshake ends, a moment
	// after the client saw it: wait for that before counting slots.
	for deadline := time.Now().Add(5 * time.Second); s.Connections() > 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	{
		c, _, err := dialClient(s.url+"?token="+tok, "", http.Header{"Origin": {"https://ok.example"}})
		if err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, 5*time.Second, "welcome", func(c *tclient) bool { return c.welcome != nil })
		// Connections per user: this is mallory's 1st; 2 more exceed 2.
		c2, _, _ := dialClient(s.url, tok, nil)
		c3, _, _ := dialClient(s.url, tok, nil)
		if code, _ := c3.waitClosed(t, 5*time.Second); code != CloseTooManyConns {
			t.Fatalf("3rd connection of a user: close %d, want %d", code, CloseTooManyConns)
		}
		c2.close()
		c.close()
	}

	// Errors that keep the connection open.
	c, _, err := dialClient(s.url, token(t, "carol", time.Hour, map[string][]schemas.Capability{"show-*": {schemas.CapSubscribe}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for _, m := range []string{
		`{"op":"dance","id":"1"}`,
		`{"id":"2"}`,
		`{"op":"subscribe","id":"3","room":"other"}`,
		`{"op":"subscribe","id":"4","room":"bad room!"}`,
		`{"op":"subscribe","id":"5","room":"show-1","seq":4}`,
		`{"op":"subscribe","id":"6","room":"show-1","epoch":"e1","seq":-1}`,
		`{"op":"ping","id":7}`,
		`{"op":"unsubscribe","id":"8"}`,
	} {
		c.send(m)
	}
	c.send(`{"op":"ping","id":"last"}`)
	c.waitFor(t, 5*time.Second, "8 errors and a pong", func(c *tclient) bool { return len(c.errors) == 8 && c.pongs == 1 })
	var got []string
	c.mu.Lock()
	for _, e := range c.errors {
		got = append(got, fmt.Sprint(e["id"], ":", e["code"], ":", e["field"]))
	}
	c.mu.Unlock()
	want := []string{"1:unknown_op:op", "2:unknown_op:op", "3:forbidden:<nil>", "4:bad_request:room", "5:bad_request:epoch",
		"<nil>:bad_request:seq", "<nil>:bad_request:id", "8:bad_request:room"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("errors\n got %v\nwant %v", got, want)
	}

	// Malformed records on the frames and snapshots topics are skipped.
	raw, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, r := range []*kgo.Record{
		{Topic: topics.Frames, Key: []byte("room"), Value: []byte("not json")},
		{Topic: topics.Frames, Key: []byte("room"), Value: []byte(`{"room":"room","epoch":"e1","seq":0,"ts":1,"delta":{}}`)},
		{Topic: topics.Frames, Key: []byte("room"), Value: []byte(`{"room":"room","epoch":"e1","seq":99,"ts":1,"delta":{"bogus":1}}`)},
		{Topic: topics.Snapshots, Key: []byte("room"), Value: []byte(`{"room":1}`)},
	} {
		if err := raw.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tickGood()
	tickGood()
	_, last, want2 := p.room("room")
	good.waitFor(t, 10*time.Second, "good client keeps up", func(c *tclient) bool { return c.rooms["room"].seq == last })
	good.mu.Lock()
	defer good.mu.Unlock()
	if r := good.rooms["room"]; len(good.violations) > 0 || r.resets != 0 || r.frames != int(last) || stateJSON(r.state) != stateJSON(want2) {
		t.Fatalf("good client: frames %d of %d, resets %d, violations %v", r.frames, last, r.resets, good.violations)
	}
}
