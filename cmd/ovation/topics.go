package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// topicPlan is the partition count, replication and configs of each topic.
type topicPlan struct {
	partitions  int32
	replication int16
	retention   time.Duration
}

type topicSpec struct {
	name       string
	partitions int32
	configs    map[string]*string
}

func strp(s string) *string { return &s }

// topicSpecs returns the topics of DESIGN.md with their settings. Events,
// frames, snapshots and the changelog share a partition count: a room's
// partition is the same in all of them, so a processor owns a room's
// events and state together.
func topicSpecs(t schemas.Topics, p topicPlan) []topicSpec {
	ms := func(d time.Duration) *string { return strp(strconv.FormatInt(d.Milliseconds(), 10)) }
	specs := []topicSpec{
		{t.Events, p.partitions, map[string]*string{"cleanup.policy": strp("delete"), "retention.ms": ms(p.retention)}},
		{t.Frames, p.partitions, map[string]*string{"cleanup.policy": strp("delete"), "retention.ms": ms(24 * time.Hour)}},
		{t.Snapshots, p.partitions, map[string]*string{"cleanup.policy": strp("compact"), "min.compaction.lag.ms": ms(time.Minute)}},
		{t.Changelog, p.partitions, map[string]*string{"cleanup.policy": strp("compact"), "min.compaction.lag.ms": ms(time.Minute)}},
		{t.DLQ, p.partitions, map[string]*string{"cleanup.policy": strp("delete"), "retention.ms": ms(p.retention)}},
	}
	// Every record the processors write is measured against this; set
	// explicitly so a broker's default never decides whether a room's
	// snapshot fits.
	for _, s := range specs {
		s.configs[maxMessageBytes] = strp(strconv.Itoa(schemas.TopicMaxMessageBytes))
	}
	return specs
}

const maxMessageBytes = "max.message.bytes"

// ensureTopics creates any missing topic and checks that existing ones have
// the partition count the plan wants. It is idempotent.
func ensureTopics(ctx context.Context, adm *kadm.Client, t schemas.Topics, p topicPlan, out io.Writer) error {
	for _, s := range topicSpecs(t, p) {
		resp, err := adm.CreateTopic(ctx, s.partitions, p.replication, s.configs, s.name)
		switch {
		case err == nil && resp.Err == nil:
			fmt.Fprintf(out, "created  %-28s partitions=%d replication=%d cleanup=%s\n", s.name, s.partitions, p.replication, *s.configs["cleanup.policy"])
		case errors.Is(err, kerr.TopicAlreadyExists) || errors.Is(resp.Err, kerr.TopicAlreadyExists):
			// Topics made before max.message.bytes was set (or with a
			// smaller value) are raised to it; nothing else is changed.
			raised, err := raiseMaxMessageBytes(ctx, adm, s.name)
			if err != nil {
				return err
			}
			if raised != "" {
				fmt.Fprintf(out, "exists   %-28s max.message.bytes %s -> %d\n", s.name, raised, schemas.TopicMaxMessageBytes)
			} else {
				fmt.Fprintf(out, "exists   %s\n", s.name)
			}
		case err != nil:
			return fmt.Errorf("create topic %s: %w", s.name, err)
		default:
			return fmt.Errorf("create topic %s: %w (%s)", s.name, resp.Err, resp.ErrMessage)
		}
	}
	// Events and state must be co-partitioned; a mismatch would split a
	// room's history from its state.
	// A topic just created can take a moment to show in the metadata.
	var details kadm.TopicDetails
	var err error
	for i := 0; ; i++ {
		details, err = adm.ListTopics(ctx, t.Events, t.Frames, t.Snapshots, t.Changelog)
		visible := err == nil
		for _, name := range []string{t.Events, t.Frames, t.Snapshots, t.Changelog} {
			if d, ok := details[name]; !ok || d.Err != nil {
				visible = false
			}
		}
		if visible || i == 40 || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	want := -1
	for _, name := range []string{t.Events, t.Frames, t.Snapshots, t.Changelog} {
		d, ok := details[name]
		if !ok || d.Err != nil {
			return fmt.Errorf("topic %s is not visible after creation: %v", name, d.Err)
		}
		n := len(d.Partitions)
		if want == -1 {
			want = n
		} else if n != want {
			return fmt.Errorf("topic %s has %d partitions but %s has %d: events, frames, snapshots and changelog must have equal counts", name, n, t.Events, want)
		}
	}
	return nil
}

// topicMaxMessageBytes returns the effective max.message.bytes of each
// named topic (the topic's own value or the broker default it inherits).
func topicMaxMessageBytes(ctx context.Context, adm *kadm.Client, names ...string) (map[string]int, error) {
	cfgs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	out := map[string]int{}
	for _, n := range names {
		rc, err := cfgs.On(n, nil)
		if err != nil || rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Key == maxMessageBytes && c.Value != nil {
				if v, err := strconv.Atoi(*c.Value); err == nil {
					out[n] = v
				}
			}
		}
	}
	return out, nil
}

