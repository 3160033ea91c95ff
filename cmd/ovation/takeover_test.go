package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
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
