package ingest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAckAfterMirror checks "ack after mirror" on two kfake clusters: a
// publish is answered only once its record is in the other cluster's
// mirrored topic, and mirror_timeout (503, the event stored here) when it
// never arrives. The copier stands in for MirrorMaker 2 (same partition,
// same key and value bytes); deployments/region_test.go runs the real one.
func TestAckAfterMirror(t *testing.T) {
	home := newFake(t, 3, "ovation.events")
	peer := newFake(t, 3, "eu.ovation.events")
	r := newRig(t, home.ListenAddrs(), "ovation.events", Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mw, err := NewMirrorWatch(ctx, MirrorConfig{Brokers: peer.ListenAddrs(), Topic: "eu.ovation.events", Timeout: 2 * time.Second}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r.svc.SetMirror(mw)
	done := make(chan error, 1)
	go func() { done <- mw.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Nothing copies yet: stored here, answered mirror_timeout.
	tok := pubToken(t, "alice", "show-1")
	start := time.Now()
	rep := post(t, http.DefaultClient, r.url("show-1"), tok, []byte(`{"id":"r-1","type":"reaction","data":{"emoji":"👏"}}`))
	if rep.status != http.StatusServiceUnavailable || rep.code() != CodeMirrorTimeout {
		t.Fatalf("no mirror: got %d %s, want 503 %s", rep.status, rep.raw, CodeMirrorTimeout)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("mirror_timeout after %s, before the 2s timeout", took)
	}
	if n := len(readAll(t, home.ListenAddrs(), "ovation.events")); n != 1 {
		t.Fatalf("home topic holds %d records, want the 1 acknowledged locally", n)
	}
	if n := mw.Waiting(); n != 0 {
		t.Fatalf("%d waits left after the timeout", n)
	}

	// A copier that mirrors after a delay: the answer waits for it.
	const delay = 300 * time.Millisecond
	// A short fetch wait: the copier's fetch after r-1 must see r-2 at
	// once even where the broker (kfake) holds a fetch to its max wait.
	src, err := kgo.NewClient(kgo.SeedBrokers(home.ListenAddrs()...), kgo.ConsumeTopics("ovation.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := kgo.NewClient(kgo.SeedBrokers(peer.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	go func() {
		for ctx.Err() == nil {
			src.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				time.Sleep(delay)
				dst.ProduceSync(ctx, &kgo.Record{Topic: "eu.ovation.events", Partition: rec.Partition, Key: rec.Key, Value: rec.Value, Headers: rec.Headers})
			})
		}
	}()
	start = time.Now()
	rep = post(t, http.DefaultClient, r.url("show-1"), tok, []byte(`{"id":"r-2","type":"reaction","data":{"emoji":"👏"}}`))
	if rep.status != http.StatusOK {
		t.Fatalf("mirrored: got %d %s, want 200", rep.status, rep.raw)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("answered after %s, before the mirror copied the event (%s)", took, delay)
	}
}
