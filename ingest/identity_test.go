package ingest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestRealKafkaSameIDTwoUsers: an event's identity is (room, user, id).
// Two users publishing the same id in one room are two events: ingest
// accepts both and both reach Kafka, each with its own user. The same user
// sending the same id again is a retry: ingest does not deduplicate (it
// keeps no state across requests), so it answers accepted with the same id
// and the topic holds the copy; the processors and the analytics sink
// count it once (docs/ingest.md, Retrying).
func TestRealKafkaSameIDTwoUsers(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 3)
	r := newRig(t, brokers, topic, Config{})
	hc := r.srv.Client()
	const room, id = "show-9", "same-1"
	sends := []struct{ user, body string }{
		{"alice", evt("chat.message", `{"text":"from alice"}`, `"id":"`+id+`"`)},
		{"bob", evt("reaction", `{"emoji":"👏"}`, `"id":"`+id+`"`)},
		{"alice", evt("chat.message", `{"text":"from alice"}`, `"id":"`+id+`"`)}, // alice retries
	}
	for i, s := range sends {
		rep := post(t, hc, r.url(room), pubToken(t, s.user, room), []byte(s.body))
		if rep.status != 200 || rep.single.Status != "accepted" || rep.single.ID != id {
			t.Fatalf("send %d (%s): got %d %s", i, s.user, rep.status, rep.raw)
		}
	}
	var got []string
	for _, rec := range readAll(t, brokers, topic) {
		ev, err := schemas.ParseEvent(rec.Value)
		if err != nil {
			t.Fatalf("record at %d/%d: %v", rec.Partition, rec.Offset, err)
		}
		if string(rec.Key) != room || ev.Room != room || ev.ID != id {
			t.Fatalf("record at %d/%d: key %q room %q id %q", rec.Partition, rec.Offset, rec.Key, ev.Room, ev.ID)
		}
		got = append(got, fmt.Sprintf("%s:%s", ev.User, ev.Type))
	}
	want := []string{"alice:chat.message", "bob:reaction", "alice:chat.message"}
	if !slices.Equal(got, want) {
		t.Fatalf("topic holds %v, want %v (one partition per room, in send order)", got, want)
	}
}
