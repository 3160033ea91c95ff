package analytics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestSinkBackpressure stops ClickHouse under a running sink while 60,000
// more events arrive: the sink reports not ready with the ClickHouse
// error, holds at most two batches of rows (everything else stays in
// Kafka), and once ClickHouse is back it catches up with every count
// exact.
func TestSinkBackpressure(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ch := chtest.Start(t)
	events := kafkatest.Topic(t, brokers, 4)
	frames := kafkatest.Topic(t, brokers, 4)
	topics := schemas.Topics{Events: events, Frames: frames}
	const db = "ovation_bp"
	w := newWorkload(5, 6, 80_000, time.Now().Add(-time.Hour))
	cl := kafkatest.Client(t, brokers)
	first := 20_000
	produceAll(t, cl, events, w.events[:first])
	produceAll(t, cl, frames, w.frames[:len(w.frames)/4])

	const batchRows = 4000
	reg := prometheus.NewRegistry()
	s, err := NewSink(SinkConfig{Brokers: brokers, Topics: topics, ClickHouse: ClickHouseConfig{Addr: []string{ch.Addr()}, Database: db},
		MaxBatchRows: batchRows, FlushInterval: 100 * time.Millisecond, RetryMax: time.Second, Log: testLog(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSinkValue(t, s)
	defer stop()
	waitCaughtUp(t, ch.Addr(), db, brokers, []string{events, frames}, 60*time.Second)
	if ok, why := s.Ready(); !ok {
		t.Fatalf("not ready with ClickHouse up: %s", why)
	}

	ch.Stop()
	produceAll(t, cl, events, w.events[first:])
	produceAll(t, cl, frames, w.frames[len(w.frames)/4:])
	var maxPending float64
	sawNotReady := ""
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); {
		maxPending = max(maxPending, metricValue(s.m.pending))
		if ok, why := s.Ready(); !ok && sawNotReady == "" {
			sawNotReady = why
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sawNotReady == "" {
		t.Error("the sink stayed ready with ClickHouse down")
	}
	if maxPending > 2*batchRows || maxPending == 0 {
		t.Errorf("pending rows peaked at %v with ClickHouse down; want (0, %d]: one batch inserting, one full", maxPending, 2*batchRows)
	}
	errs := metricValue(s.m.insertErrs.WithLabelValues(TableEvents)) + metricValue(s.m.insertErrs.WithLabelValues(TableFrames))
	t.Logf("ClickHouse down: not ready (%.80s…), pending rows peaked at %.0f of %d waiting in Kafka, %.0f failed inserts retried",
		sawNotReady, maxPending, len(w.events)-first, errs)

	ch.Restart()
	waitCaughtUp(t, ch.Addr(), db, brokers, []string{events, frames}, 90*time.Second)
	api := newAPIServer(t, ch.Addr(), db)
	checkRooms(t, api.URL, testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}}), w)
	deadline := time.Now().Add(10 * time.Second)
	for ok, _ := s.Ready(); !ok && time.Now().Before(deadline); ok, _ = s.Ready() {
		time.Sleep(100 * time.Millisecond)
	}
	if ok, why := s.Ready(); !ok {
		t.Errorf("still not ready after ClickHouse came back: %s", why)
	}
}

// metricValue reads a gauge's or counter's current value.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}
