package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/processors"
	"github.com/ovation-live/ovation/schemas"
)

// TestReplayIntoEpoch runs `ovation replay --into epoch` against real
// Kafka with a processor running: the dry run writes nothing, the real run
// waits for the rebuilt snapshot, whose state equals the room's state
// before the rebuild under a new epoch at seq 1.
func TestReplayIntoEpoch(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	n := time.Now().UnixNano() % 1e9
	tp := schemas.Topics{Events: fmt.Sprintf("rb%d.events", n), Frames: fmt.Sprintf("rb%d.frames", n),
		Snapshots: fmt.Sprintf("rb%d.snaps", n), Changelog: fmt.Sprintf("rb%d.cl", n), DLQ: fmt.Sprintf("rb%d.dlq", n)}
	cl := kafkatest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := ensureTopics(ctx, kadm.NewClient(cl), tp, topicPlan{partitions: 2, replication: 1, retention: time.Hour}, io.Discard); err != nil {
		t.Fatal(err)
	}
	p, err := processors.New(processors.Config{Brokers: brokers, Topics: tp, Group: "g" + tp.Events, TransactionalID: "g" + tp.Events,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(pctx) }()
	defer func() { pcancel(); <-done }()

	ts := time.Now().UnixMilli()
	for i := range 50 {
		b := fmt.Sprintf(`{"v":1,"id":"e%d","room":"stage","user":"u%d","type":"reaction","ts":%d,"data":{"emoji":"👏"}}`, i, i, ts)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tp.Events, Key: []byte("stage"), Value: []byte(b)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before := waitSnapshot(t, ctx, brokers, tp.Snapshots, func(s schemas.Snapshot) bool { return s.State.Reactions["👏"] == 50 })

	args := []string{"--kafka-brokers", strings.Join(brokers, ","), "--topic-events", tp.Events, "--topic-frames", tp.Frames,
		"--topic-snapshots", tp.Snapshots, "--topic-changelog", tp.Changelog, "--topic-dlq", tp.DLQ, "--rooms", "stage"}
	var out, errOut bytes.Buffer
	if err := replayIntoEpoch(ctx, append(args, "--dry-run"), &out, &errOut); err != nil {
		t.Fatalf("dry run: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "dry run") || !strings.Contains(out.String(), "stage") {
		t.Fatalf("dry run output:\n%s", out.String())
	}
	out.Reset()
	if err := replayIntoEpoch(ctx, append(args, "--wait", "60s", "--no-progress"), &out, &errOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "rebuilt 1 room(s)") {
		t.Fatalf("replay output:\n%s", out.String())
	}
	after := waitSnapshot(t, ctx, brokers, tp.Snapshots, func(s schemas.Snapshot) bool { return s.Epoch != before.Epoch })
	if after.Seq != 1 || after.State.Reactions["👏"] != 50 || after.State.Totals != before.State.Totals {
		t.Fatalf("rebuilt snapshot %s/%d %v, before %s/%d %v", after.Epoch, after.Seq, after.State.Totals, before.Epoch, before.Seq, before.State.Totals)
	}
}

// waitSnapshot returns the latest committed snapshot of a room once ok
// accepts it.
func waitSnapshot(t *testing.T, ctx context.Context, brokers []string, topic string, ok func(schemas.Snapshot) bool) schemas.Snapshot {
	t.Helper()
	rc := kafkatest.Client(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for {
		fs := rc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no matching snapshot")
		}
		var found *schemas.Snapshot
		fs.EachRecord(func(r *kgo.Record) {
			s, err := schemas.UnmarshalSnapshot(r.Value)
			if err == nil && ok(s) {
				found = &s
			}
		})
		if found != nil {
			return *found
		}
	}
}
