package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// TestBadInput sends every kind of bad request the issue lists through the
// real HTTP handler into a kfake broker, checks each answer's exact status,
// code and field, and then reads the topic back: it must hold exactly the
// events the answers called accepted, and none of the refused ones.
func TestBadInput(t *testing.T) {
	const topic = "ovation.events"
	c := newFake(t, 3, topic)
	brokers := c.ListenAddrs()
	r := newRig(t, brokers, topic, Config{MaxBatchEvents: 10, MaxRequestBytes: 64 << 10})

	good := pubToken(t, "alice", "show-1")
	moderator := token(t, "mona", map[string][]schemas.Capability{"show-1": {schemas.CapModerate, schemas.CapPublish}}, time.Hour)
	claims := func(sub string, rooms map[string][]schemas.Capability, exp time.Time) *auth.Claims {
		return &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(exp)}, Rooms: rooms}
	}
	pubClaims := claims("mallory", map[string][]schemas.Capability{"show-1": {schemas.CapPublish}}, time.Now().Add(time.Hour))
	otherKey, err := auth.Sign([]byte("not-the-server-secret-not-the-server-secret"), "", pubClaims)
	if err != nil {
		t.Fatal(err)
	}
	wrongKid, err := auth.Sign(testSecret, "k2", pubClaims) // kid k2 exists with another secret
	if err != nil {
		t.Fatal(err)
	}
	unknownKid, err := auth.Sign(testSecret, "nope", pubClaims)
	if err != nil {
		t.Fatal(err)
	}
	algNone, err := jwt.NewWithClaims(jwt.SigningMethodNone, pubClaims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	expired := token(t, "alice", map[string][]schemas.Capability{"show-1": {schemas.CapPublish}}, -2*time.Hour)
	otherRoom := pubToken(t, "alice", "show-2")
	subscribeOnly := token(t, "alice", map[string][]schemas.Capability{"show-1": {schemas.CapSubscribe}}, time.Hour)
	many := map[string][]schemas.Capability{}
	for i := 0; i <= DefaultMaxRoomsPerToken; i++ {
		many[fmt.Sprintf("room-%d", i)] = []schemas.Capability{schemas.CapPublish}
	}
	many["show-1"] = []schemas.Capability{schemas.CapPublish}
	tooManyRooms := token(t, "alice", many, time.Hour)

	chat := evt("chat.message", `{"text":"hi"}`)
	big := evt("chat.message", `{"text":"`+strings.Repeat("a", 17<<10)+`"}`)
	batch := func(n int, ev string) string { return "[" + strings.TrimSuffix(strings.Repeat(ev+",", n), ",") + "]" }

	tests := []struct {
		name   string
		room   string
		tok    string
		body   string
		status int
		code   string
		field  string
	}{
		{"malformed JSON", "show-1", good, `{"type":"chat.message","data":{"text":"hi"}`, 400, CodeInvalidJSON, ""},
		{"malformed JSON batch", "show-1", good, `[` + chat + `,{"type":]`, 400, CodeInvalidJSON, ""},
		{"not JSON at all", "show-1", good, `hello`, 400, CodeInvalidJSON, ""},
		{"empty body", "show-1", good, ``, 400, CodeInvalidJSON, ""},
		{"empty batch", "show-1", good, `[]`, 400, CodeEmptyBatch, ""},
		{"unknown type", "show-1", good, evt("chat.shout", `{"text":"hi"}`), 400, CodeInvalidEvent, "type"},
		{"missing type", "show-1", good, `{"data":{"text":"hi"}}`, 400, CodeInvalidEvent, "type"},
		{"missing data", "show-1", good, `{"type":"reaction"}`, 400, CodeInvalidEvent, "data"},
		{"missing field", "show-1", good, evt("reaction", `{}`), 400, CodeInvalidEvent, "data.emoji"},
		{"wrong JSON type", "show-1", good, evt("poll.vote", `{"poll_id":"p1","option":"two"}`), 400, CodeInvalidEvent, "data.option"},
		{"unknown envelope field", "show-1", good, evt("reaction", `{"emoji":"👍"}`, `"extra":1`), 400, CodeInvalidEvent, "extra"},
		{"unknown data field", "show-1", good, evt("reaction", `{"emoji":"👍","size":3}`), 400, CodeInvalidEvent, "data.size"},
		{"user in body", "show-1", good, evt("reaction", `{"emoji":"👍"}`, `"user":"bob"`), 400, CodeInvalidEvent, "user"},
		{"ts in body", "show-1", good, evt("reaction", `{"emoji":"👍"}`, `"ts":1`), 400, CodeInvalidEvent, "ts"},
		{"other room in body", "show-1", good, evt("reaction", `{"emoji":"👍"}`, `"room":"show-2"`), 400, CodeInvalidEvent, "room"},
		{"unsupported version", "show-1", good, evt("reaction", `{"emoji":"👍"}`, `"v":2`), 400, CodeInvalidEvent, "v"},
		{"bad id characters", "show-1", good, evt("reaction", `{"emoji":"👍"}`, `"id":"a b"`), 400, CodeInvalidEvent, "id"},
		{"id too long", "show-1", good, evt("reaction", `{"emoji":"👍"}`, `"id":"`+strings.Repeat("i", 65)+`"`), 400, CodeInvalidEvent, "id"},
		{"trailing data", "show-1", good, chat + ` {}`, 400, CodeInvalidJSON, ""},
		{"oversized event", "show-1", good, big, 413, CodeEventTooLarge, ""},
		{"chat text over its limit", "show-1", good, evt("chat.message", `{"text":"`+strings.Repeat("é", 501)+`"}`), 400, CodeInvalidEvent, "data.text"},
		{"oversized batch", "show-1", good, batch(11, chat), 413, CodeBatchTooLarge, ""},
		{"oversized request", "show-1", good, batch(4, big), 413, CodeRequestTooLarge, ""},
		{"invalid UTF-8", "show-1", good, evt("chat.message", "{\"text\":\"caf\xe9\"}"), 400, CodeInvalidEvent, ""},
		{"control character in name", "show-1", good, evt("chat.message", `{"text":"hi","name":"Ann\u0007"}`), 400, CodeInvalidEvent, "data.name"},
		{"newline in name", "show-1", good, evt("chat.message", `{"text":"hi","name":"A\nB"}`), 400, CodeInvalidEvent, "data.name"},
		{"bidi override in text", "show-1", good, evt("chat.message", `{"text":"a\u202Eb"}`), 400, CodeInvalidEvent, "data.text"},
		{"room name too long", strings.Repeat("r", 65), good, chat, 400, CodeInvalidRoom, "room"},
		{"room with bad characters", "show%201", good, chat, 400, CodeInvalidRoom, "room"},
		{"room with unicode", "sh%C3%B6w", good, chat, 400, CodeInvalidRoom, "room"},
		{"missing token", "show-1", "", chat, 401, CodeUnauthorized, ""},
		{"garbage token", "show-1", "not.a.jwt", chat, 401, CodeUnauthorized, ""},
		{"token signed with another key", "show-1", otherKey, chat, 401, CodeUnauthorized, ""},
		{"token with another key id's secret", "show-1", wrongKid, chat, 401, CodeUnauthorized, ""},
		{"token with unknown key id", "show-1", unknownKid, chat, 401, CodeUnauthorized, ""},
		{"alg none token", "show-1", algNone, chat, 401, CodeUnauthorized, ""},
		{"expired token", "show-1", expired, chat, 401, CodeTokenExpired, ""},
		{"token for another room", "show-1", otherRoom, chat, 403, CodeForbidden, "type"},
		{"publish without the capability", "show-1", subscribeOnly, chat, 403, CodeForbidden, "type"},
		{"poll.open without host", "show-1", good, evt("poll.open", `{"poll_id":"p1","question":"?","options":["a","b"]}`), 403, CodeForbidden, "type"},
		{"quiz.reveal without host", "show-1", good, evt("quiz.reveal", `{"quiz_id":"q1"}`), 403, CodeForbidden, "type"},
		{"chat.delete without moderate", "show-1", good, evt("chat.delete", `{"message_id":"m1"}`), 403, CodeForbidden, "type"},
		{"presence from a client", "show-1", good, evt("presence", `{"node":"n1","viewers":5}`), 403, CodeForbidden, "type"},
		{"token naming too many rooms", "show-1", tooManyRooms, chat, 403, CodeTooManyRooms, ""},
		{"vote for an option that cannot exist", "show-1", good, evt("poll.vote", `{"poll_id":"p1","option":10}`), 400, CodeInvalidEvent, "data.option"},
		{"negative vote option", "show-1", good, evt("poll.vote", `{"poll_id":"p1","option":-1}`), 400, CodeInvalidEvent, "data.option"},
		{"quiz answer out of range", "show-1", good, evt("quiz.answer", `{"quiz_id":"q1","option":99}`), 400, CodeInvalidEvent, "data.option"},
		{"reaction that is not an emoji", "show-1", good, evt("reaction", `{"emoji":"+1"}`), 400, CodeInvalidEvent, "data.emoji"},
		{"reaction of two emoji", "show-1", good, evt("reaction", `{"emoji":"👍👍"}`), 400, CodeInvalidEvent, "data.emoji"},
		{"reaction with an unqualified emoji", "show-1", good, evt("reaction", `{"emoji":"\u2764"}`), 400, CodeInvalidEvent, "data.emoji"},
		{"qa.remove needs moderate", "show-1", good, evt("qa.remove", `{"question_id":"q1"}`, `"id":"rm-q"`), 403, CodeForbidden, "type"},
		{"reaction.remove needs moderate", "show-1", good, evt("reaction.remove", `{"emoji":"👍"}`, `"id":"rm-r"`), 403, CodeForbidden, "type"},
		{"room.close needs host", "show-1", moderator, evt("room.close", `{}`, `"id":"close-1"`), 403, CodeForbidden, "type"},
		{"reaction.remove of a non-emoji", "show-1", moderator, evt("reaction.remove", `{"emoji":"slot"}`), 400, CodeInvalidEvent, "data.emoji"},
	}
	hc := r.srv.Client()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := post(t, hc, r.url(tc.room), tc.tok, []byte(tc.body))
			if rep.status != tc.status || rep.code() != tc.code || rep.field() != tc.field {
				t.Fatalf("got %d %s field %q, want %d %s field %q; body %s", rep.status, rep.code(), rep.field(), tc.status, tc.code, tc.field, rep.raw)
			}
			if tc.status == 401 && rep.reqErr == nil {
				t.Fatalf("a 401 must refuse the request as a whole: %s", rep.raw)
			}
		})
	}

	// What the answers accepted, to compare with the topic at the end.
	var accepted []string
	t.Run("valid event is accepted", func(t *testing.T) {
		rep := post(t, hc, r.url("show-1"), good, []byte(evt("chat.message", `{"text":"hello"}`, `"id":"ok-1"`)))
		if rep.status != 200 || rep.single.Status != "accepted" || rep.single.ID != "ok-1" {
			t.Fatalf("got %d %s", rep.status, rep.raw)
		}
		accepted = append(accepted, "ok-1")
	})
	t.Run("host may open a poll", func(t *testing.T) {
		host := token(t, "hank", map[string][]schemas.Capability{"show-*": {schemas.CapHost}}, time.Hour)
		rep := post(t, hc, r.url("show-1"), host, []byte(evt("poll.open", `{"poll_id":"p1","question":"?","options":["a","b"]}`, `"id":"ok-poll"`)))
		if rep.status != 200 || rep.single.ID != "ok-poll" {
			t.Fatalf("got %d %s", rep.status, rep.raw)
		}
		accepted = append(accepted, "ok-poll")
	})
	t.Run("moderator may remove, host may close", func(t *testing.T) {
		host := token(t, "hank", map[string][]schemas.Capability{"show-*": {schemas.CapHost}}, time.Hour)
		for _, c := range []struct{ tok, body, id string }{
			{moderator, evt("qa.remove", `{"question_id":"q1"}`, `"id":"ok-rmq"`), "ok-rmq"},
			{moderator, evt("reaction.remove", `{"emoji":"👍🏽"}`, `"id":"ok-rmr"`), "ok-rmr"},
			{host, evt("room.close", `{}`, `"id":"ok-close"`), "ok-close"},
		} {
			rep := post(t, hc, r.url("show-1"), c.tok, []byte(c.body))
			if rep.status != 200 || rep.single.ID != c.id {
				t.Fatalf("%s: got %d %s", c.id, rep.status, rep.raw)
			}
			accepted = append(accepted, c.id)
		}
	})
	t.Run("partial batch", func(t *testing.T) {
		body := "[" + evt("reaction", `{"emoji":"🔥"}`, `"id":"ok-b1"`) + "," +
			evt("reaction", `{}`, `"id":"bad-b2"`) + "," +
			evt("presence", `{"node":"n","viewers":1}`, `"id":"bad-b3"`) + "," +
			evt("reaction", `{"emoji":"👏"}`) + "]"
		rep := post(t, hc, r.url("show-1"), good, []byte(body))
		if rep.status != http.StatusMultiStatus || rep.batch.Accepted != 2 || rep.batch.Rejected != 2 {
			t.Fatalf("got %d %s", rep.status, rep.raw)
		}
		want := []struct{ id, status, code string }{{"ok-b1", "accepted", ""}, {"bad-b2", "rejected", CodeInvalidEvent}, {"bad-b3", "rejected", CodeForbidden}, {"", "accepted", ""}}
		for i, w := range want {
			got := rep.batch.Results[i]
			code := ""
			if got.Error != nil {
				code = got.Error.Code
			}
			if got.Index != i || (w.id != "" && got.ID != w.id) || got.Status != w.status || code != w.code {
				t.Fatalf("result %d = %+v, want %+v", i, got, w)
			}
		}
		if !strings.HasPrefix(rep.batch.Results[3].ID, "0") || len(rep.batch.Results[3].ID) != 36 {
			t.Fatalf("generated id %q is not a UUIDv7", rep.batch.Results[3].ID)
		}
		accepted = append(accepted, "ok-b1", rep.batch.Results[3].ID)
	})
	t.Run("all rejected for one reason", func(t *testing.T) {
		body := "[" + evt("reaction", `{}`) + "," + evt("poll.vote", `{"poll_id":"p","option":11}`) + "]"
		rep := post(t, hc, r.url("show-1"), good, []byte(body))
		if rep.status != 400 || rep.batch.Accepted != 0 || rep.batch.Rejected != 2 {
			t.Fatalf("got %d %s", rep.status, rep.raw)
		}
	})

	// A flood: a user limited to a burst of 5 at a trickle sends 8 events
	// in one batch and then one more.
	flood := newRig(t, brokers, topic, Config{UserRate: 0.01, UserBurst: 5})
	t.Run("flood over the rate limit", func(t *testing.T) {
		ftok := pubToken(t, "flooder", "show-1")
		var evs []string
		for i := 0; i < 8; i++ {
			evs = append(evs, evt("reaction", `{"emoji":"👍"}`, fmt.Sprintf(`"id":"flood-%d"`, i)))
		}
		rep := post(t, flood.srv.Client(), flood.url("show-1"), ftok, []byte("["+strings.Join(evs, ",")+"]"))
		if rep.status != http.StatusMultiStatus || rep.batch.Accepted != 5 || rep.batch.Rejected != 3 || rep.retryAfter == "" {
			t.Fatalf("got %d retry-after %q %s", rep.status, rep.retryAfter, rep.raw)
		}
		for i, res := range rep.batch.Results {
			if (i < 5) != (res.Status == "accepted") || (i >= 5 && (res.Error.Code != CodeRateLimited || res.Error.RetryAfter < 1)) {
				t.Fatalf("result %d: %+v", i, res)
			}
			if i < 5 {
				accepted = append(accepted, res.ID)
			}
		}
		rep = post(t, flood.srv.Client(), flood.url("show-1"), ftok, []byte(evs[0]))
		if rep.status != 429 || rep.code() != CodeRateLimited || rep.retryAfter == "" {
			t.Fatalf("got %d retry-after %q %s", rep.status, rep.retryAfter, rep.raw)
		}
		// Another user is not affected.
		rep = post(t, flood.srv.Client(), flood.url("show-1"), pubToken(t, "calm", "show-1"), []byte(evt("reaction", `{"emoji":"👍"}`, `"id":"calm-1"`)))
		if rep.status != 200 {
			t.Fatalf("another user: got %d %s", rep.status, rep.raw)
		}
		accepted = append(accepted, "calm-1")
	})

	// Nothing rejected reached Kafka: the topic holds exactly the accepted ids.
	ids := eventIDs(t, readAll(t, brokers, topic))
	var got []string
	for id, n := range ids {
		if n != 1 {
			t.Errorf("id %s is in the topic %d times", id, n)
		}
		got = append(got, id)
	}
	sort.Strings(got)
	sort.Strings(accepted)
	if strings.Join(got, " ") != strings.Join(accepted, " ") {
		t.Fatalf("topic holds %v\nanswers accepted %v", got, accepted)
	}
	if n := counterValue(t, r.svc.m.rejected.WithLabelValues("invalid", CodeInvalidEvent)); n < 2 {
		t.Errorf("rejected{type=invalid,reason=invalid_event} = %v, want ≥ 2", n)
	}
	if n := counterValue(t, r.svc.m.accepted.WithLabelValues("reaction")); n != 2 {
		t.Errorf("accepted{type=reaction} = %v, want 2", n)
	}
}

