package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/processors"
)

// TestTakeoverRefusals: bad input to takeover and failback is refused
// with an error naming the problem, before anything is written.
func TestTakeoverRefusals(t *testing.T) {
	alive, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "eu.ovation.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	b := alive.ListenAddrs()[0]
	tk := func(args ...string) []string {
		return append([]string{"--kafka-brokers", b, "--topic-events", "eu.ovation.events", "--topic-frames", "eu.ovation.room-frames",
			"--topic-snapshots", "eu.ovation.room-snapshots", "--topic-changelog", "eu.ovation.state-changelog", "--topic-dlq", "eu.ovation.events-dlq"}, args...)
	}
	cases := []struct {
		name string
		run  func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error
		args []string
		want string
	}{
		{"takeover without region", takeover, tk(), "--region"},
		{"takeover of a bad region name", takeover, tk("--region", "e u"), "--region"},
		{"takeover on the home topics", takeover, []string{"--kafka-brokers", b, "--region", "eu"}, "is not one of the takeover's"},
		{"takeover with one home topic", takeover, tk("--region", "eu", "--topic-frames", "ovation.room-frames"), "topic ovation.room-frames is not one of the takeover's"},
		{"takeover of a bad room", takeover, tk("--region", "eu", "--rooms", "ok,bad room"), "--rooms"},
		{"takeover while the lost region answers", takeover, tk("--region", "eu", "--failed-kafka-brokers", b), "still answers"},
		{"takeover of an empty mirror", takeover, tk("--region", "eu", "--no-progress"), "no rooms to take over"},
		{"retire without the group", takeover, tk("--region", "eu", "--retire"), "--group"},
		{"failback without the takeover's Kafka", failback, []string{"--kafka-brokers", b, "--region", "eu"}, "--takeover-kafka-brokers"},
		{"failback with no takeover", failback, []string{"--kafka-brokers", b, "--region", "eu", "--takeover-kafka-brokers", b, "--no-progress"}, "no takeover of eu"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			err := tc.run(ctx, tc.args, &out, &errOut)
			if err == nil {
				t.Fatalf("no error; stdout:\n%s", out.String())
			}
			if msg := err.Error() + errOut.String(); !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q (stderr %q) does not name %q", err, errOut.String(), tc.want)
			}
			if out.Len() > 0 && !strings.HasPrefix(out.String(), "found ") {
				t.Fatalf("refused, yet printed a plan:\n%s", out.String())
			}
		})
	}
}

func takeover(ctx context.Context, args []string, out, errOut *bytes.Buffer) error {
	return runTakeover(ctx, args, out, errOut)
}

func failback(ctx context.Context, args []string, out, errOut *bytes.Buffer) error {
	return runFailback(ctx, args, out, errOut)
}

// TestFailbackCopiesOnceAndResumes: failback copies exactly the events
// after the takeover's first rebuild request (no mirrored event, control
// record or presence report), into the same partition; run again, it
// copies only what came since (it resumes by its header, never twice).
func TestFailbackCopiesOnceAndResumes(t *testing.T) {
	home, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "ovation.events", "ovation.room-snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	away, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "eu.ovation.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer away.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(brokers []string, topic string, recs ...*kgo.Record) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for _, r := range recs {
			r.Topic = topic
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	ev := func(room, id string) *kgo.Record {
		return &kgo.Record{Key: []byte(room), Value: fmt.Appendf(nil, `{"v":1,"id":%q,"room":%q,"user":"u","type":"reaction","ts":1,"data":{"emoji":"👏"}}`, id, room)}
	}
	rooms := []string{"r1", "r2", "r3", "r4"}
	var before []*kgo.Record
	for _, r := range rooms {
		before = append(before, ev(r, r+"-mirrored"))
	}
	// What EU had (the mirrored events are EU's own), and what the mirror has.
	produce(home.ListenAddrs(), "ovation.events", before...)
	produce(away.ListenAddrs(), "eu.ovation.events", before...)
	// The takeover: a rebuild request per room, then its own events and a
	// pusher's presence report.
	for _, r := range rooms {
		req := processors.RebuildRequest{Room: r, Epoch: "t1", FromOffset: -1}
		rec := req.Record("eu.ovation.events")
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: headerTakeover, Value: []byte("eu")})
		produce(away.ListenAddrs(), "eu.ovation.events", rec)
	}
	for _, r := range rooms {
		produce(away.ListenAddrs(), "eu.ovation.events", ev(r, r+"-takeover-1"), ev(r, r+"-takeover-2"))
	}
	produce(away.ListenAddrs(), "eu.ovation.events", &kgo.Record{Key: []byte("r1"),
		Value: []byte(`{"v":1,"id":"p1","room":"r1","user":"takeover-push","type":"presence","ts":1,"data":{"node":"takeover-eu-push-0","viewers":7}}`)})

	args := []string{"--kafka-brokers", home.ListenAddrs()[0], "--region", "eu", "--takeover-kafka-brokers", away.ListenAddrs()[0], "--wait", "0", "--no-progress"}
	var out, errOut bytes.Buffer
	if err := runFailback(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("failback: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "copied 8 event(s)") || !strings.Contains(out.String(), "1 presence report(s)") {
		t.Fatalf("first failback: want 8 events copied and the presence report skipped:\n%s", out.String())
	}
	copiedIDs := func() map[string]int {
		got := map[string]int{}
		err := readToEnd(ctx, home.ListenAddrs(), "ovation.events", nil, "", true, io.Discard, func(r *kgo.Record) (bool, error) {
			if _, ok := headerValue(r, headerFailback); ok && !strings.Contains(string(r.Value), "from_offset") {
				got[string(r.Key)+"/"+strings.Split(strings.Split(string(r.Value), `"id":"`)[1], `"`)[0]]++
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := copiedIDs()
	if len(got) != 8 {
		t.Fatalf("home holds %d copied events, want 8: %v", len(got), got)
	}
	for _, r := range rooms {
		for _, id := range []string{r + "-takeover-1", r + "-takeover-2"} {
			if got[r+"/"+id] != 1 {
				t.Errorf("%s copied %d times, want once", id, got[r+"/"+id])
			}
		}
	}

	// Two more events arrive (a failback interrupted after the copy, run
	// again): only they are copied.
	produce(away.ListenAddrs(), "eu.ovation.events", ev("r2", "r2-takeover-3"), ev("r3", "r3-takeover-3"))
	out.Reset()
	if err := runFailback(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("second failback: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "copied 2 event(s)") {
		t.Fatalf("second failback: want 2 events copied:\n%s", out.String())
	}
	got = copiedIDs()
	if len(got) != 10 {
		t.Fatalf("home holds %d distinct copied events, want 10: %v", len(got), got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s copied %d times", id, n)
		}
	}
}

// FuzzParseFailbackPos: the failback header parser never panics, accepts
// only non-negative "partition/offset", and reads back what was written.
func FuzzParseFailbackPos(f *testing.F) {
	for _, s := range []string{"0/0", "3/12345", "rebuild", "", "/", "-1/2", "1/-2", "2147483648/1", "1/9223372036854775807", "1/2/3", " 1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, o, ok := parseFailbackPos(s)
		if !ok {
			return
		}
		if p < 0 || o < 0 {
			t.Fatalf("%q: accepted negative %d/%d", s, p, o)
		}
		if q, r, ok2 := parseFailbackPos(fmt.Sprintf("%d/%d", p, o)); !ok2 || q != p || r != o {
			t.Fatalf("%q: %d/%d does not read back", s, p, o)
		}
	})
}
