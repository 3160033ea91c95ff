package bench

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// frameCounter reads the frames topic (read_committed, as pushers do) from
// its end at start and sums the totals of the run's rooms: the events the
// processors aggregated, counted from what they committed, not from what
// they say.
type frameCounter struct {
	cl         *kgo.Client
	roomPrefix string
	frames     atomic.Int64 // frames of the run's rooms
	events     atomic.Int64 // sum of their delta totals
	lastTS     atomic.Int64 // largest frame ts seen
	// visible records, per frame, ingest ts → the frame readable by a
	// read_committed consumer: the processors' and Kafka's share of the
	// end-to-end latency, before any pusher.
	visible *recorder
	done    chan struct{}
}

func newFrameCounter(brokers []string, topic, roomPrefix string) (*frameCounter, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	return &frameCounter{cl: cl, roomPrefix: roomPrefix, visible: newRecorder(), done: make(chan struct{})}, nil
}

// ready blocks until the consumer has its partitions and end offsets, so
// that no frame of the run is produced before it is listening.
func (fc *frameCounter) ready(ctx context.Context) error {
	// A first poll with a short deadline makes the client list offsets.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fs := fc.cl.PollFetches(pctx)
	fc.count(fs)
	return ctx.Err()
}

// run counts until ctx ends.
func (fc *frameCounter) run(ctx context.Context) {
	defer close(fc.done)
	for ctx.Err() == nil {
		fc.count(fc.cl.PollFetches(ctx))
	}
}

func (fc *frameCounter) count(fs kgo.Fetches) {
	var f msgFields
	now := time.Now().UnixMicro()
	fs.EachRecord(func(r *kgo.Record) {
		if !strings.HasPrefix(string(r.Key), fc.roomPrefix) {
			return
		}
		if !scanMessage(r.Value, &f) {
			return
		}
		fc.frames.Add(1)
		if f.ts > 0 {
			fc.visible.record(int(r.Partition), now-f.ts*1000)
		}
		if f.ts > fc.lastTS.Load() {
			fc.lastTS.Store(f.ts)
		}
		i := bytes.Index(f.delta, []byte(`"totals":`))
		if i < 0 {
			return
		}
		var t schemas.Totals
		if _, err := json.Parse(f.delta[i+len(`"totals":`):], &t, 0); err != nil {
			return
		}
		fc.events.Add(t.Chat + t.Reactions + t.Votes + t.Questions + t.Upvotes + t.Answers)
	})
}

func (fc *frameCounter) close() {
	fc.cl.Close()
}
