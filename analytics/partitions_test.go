package analytics

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestSinkNewPartitions grows the events and frames topics from 8 to 12
// partitions while two sinks copy them and events keep arriving: the sinks
// find the new partitions by themselves (metadata refresh, a group
// rebalance), read them from their start, and within 60 s of the growth
// ClickHouse holds every partition's last record and every room equals the
// fold, exactly.
func TestSinkNewPartitions(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	events := kafkatest.Topic(t, brokers, 8)
	frames := kafkatest.Topic(t, brokers, 8)
	topics := schemas.Topics{Events: events, Frames: frames}

	w := newWorkload(12, 24, 30_000, time.Now().Add(-time.Hour))
	cl := kafkatest.Client(t, brokers)
	third := len(w.events) / 3
	produceAll(t, cl, events, w.events[:third])
	produceAll(t, cl, frames, w.frames[:len(w.frames)/3])
	cfg := SinkConfig{Brokers: brokers, Topics: topics, ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db},
		MaxBatchRows: 2000, FlushInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, MetadataRefresh: 5 * time.Second, Log: testLog(t)}
	defer runSink(t, cfg)()
	defer runSink(t, cfg)()
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)

	adm := kadm.NewClient(cl)
	ctx := context.Background()
	grown := time.Now()
	for _, topic := range []string{events, frames} {
		resp, err := adm.UpdatePartitions(ctx, 12, topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("grow %s to 12 partitions: %v", topic, err)
		}
	}
	// Wait until the broker reports 12 partitions, then produce with a new
	// client: an existing one may keep its 8-partition view until its next
	// metadata refresh, and then nothing would land on the new partitions.
	for wait := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		td, err := adm.ListTopics(ctx, events, frames)
		if err == nil && len(td[events].Partitions) == 12 && len(td[frames].Partitions) == 12 {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("the broker does not report 12 partitions 30 s after the growth: %v", err)
		}
	}
	cl = kafkatest.Client(t, brokers)
	// The rest arrives over 10 s, on all 12 partitions.
	const slices = 20
	rest, restF := w.events[third:], w.frames[len(w.frames)/3:]
	for i := range slices {
		produceAll(t, cl, events, rest[i*len(rest)/slices:(i+1)*len(rest)/slices])
		produceAll(t, cl, frames, restF[i*len(restF)/slices:(i+1)*len(restF)/slices])
		time.Sleep(500 * time.Millisecond)
	}
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, time.Until(grown.Add(60*time.Second)))
	caught := time.Since(grown)

	held, err := readOffsets(ctx, chtest.Open(t, chAddr, ""), db, []string{events, frames})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{events, frames} {
		n := 0
		for p := range held[topic] {
			if p >= 8 {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: ClickHouse holds nothing of partitions 8-11 (%v): the test proves nothing", topic, held[topic])
		}
	}
	srv := newAPIServer(t, chAddr, db)
	checkRooms(t, srv.URL, testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}}), w)
	t.Logf("8 -> 12 partitions under load: ClickHouse held every partition's end %v after the growth; all %d rooms exact", caught.Round(100*time.Millisecond), len(w.rooms))
}
