package processors

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestPoisonRecords writes invalid records straight to a real Kafka topic
// with a raw franz-go producer, between valid ones, and checks that each
// lands in the dead-letter topic with its reason and source, and that the
// rooms' counts and seqs are exactly those of the valid records.
func TestPoisonRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 3, 1)

	g := newGen(11, 3)
	m := newModel()
	ts := time.Now().UnixMilli()
	cl := kafkatest.Client(t, brokers, kgo.DefaultProduceTopic(tp.Events))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	part := kgo.StickyKeyPartitioner(nil).ForTopic(tp.Events)
	wrongPart := func(room string) int32 { return int32((part.Partition(&kgo.Record{Key: []byte(room)}, 3) + 1) % 3) }
	type poison struct {
		rec    *kgo.Record
		reason string
	}
	valid := func(id, room, typ string, data string) []byte {
		return []byte(fmt.Sprintf(`{"v":1,"id":%q,"room":%q,"user":"u1","type":%q,"ts":%d,"data":%s}`, id, room, typ, ts, data))
	}
	rerouted := []kgo.RecordHeader{{Key: schemas.HeaderRerouted, Value: []byte(tp.Events + "/0@1")}}
	poisons := []poison{
		{&kgo.Record{Key: []byte("room0"), Value: []byte(`{not json`)}, "invalid: "},
		{&kgo.Record{Key: []byte("room0"), Value: valid("x1", "room0", "chat.shout", `{"text":"hi"}`)}, "invalid: invalid event: field type (enum)"},
		{&kgo.Record{Key: []byte("room1"), Value: valid("x2", "room1", "chat.message", `{"text":"`+strings.Repeat("a", 17000)+`"}`)}, "invalid: invalid event (size)"},
		{&kgo.Record{Key: []byte("room1"), Value: valid("x3", "room1", "poll.vote", `{"poll_id":"nope","option":1}`)}, "unknown_poll: poll.vote event x3"},
		{&kgo.Record{Key: []byte("room2"), Value: valid("x4", "room2", "reaction", `{"emoji":"👍","extra":1}`)}, "invalid: invalid event: field data.extra (unknown)"},
		// Misplaced events are rerouted (TestReroute); a copy that is
		// still misplaced is not rerouted twice.
		{&kgo.Record{Key: []byte("other"), Value: valid("x5", "room2", "reaction", `{"emoji":"👍"}`), Headers: rerouted}, "wrong_key: "},
		{&kgo.Record{Key: []byte("room2"), Partition: wrongPart("room2"), Value: valid("x6", "room2", "reaction", `{"emoji":"👍"}`), Headers: rerouted}, "wrong_partition: "},
		{&kgo.Record{Key: []byte("room0"), Value: []byte(`{"room":"room0"}`), Headers: []kgo.RecordHeader{{Key: HeaderControl, Value: []byte("explode")}}}, "bad_control: "},
		{&kgo.Record{Key: []byte("room0"), Value: nil}, "invalid: "},
	}
	manual := kafkatest.Client(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(tp.Events))
	var nValid int
	for i := range 3000 {
		e := g.next(t, ts+int64(i))
		b, _ := e.Marshal()
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(e.Room), Value: b}).FirstErr(); err != nil && i == 0 {
			t.Fatal(err)
		}
		m.apply(e)
		nValid++
		if i%300 == 150 && i/300 < len(poisons) {
			p := poisons[i/300]
			c := cl
			if p.rec.Partition != 0 || p.reason == "wrong_partition: " {
				c = manual
			}
			if err := c.ProduceSync(ctx, p.rec).FirstErr(); err != nil {
				t.Fatalf("poison %d: %v", i/300, err)
			}
		}
	}
	cl.Flush(ctx)
	reg := prometheus.NewRegistry()
	runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: "poison-" + tp.Events, TransactionalID: "poison-" + tp.Events,
		Log: testLogger(t), Registerer: reg})
	waitCaughtUp(t, brokers, "poison-"+tp.Events, tp.Events, 60*time.Second)
	verifyOutput(t, brokers, tp, m)

	dlq := readAll(t, brokers, tp.DLQ)
	var reasons []string
	for _, r := range dlq.records {
		var reason, source string
		for _, h := range r.Headers {
			switch h.Key {
			case schemas.HeaderDLQReason:
				reason = string(h.Value)
			case schemas.HeaderDLQSource:
				source = string(h.Value)
			}
		}
		if !strings.HasPrefix(source, tp.Events+"/") || !strings.Contains(source, "@") {
			t.Fatalf("dead letter without a source: %q", source)
		}
		reasons = append(reasons, reason)
	}
	// The generator also writes references to polls, quizzes and
	// questions that do not exist; those are dead-lettered too, and the
	// model refused them. Every poison must be there with its reason.
	for _, p := range poisons {
		found := false
		for _, r := range reasons {
			if strings.HasPrefix(r, p.reason) && (p.reason != "unknown_poll: poll.vote event x3" || r == p.reason) {
				found = true
			}
		}
		if !found {
			t.Errorf("no dead letter with reason %q; got %d dead letters", p.reason, len(reasons))
		}
	}
	var genDLQ int
	for _, r := range reasons {
		if strings.HasPrefix(r, "unknown_") || strings.HasPrefix(r, "bad_option") {
			genDLQ++
		}
	}
	want := float64(len(dlq.records))
	if got := metricValue(reg, "ovation_processor_events_dead_lettered_total", ""); got != want {
		t.Fatalf("dead-letter metric %v, dead-letter topic %v", got, want)
	}
	t.Logf("%d valid events, %d dead letters (%d poison records, %d semantic rejects from the generator)", nValid, len(dlq.records), len(poisons), genDLQ)
	if len(dlq.records) < len(poisons) {
		t.Fatalf("%d dead letters for %d poison records", len(dlq.records), len(poisons))
	}
}