// TestPublishWebSocketPath drives Publish, the function the pushers call
// for events published over the socket: it must give the same answers as
// HTTP and share the per-user rate limit with it.
func TestPublishWebSocketPath(t *testing.T) {
	const topic = "ovation.events"
	c := newFake(t, 1, topic)
	r := newRig(t, c.ListenAddrs(), topic, Config{UserRate: 0.01, UserBurst: 3})
	ctx := context.Background()
	alice := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}, Rooms: map[string][]schemas.Capability{"show-1": {schemas.CapPublish}}}

	id, err := r.svc.Publish(ctx, alice, "show-1", []byte(evt("reaction", `{"emoji":"👍"}`, `"id":"ws-1"`)))
	if err != nil || id != "ws-1" {
		t.Fatalf("Publish = %q, %v", id, err)
	}
	id, err = r.svc.Publish(ctx, alice, "show-1", []byte(evt("reaction", `{"emoji":"👍"}`)))
	if err != nil || len(id) != 36 {
		t.Fatalf("Publish without id = %q, %v; want a generated UUID", id, err)
	}
	generated := id
	// Refusals go to carol: each costs her a token, as an event would.
	carol := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "carol"}, Rooms: alice.Rooms}
	checks := []struct {
		name   string
		claims *auth.Claims
		room   string
		body   string
		status int
		code   string
		id     string
	}{
		{"no claims", nil, "show-1", evt("reaction", `{"emoji":"👍"}`), 401, CodeUnauthorized, ""},
		{"bad room", carol, "a b", evt("reaction", `{"emoji":"👍"}`), 400, CodeInvalidRoom, ""},
		{"other room", carol, "show-2", evt("reaction", `{"emoji":"👍"}`, `"id":"ws-x"`), 403, CodeForbidden, "ws-x"},
		{"invalid", carol, "show-1", evt("reaction", `{}`, `"id":"ws-y"`), 400, CodeInvalidEvent, "ws-y"},
		{"malformed", carol, "show-1", `{"type":`, 400, CodeInvalidJSON, ""},
		{"nested", carol, "show-1", strings.Repeat("[", 30<<10), 400, CodeInvalidJSON, ""},
		{"repeated key", carol, "show-1", `{"type":"reaction","type":"chat.message","data":{"emoji":"x"}}`, 400, CodeInvalidEvent, ""},
		{"too large", carol, "show-1", evt("chat.message", `{"text":"`+strings.Repeat("a", 17<<10)+`"}`), 413, CodeEventTooLarge, ""},
	}
	for _, tc := range checks {
		id, err := r.svc.Publish(ctx, tc.claims, tc.room, []byte(tc.body))
		var pe *schemas.PublishError
		if !errors.As(err, &pe) || pe.Status != tc.status || pe.Code != tc.code || id != tc.id {
			t.Fatalf("%s: Publish = %q, %v; want %d %s with id %q", tc.name, id, err, tc.status, tc.code, tc.id)
		}
	}
	if _, err := r.svc.Publish(ctx, carol, "show-1", []byte(evt("reaction", `{"emoji":"👍"}`))); err == nil {
		t.Fatal("carol spent her 3 tokens on refusals, yet a valid event was accepted")
	} else if pe, _ := AsPublishError(err); pe.Code != CodeRateLimited {
		t.Fatalf("carol after refusals: %v, want rate_limited", err)
	}
	// The third token of alice's bucket goes over HTTP; the fourth event,
	// over the socket again, is refused: the limit is per user, not per path.
	tok := pubToken(t, "alice", "show-1")
	if rep := post(t, r.srv.Client(), r.url("show-1"), tok, []byte(evt("reaction", `{"emoji":"👍"}`, `"id":"http-1"`))); rep.status != 200 {
		t.Fatalf("HTTP: %d %s", rep.status, rep.raw)
	}
	_, err = r.svc.Publish(ctx, alice, "show-1", []byte(evt("reaction", `{"emoji":"👍"}`, `"id":"ws-4"`)))
	if pe, ok := AsPublishError(err); !ok || pe.Code != CodeRateLimited || pe.Status != 429 || pe.RetryAfter < 1 {
		t.Fatalf("fourth event: %v, want rate_limited with retry_after", err)
	}
	ids := eventIDs(t, readAll(t, c.ListenAddrs(), topic))
	if len(ids) != 3 || ids["ws-1"] != 1 || ids[generated] != 1 || ids["http-1"] != 1 {
		t.Fatalf("topic ids %v, want ws-1, %s, http-1 once each", ids, generated)
	}
}

