package analytics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// identityEvents are two users publishing under the same ids in one room,
// one of them twice (a client retry): identity is (room, user, id), so the
// other user's events count, the retry does not.
func identityEvents(t testing.TB, room string, ts int64) []*kgo.Record {
	var recs []*kgo.Record
	add := func(user, id string, typ schemas.Type, data any) {
		ev := &schemas.Event{V: 1, ID: id, Room: room, User: user, Type: typ, TS: ts, Data: mustJSON(data)}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Key: []byte(room), Value: b})
		ts++
	}
	add("alice", "msg-1", schemas.ChatMessage, schemas.ChatMessageData{Text: "hi from alice"})
	add("bob", "msg-1", schemas.ChatMessage, schemas.ChatMessageData{Text: "hi from bob"})
	add("alice", "msg-1", schemas.ChatMessage, schemas.ChatMessageData{Text: "hi from alice"}) // retry
	add("mallory", "msg-1", schemas.Reaction, schemas.ReactionData{Emoji: "🔥"})
	add("alice", "r-1", schemas.Reaction, schemas.ReactionData{Emoji: "👏"})
	add("bob", "r-1", schemas.Reaction, schemas.ReactionData{Emoji: "👏"})
	add("bob", "r-1", schemas.Reaction, schemas.ReactionData{Emoji: "👏"}) // retry
	return recs
}

// TestSinkIdentityRoomUserID sends, through real Kafka and the sink, two
// users publishing the same ids in one room and one user retrying: in
// ClickHouse both users' events count and the retry once; the chat history
// shows both messages.
func TestSinkIdentityRoomUserID(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	events := kafkatest.Topic(t, brokers, 2)
	frames := kafkatest.Topic(t, brokers, 2)
	room := "ident-1"
	produceAll(t, kafkatest.Client(t, brokers), events, identityEvents(t, room, time.Now().Add(-time.Minute).UnixMilli()))

	cfg := SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames},
		ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, FlushInterval: 100 * time.Millisecond, Log: testLog(t)}
	stop := runSink(t, cfg)
	waitCaughtUp(t, chAddr, db, brokers, []string{events}, 60*time.Second)
	stop()
	checkIdentity(t, chAddr, db, room)
}

// checkIdentity checks what identityEvents must leave in db.
func checkIdentity(t testing.TB, chAddr, db, room string) {
	t.Helper()
	conn := chtest.Open(t, chAddr, "")
	var chat, reactions, finalRows uint64
	if err := conn.QueryRow(context.Background(), "SELECT uniqExactIf((user, id), type = 'chat.message'), uniqExactIf((user, id), type = 'reaction') FROM "+db+".events WHERE room = ?", room).Scan(&chat, &reactions); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".events FINAL WHERE room = ?", room).Scan(&finalRows); err != nil {
		t.Fatal(err)
	}
	if chat != 2 || reactions != 3 || finalRows != 5 {
		t.Errorf("events of %s: %d chat messages, %d reactions, %d rows with FINAL; want 2, 3, 5 (two users' msg-1 and r-1 each once, mallory's msg-1 reaction)", room, chat, reactions, finalRows)
	}

	srv := newAPIServer(t, chAddr, db)
	host := testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost, schemas.CapSubscribe}})
	var page ChatPage
	apiGet(t, srv.URL, host, "/v1/rooms/"+room+"/analytics/chat", &page)
	var got []string
	for _, m := range page.Messages {
		got = append(got, m.User+":"+m.ID+":"+m.Text)
	}
	if want := "bob:msg-1:hi from bob,alice:msg-1:hi from alice"; strings.Join(got, ",") != want {
		t.Errorf("chat history %v, want %s", got, want)
	}
}

