package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestTopicsMaxMessageBytes: `topics create` sets max.message.bytes on every
// topic and raises it on topics made before (at the broker's 1 MiB
// default), and `topics describe` refuses topics below it.
func TestTopicsMaxMessageBytes(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	n := time.Now().UnixNano() % 1e9
	tp := schemas.Topics{Events: fmt.Sprintf("mm%d.events", n), Frames: fmt.Sprintf("mm%d.frames", n),
		Snapshots: fmt.Sprintf("mm%d.snaps", n), Changelog: fmt.Sprintf("mm%d.cl", n), DLQ: fmt.Sprintf("mm%d.dlq", n)}
	adm := kadm.NewClient(kafkatest.Client(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// An old deployment: the snapshots topic exists at the broker default.
	if r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"cleanup.policy": strp("compact")}, tp.Snapshots); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}
	var out bytes.Buffer
	err := describeTopics(ctx, adm, tp, &out)
	if err == nil || !strings.Contains(err.Error(), "missing topics") {
		t.Fatalf("describe with topics missing: %v", err)
	}
	out.Reset()
	if err := ensureTopics(ctx, adm, tp, topicPlan{partitions: 2, replication: 1, retention: time.Hour}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), tp.Snapshots) || !strings.Contains(out.String(), "max.message.bytes") {
		t.Fatalf("create did not say it raised the old topic:\n%s", out.String())
	}
	got, err := topicMaxMessageBytes(ctx, adm, tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{tp.Events, tp.Frames, tp.Snapshots, tp.Changelog, tp.DLQ} {
		if got[name] != schemas.TopicMaxMessageBytes {
			t.Fatalf("%s: max.message.bytes %d, want %d", name, got[name], schemas.TopicMaxMessageBytes)
		}
	}
	out.Reset()
	if err := describeTopics(ctx, adm, tp, &out); err != nil || !strings.Contains(out.String(), strconv.Itoa(schemas.TopicMaxMessageBytes)) {
		t.Fatalf("describe: %v\n%s", err, out.String())
	}
	// Lowered by hand: describe says so.
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: maxMessageBytes, Value: strp("1048588")}}, tp.Frames)
	if err == nil {
		for _, r := range rs {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// A config change reaches describe asynchronously; wait for it.
	for wait := time.Now().Add(30 * time.Second); ; {
		err = describeTopics(ctx, adm, tp, &out)
		if err != nil || time.Now().After(wait) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), tp.Frames+"=1048588") {
		t.Fatalf("describe with a small max.message.bytes: %v", err)
	}
}
