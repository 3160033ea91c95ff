package analytics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

func fetch(topic string, partition int32, lso int64, offsets ...int64) kgo.Fetches {
	var recs []*kgo.Record
	for _, o := range offsets {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Offset: o})
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: topic, Partitions: []kgo.FetchPartition{
		{Partition: partition, LastStableOffset: lso, Records: recs},
	}}}}}
}

// TestLagTracker checks the sink's lag gauge: per topic kind, the sum over
// partitions of last stable offset minus the next offset to read, kept for
// partitions whose latest fetch had no records.
func TestLagTracker(t *testing.T) {
	topics := schemas.Topics{}.WithDefaults()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lag"}, []string{"topic"})
	l := lagTracker{}
	l.observe(fetch(topics.Events, 0, 100, 10, 11), topics, g) // next 12: 88 behind
	l.observe(fetch(topics.Events, 1, 50, 49), topics, g)      // caught up
	l.observe(fetch(topics.Frames, 3, 10, 2), topics, g)       // 7 behind
	l.observe(kgo.Fetches{}, topics, g)                        // nothing new: unchanged
	if got := testutil.ToFloat64(g.WithLabelValues("events")); got != 88 {
		t.Fatalf("events lag = %v, want 88", got)
	}
	if got := testutil.ToFloat64(g.WithLabelValues("frames")); got != 7 {
		t.Fatalf("frames lag = %v, want 7", got)
	}
	l.observe(fetch(topics.Events, 0, 100, 99), topics, g)
	if got := testutil.ToFloat64(g.WithLabelValues("events")); got != 0 {
		t.Fatalf("events lag after catching up = %v, want 0", got)
	}
}
