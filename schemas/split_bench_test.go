package schemas

import (
	"strings"
	"testing"
)

// BenchmarkSplitBatch measures the structure pass alone (SplitBatch) on a
// batch of 100 mixed events as ingest's BenchmarkPrepareBatch publishes
// them: the part of ingest's per-event cost that reads every byte first.
func BenchmarkSplitBatch(b *testing.B) {
	kinds := []string{
		`{"type":"chat.message","data":{"text":"hello there, this is a chat line of typical length","name":"Zoë"}}`,
		`{"type":"reaction","data":{"emoji":"🔥"}}`,
		`{"type":"poll.vote","data":{"poll_id":"poll-1","option":2}}`,
		`{"type":"qa.upvote","data":{"question_id":"q-123"}}`,
	}
	var evs []string
	for i := 0; i < 100; i++ {
		evs = append(evs, kinds[i%len(kinds)])
	}
	body := []byte("[" + strings.Join(evs, ",") + "]")
	lim := EventShape.Around(1, 100)
	events := make([]BatchEvent, 0, 128)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if events, _, err = SplitBatch(body, lim, 100, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