// TestMigrateEventsKey upgrades a database written by an older build
// (events sorted by (room, id), schema version 1) and checks that the rows
// are kept, the table is re-keyed, the offsets view is back (the sink
// resumes where it was and writes on), and that running the migration
// again, or two at once, changes nothing.
func TestMigrateEventsKey(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	conn := chtest.Open(t, chAddr, "")
	ctx := context.Background()

	// The schema as version 1 created it.
	m := &migrator{conn: conn, db: db}
	old := strings.Replace(singleV1[0], "ORDER BY ("+eventsKey+")", "ORDER BY ("+eventsOldKey+")", 1)
	if old == singleV1[0] {
		t.Fatal("could not derive the old events table")
	}
	if err := m.execAll(ctx, append([]string{`CREATE DATABASE IF NOT EXISTS {db}`,
		`CREATE TABLE {db}.schema_migrations (version UInt32, applied DateTime) ENGINE = ReplacingMergeTree ORDER BY version`,
		old}, singleV1[1:]...)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO "+db+".schema_migrations (version, applied) SELECT toUInt32(1), now()"); err != nil {
		t.Fatal(err)
	}

	// The old build's sink copies the first half of the events.
	events := kafkatest.Topic(t, brokers, 2)
	frames := kafkatest.Topic(t, brokers, 2)
	room := "ident-migrate"
	recs := identityEvents(t, room, time.Now().Add(-time.Minute).UnixMilli())
	cl := kafkatest.Client(t, brokers)
	produceAll(t, cl, events, recs[:3])
	var rows []eventRow
	fs := readAll(t, brokers, events, 3)
	for _, r := range fs {
		ev, err := schemas.ParseEvent(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, newEventRow(&ev, source{topic: r.Topic, partition: r.Partition, offset: r.Offset}))
	}
	w := &writer{conn: conn, db: db, log: testLog(t), m: newMetrics(nil), timeout: time.Minute, retryMin: time.Millisecond, retryMax: time.Millisecond}
	if err := w.write(ctx, nil, rows, nil); err != nil {
		t.Fatal(err)
	}

	// Two new sinks migrate at once.
	cfg := ClickHouseConfig{Addr: []string{chAddr}, Database: db}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- Migrate(ctx, chtest.Open(t, chAddr, ""), cfg) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			// A racing RENAME or copy may lose; the sink retries, as here.
			t.Logf("concurrent migration: %v (retrying)", err)
			if err := retryLoop(ctx, testLog(t), time.Millisecond, 10*time.Millisecond, "migrate", func(ctx context.Context) error {
				return Migrate(ctx, conn, cfg)
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := Migrate(ctx, conn, cfg); err != nil {
		t.Fatal(err)
	}
	_, key, _, err := m.tableInfo(ctx, "events")
	if err != nil || key != eventsKey {
		t.Fatalf("events sorted by %q (%v), want %q", key, err, eventsKey)
	}
	for _, gone := range []string{"events_old", "events_rekey"} {
		if _, _, ok, _ := m.tableInfo(ctx, gone); ok {
			t.Errorf("%s.%s left behind", db, gone)
		}
	}
	var version uint32
	if err := conn.QueryRow(ctx, "SELECT toUInt32(max(version)) FROM "+db+".schema_migrations").Scan(&version); err != nil || int(version) != SchemaVersion() {
		t.Fatalf("schema version %d (%v), want %d", version, err, SchemaVersion())
	}

	// The new sink resumes after what the old one wrote and copies the rest.
	produceAll(t, cl, events, recs[3:])
	stop := runSink(t, SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames}, ClickHouse: cfg,
		FlushInterval: 100 * time.Millisecond, Log: testLog(t)})
	waitCaughtUp(t, chAddr, db, brokers, []string{events}, 60*time.Second)
	stop()
	var copies uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".events WHERE koffset < 3").Scan(&copies); err != nil {
		t.Fatal(err)
	}
	t.Logf("rows of the first 3 records after migration and resume: %d (copies of a re-copied migration collapse)", copies)
	checkIdentity(t, chAddr, db, room)
}

// readAll reads n records of topic from its start.
func readAll(t testing.TB, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := kafkatest.Client(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestIdentityAgreesWithProcessors runs the same events through the real
// `ovation process` and the sink: the processors' snapshot (what viewers
// see), the API's totals (the frames in ClickHouse) and the distinct
// (user, id) in the events table all count both users' events and the
// retries once.
func TestIdentityAgreesWithProcessors(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	bin := buildOvation(t)
	if !processorAvailable(bin) {
		t.Skip("this build has no ovation process")
	}
	db := chtest.Database(t, chAddr)
	events := kafkatest.Topic(t, brokers, 4)
	frames := kafkatest.Topic(t, brokers, 4)
	proc := startProcessor(t, bin, brokers, events, frames)
	defer proc.stop()
	room := "ident-proc"
	produceAll(t, kafkatest.Client(t, brokers), events, identityEvents(t, room, time.Now().Add(-time.Minute).UnixMilli()))
	proc.waitDone(t, events, 60*time.Second)
	snap, ok := lastSnapshots(t, brokers, proc.topics.Snapshots)[room]
	if !ok {
		t.Fatalf("no snapshot of %s", room)
	}
	want := schemas.Totals{Chat: 2, Reactions: 3}
	if snap.State.Totals != want {
		t.Errorf("processors' snapshot totals %+v, want %+v", snap.State.Totals, want)
	}

	cfg := SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames},
		ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, FlushInterval: 100 * time.Millisecond, Log: testLog(t)}
	stop := runSink(t, cfg)
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)
	stop()
	checkIdentity(t, chAddr, db, room)
	srv := newAPIServer(t, chAddr, db)
	var s Summary
	apiGet(t, srv.URL, testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}}), "/v1/rooms/"+room+"/analytics/summary", &s)
	if s.Totals != snap.State.Totals || s.Events["chat.message"] != 2 || s.Events["reaction"] != 3 || s.Participants != 3 {
		t.Errorf("API totals %+v, events %v, participants %d; want the snapshot's %+v, 2 chat, 3 reactions, 3 participants", s.Totals, s.Events, s.Participants, snap.State.Totals)
	}
}