// TestBackpressure fills the producer's bounded buffer while the broker
// holds the first produce request, and checks that the next request is
// answered 503 backpressure with Retry-After at once, instead of waiting,
// and that its event never reaches Kafka.
func TestBackpressure(t *testing.T) {
	const topic = "ovation.events"
	c := newFake(t, 1, topic)
	release := make(chan struct{})
	var slept atomic.Bool
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if slept.CompareAndSwap(false, true) {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	r := newRig(t, c.ListenAddrs(), topic, Config{MaxBufferedRecords: 2})
	tok := pubToken(t, "alice", "show-1")
	hc := r.srv.Client()

	var wg sync.WaitGroup
	var first reply
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = post(t, hc, r.url("show-1"), tok, []byte("["+evt("reaction", `{"emoji":"👏"}`, `"id":"held-1"`)+","+evt("reaction", `{"emoji":"🔥"}`, `"id":"held-2"`)+"]"))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for r.cl.BufferedProduceRecords() < 2 || !slept.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the first batch never reached the broker")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	rep := post(t, hc, r.url("show-1"), tok, []byte(evt("reaction", `{"emoji":"🎉"}`, `"id":"shed-1"`)))
	if rep.status != 503 || rep.code() != CodeBackpressure || rep.retryAfter != "1" || rep.single.ID != "shed-1" {
		t.Fatalf("got %d retry-after %q %s", rep.status, rep.retryAfter, rep.raw)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the refusal took %v; it must not wait for the buffer", d)
	}
	close(release)
	wg.Wait()
	if first.status != 200 || first.batch.Accepted != 2 {
		t.Fatalf("held batch: %d %s", first.status, first.raw)
	}
	ids := eventIDs(t, readAll(t, c.ListenAddrs(), topic))
	if len(ids) != 2 || ids["held-1"] != 1 || ids["held-2"] != 1 {
		t.Fatalf("topic ids %v, want held-1 and held-2 only", ids)
	}
}