// raiseMaxMessageBytes sets an existing topic's max.message.bytes to
// schemas.TopicMaxMessageBytes when it is lower, and returns the old
// value ("" when nothing changed).
func raiseMaxMessageBytes(ctx context.Context, adm *kadm.Client, name string) (string, error) {
	cur, err := topicMaxMessageBytes(ctx, adm, name)
	if err != nil {
		return "", err
	}
	v, ok := cur[name]
	if ok && v >= schemas.TopicMaxMessageBytes {
		return "", nil
	}
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: maxMessageBytes, Value: strp(strconv.Itoa(schemas.TopicMaxMessageBytes))}}, name)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%w (%s)", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("set %s of topic %s: %w", maxMessageBytes, name, err)
	}
	if !ok {
		return "unknown", nil
	}
	return strconv.Itoa(v), nil
}

func runTopics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "describe") {
		fmt.Fprintln(stderr, "Usage: ovation topics create|describe [flags]   (ovation topics create --help for flags)")
		return errUsage
	}
	action := args[0]
	var c commonFlags
	var plan topicPlan
	var partitions, replication int
	fs := newFlagSet("topics "+action, "Create (idempotently) or describe Ovation's Kafka topics.", stderr)
	c.register(fs, "")
	fs.IntVar(&partitions, "partitions", 12, "partitions per topic (sets processor parallelism; events, frames, snapshots and changelog share it)")
	fs.IntVar(&replication, "replication", -1, "replication factor (-1: the broker default)")
	fs.DurationVar(&plan.retention, "retention", 7*24*time.Hour, "retention of the events and dead-letter topics")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if partitions < 1 || partitions > 10000 {
		return fmt.Errorf("--partitions %d: want 1 to 10000", partitions)
	}
	plan.partitions, plan.replication = int32(partitions), int16(replication)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokerList()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if action == "create" {
		return ensureTopics(ctx, adm, c.topics, plan, stdout)
	}
	return describeTopics(ctx, adm, c.topics, stdout)
}

func describeTopics(ctx context.Context, adm *kadm.Client, t schemas.Topics, out io.Writer) error {
	names := []string{t.Events, t.Frames, t.Snapshots, t.Changelog, t.DLQ}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICAS\tCLEANUP\tRETENTION.MS\tMAX.MESSAGE.BYTES\tRECORDS(end offsets)")
	var missing, small []string
	for _, n := range names {
		d, ok := details[n]
		if !ok || d.Err != nil {
			missing = append(missing, n)
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t(missing)\n", n)
			continue
		}
		var repl int
		for _, p := range d.Partitions {
			repl = len(p.Replicas)
			break
		}
		cleanup, retention, maxMsg := "?", "?", "?"
		if rc, err := cfgs.On(n, nil); err == nil {
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && c.Value != nil {
					cleanup = *c.Value
				}
				if c.Key == "retention.ms" && c.Value != nil {
					retention = *c.Value
				}
				if c.Key == maxMessageBytes && c.Value != nil {
					maxMsg = *c.Value
				}
			}
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic == n {
				total += o.Offset
			}
		})
		if v, err := strconv.Atoi(maxMsg); err != nil || v < schemas.TopicMaxMessageBytes {
			small = append(small, n+"="+maxMsg)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%d\n", n, len(d.Partitions), repl, cleanup, retention, maxMsg, total)
	}
	tw.Flush()
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("missing topics %v: run `ovation topics create`", missing)
	}
	if len(small) > 0 {
		return fmt.Errorf("topics %v have max.message.bytes below %d, so a room's snapshot may not fit: run `ovation topics create` (it raises them)", small, schemas.TopicMaxMessageBytes)
	}
	return nil
}