// TestRebuildKafka rebuilds rooms into a new epoch through a control
// record on real Kafka while events keep flowing, and checks that the new
// epoch's first snapshot equals the old state and later events continue it.
func TestRebuildKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	g := newGen(5, 4)
	m := newModel()
	ts := time.Now().UnixMilli()
	var evs []*schemas.Event
	for i := range 4000 {
		e := g.next(t, ts+int64(i))
		evs = append(evs, e)
		m.apply(e)
	}
	group := "rebuild-" + tp.Events
	runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: prometheus.NewRegistry()})
	produceEvents(t, brokers, tp.Events, evs[:2000])
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	before := verifyOutput(t, brokers, tp, modelUpTo(t, evs[:2000]))
	_ = before

	cl := kafkatest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, room := range []string{"room0", "room1"} {
		req := RebuildRequest{Room: room, Epoch: "rebuilt-" + room, FromOffset: -1}
		if err := cl.ProduceSync(ctx, req.Record(tp.Events)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceEvents(t, brokers, tp.Events, evs[2000:])
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	frames := verifyOutput(t, brokers, tp, m)
	// The rebuilt rooms' latest epoch is the requested one and starts
	// with a frame carrying the whole state (verifyOutput checked that
	// the new epoch's fold equals the fold of every event).
	seen := map[string]bool{}
	for _, r := range frames.records {
		f, _ := schemas.UnmarshalFrame(r.Value)
		if f.Epoch == "rebuilt-"+f.Room && f.Seq == 1 {
			seen[f.Room] = true
			if f.Delta.Totals == nil || f.Delta.Totals.Reactions == 0 {
				t.Fatalf("room %s: first frame of the rebuilt epoch does not carry the state: %s", f.Room, js(f.Delta.Totals))
			}
		}
	}
	if !seen["room0"] || !seen["room1"] {
		t.Fatalf("rebuilt epochs seen: %v", seen)
	}
}

func modelUpTo(t testing.TB, evs []*schemas.Event) *model {
	m := newModel()
	for _, e := range evs {
		m.apply(e)
	}
	return m
}
