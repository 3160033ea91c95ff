package analytics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestSinkCustomTypes: through real Kafka and ClickHouse, a sink given
// the deployment's registry copies custom events like any other, once
// per (room, user, id) whatever the retries, with the key in ref; events
// the type's schema refuses, and custom types the registry lacks, are
// skipped as invalid (the processors dead-letter them), so ClickHouse
// counts what the room state counts.
func TestSinkCustomTypes(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	g, err := schemas.ParseRegistry([]byte(`types:
  - name: custom.hype
    fold: counter
    key: level
    keys: [fire, wow]
    schema: {type: object, properties: {level: {type: string}}, required: [level]}
`))
	if err != nil {
		t.Fatal(err)
	}
	events := kafkatest.Topic(t, brokers, 2)
	frames := kafkatest.Topic(t, brokers, 2)
	room := "custom-sink"
	ts := time.Now().Add(-time.Minute).UnixMilli()
	var recs []*kgo.Record
	add := func(user, id string, typ schemas.Type, data string) {
		ev := &schemas.Event{V: 1, ID: id, Room: room, User: user, Type: typ, TS: ts, Data: []byte(data)}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Key: []byte(room), Value: b})
		ts++
	}
	want := map[string]uint64{}
	for i := range 30 {
		level := []string{"fire", "wow", "fire"}[i%3]
		add(fmt.Sprint("u", i), "h1", "custom.hype", fmt.Sprintf(`{"level":%q}`, level))
		want[level]++
		if i%5 == 0 {
			add(fmt.Sprint("u", i), "h1", "custom.hype", fmt.Sprintf(`{"level":%q}`, level)) // a retry
		}
	}
	add("u1", "bad-1", "custom.hype", `{"level":"meh"}`) // not one of the keys
	add("u1", "bad-2", "custom.other", `{}`)             // not registered
	// A built-in event last, in the same partition: waitCaughtUp knows
	// only built-in types, and once the sink is past it, it is past all.
	add("u1", "end", schemas.ChatMessage, `{"text":"end"}`)
	produceAll(t, kafkatest.Client(t, brokers), events, recs)

	cfg := SinkConfig{Custom: g, Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames},
		ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, FlushInterval: 100 * time.Millisecond, Log: testLog(t)}
	stop := runSink(t, cfg)
	waitCaughtUp(t, chAddr, db, brokers, []string{events}, 60*time.Second)
	stop()

	conn := chtest.Open(t, chAddr, "")
	rows, err := conn.Query(context.Background(), "SELECT ref, count() FROM "+db+".events FINAL WHERE room = ? AND type = 'custom.hype' GROUP BY ref ORDER BY ref", room)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for rows.Next() {
		var ref string
		var n uint64
		if err := rows.Scan(&ref, &n); err != nil {
			t.Fatal(err)
		}
		got[ref] = n
	}
	rows.Close()
	var all uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".events FINAL WHERE room = ?", room).Scan(&all); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || all != 31 {
		t.Fatalf("custom.hype by key %v (want %v), %d rows in the room (want 31: 30 once each whatever the retries, the refused and unregistered none, the last chat line)", got, want, all)
	}
}
