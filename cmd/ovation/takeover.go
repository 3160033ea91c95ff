package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/processors"
	"github.com/ovation-live/ovation/schemas"
)

// Headers the regional takeover and failback put on what they write, so
// that a later step (or a rerun) can find it again.
const (
	// headerTakeover marks the rebuild requests `ovation takeover` writes
	// into the mirrored events topic; its value is the lost region. The
	// first one in a partition is where the takeover's own events begin.
	headerTakeover = "ovation-takeover"
	// headerFailback marks the events `ovation failback` copies home; its
	// value is "partition/offset" of the record in the takeover topic, so
	// an interrupted failback resumes after the last one copied.
	headerFailback = "ovation-failback"
)

// maxTakeoverRooms bounds the rooms a takeover finds by scanning, so a
// topic full of garbage keys cannot make it write millions of requests.
const maxTakeoverRooms = 1_000_000

// runTakeover runs `ovation takeover`: in the surviving region, rebuild the
// lost region's rooms from their mirrored events into new epochs.
func runTakeover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var region, rooms, failed string
	var dryRun, noProgress, force, retire bool
	var group, mirrorOffsets string
	var wait time.Duration
	fs := newFlagSet("takeover", "In the surviving region, take over a lost region's rooms: find them in the events topic MirrorMaker 2\ncopied here (--topic-events, e.g. eu.ovation.events), and rebuild each from its mirrored events into a\nnew epoch. The takeover stack's processors (same topic flags, their own group) do the fold.", stderr)
	c.register(fs, "")
	fs.StringVar(&region, "region", "", "the lost region's name, as in its mirrored topic names (required)")
	fs.StringVar(&rooms, "rooms", "", "comma-separated rooms to take over (default: every room with an event in the mirrored topic)")
	fs.StringVar(&failed, "failed-kafka-brokers", "", "the lost region's Kafka: refuse to take over while it still answers (a region that comes back would assign seqs for the same rooms)")
	fs.BoolVar(&force, "force", false, "take over even though --failed-kafka-brokers answers (after making sure the region's processors and ingest are stopped)")
	fs.BoolVar(&dryRun, "dry-run", false, "say which rooms would be taken over, and write nothing")
	fs.DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the rebuilt snapshots (0: do not wait)")
	fs.BoolVar(&noProgress, "no-progress", false, "no progress bars (logs only)")
	fs.BoolVar(&retire, "retire", false, "after a failback: delete this takeover's topics (the mirrored events included), its processors' --group and MirrorMaker's offsets for the mirror, so that a restarted MirrorMaker copies the region's events afresh")
	fs.StringVar(&group, "group", "", "with --retire: the takeover processors' consumer group (refused while it has members)")
	fs.StringVar(&mirrorOffsets, "mirror-offsets-topic", "", "with --retire: MirrorMaker 2's offsets topic for the mirror of REGION here (default mm2-offsets.REGION.internal)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := schemas.CheckID(region); err != nil {
		return fmt.Errorf("--region %q: %w", region, err)
	}
	for _, tp := range []string{c.topics.Events, c.topics.Frames, c.topics.Snapshots, c.topics.Changelog, c.topics.DLQ} {
		if !strings.HasPrefix(tp, region+".") {
			return fmt.Errorf("topic %s is not one of the takeover's (%s.…): set the takeover stack's topic flags", tp, region)
		}
	}
	if retire {
		if mirrorOffsets == "" {
			mirrorOffsets = "mm2-offsets." + region + ".internal"
		}
		return retireTakeover(ctx, &c, region, group, mirrorOffsets, dryRun, stdout)
	}
	if !strings.HasPrefix(c.topics.Events, region+".") {
		return fmt.Errorf("--topic-events %s is not %s's mirrored events topic (%s.%s): set the takeover stack's topic flags", c.topics.Events, region, region, schemas.DefaultEventsTopic)
	}
	ids, err := roomList(rooms)
	if err != nil {
		return err
	}
	start := time.Now()
	if failed != "" {
		if err := refuseIfAlive(ctx, splitList(failed), region); err != nil && !force {
			return err
		} else if err != nil {
			fmt.Fprintf(stderr, "warning: %v; going ahead (--force)\n", err)
		}
	}
	if len(ids) == 0 {
		found, n, err := scanRooms(ctx, c.brokerList(), c.topics.Events, noProgress, stderr)
		if err != nil {
			return err
		}
		ids = found
		fmt.Fprintf(stdout, "found %d room(s) of %s in %d mirrored record(s) of %s\n", len(ids), region, n, c.topics.Events)
	}
	if len(ids) == 0 {
		return fmt.Errorf("no rooms to take over: %s is empty (was MirrorMaker 2 running?)", c.topics.Events)
	}
	hdr := []kgo.RecordHeader{{Key: headerTakeover, Value: []byte(region)}}
	if err := rebuildRooms(ctx, &c, ids, -1, -1, dryRun, wait, noProgress, hdr, stdout, stderr); err != nil {
		return err
	}
	if !dryRun {
		fmt.Fprintf(stdout, "took over %d room(s) of %s in %s\n", len(ids), region, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func roomList(s string) ([]string, error) {
	var ids []string
	for _, r := range splitList(s) {
		if err := schemas.CheckRoom(r); err != nil {
			return nil, fmt.Errorf("--rooms: %w", err)
		}
		if !slices.Contains(ids, r) {
			ids = append(ids, r)
		}
	}
	return ids, nil
}

// refuseIfAlive fails when the lost region's Kafka still answers.
func refuseIfAlive(ctx context.Context, brokers []string, region string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if cl.Ping(pctx) == nil {
		return fmt.Errorf("%s's Kafka (%s) still answers: a region that is up may still assign seqs to its rooms; stop its processors and ingest first, then pass --force", region, strings.Join(brokers, ","))
	}
	return nil
}

// scanRooms reads topic to its current end and returns the distinct rooms
// (record keys) of the records that are events, sorted.
func scanRooms(ctx context.Context, brokers []string, topic string, noProgress bool, stderr io.Writer) ([]string, int64, error) {
	seen := map[string]bool{}
	var n int64
	err := readToEnd(ctx, brokers, topic, nil, "scanning "+topic, noProgress, stderr, func(r *kgo.Record) (bool, error) {
		n++
		if _, ctl := headerValue(r, processors.HeaderControl); ctl || seen[string(r.Key)] {
			return true, nil
		}
		// Presence alone never makes a room (a room with viewers and no
		// event has nothing to take over).
		if schemas.CheckRoom(string(r.Key)) != nil || isPresence(r.Value) {
			return true, nil
		}
		if len(seen) >= maxTakeoverRooms {
			return false, fmt.Errorf("more than %d rooms in %s: name them with --rooms", maxTakeoverRooms, topic)
		}
		seen[string(r.Key)] = true
		return true, nil
	})
	ids := make([]string, 0, len(seen))
	for r := range seen {
		ids = append(ids, r)
	}
	slices.Sort(ids)
	return ids, n, err
}

// isPresence tells a pusher's presence report from an engagement event.
func isPresence(value []byte) bool {
	var ev struct {
		Type schemas.Type `json:"type"`
	}
	return json.Unmarshal(value, &ev) == nil && ev.Type == schemas.Presence
}

func headerValue(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// readToEnd reads the partitions of topic (read_committed) from from[p]
// (or the log start, if later) to the partition's stable end as of the
// call, and calls fn for each record in order per partition; fn returns
// false to stop reading that partition. A nil from reads every partition
// from its start; otherwise only the partitions in from are read. A progress bar counts records.
func readToEnd(ctx context.Context, brokers []string, topic string, from map[int32]int64, what string, noProgress bool, stderr io.Writer, fn func(*kgo.Record) (bool, error)) error {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer adm.Close()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ka := kadm.NewClient(adm)
	starts, err := ka.ListStartOffsets(tctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := ka.ListCommittedOffsets(tctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if len(ends[topic]) == 0 {
		return fmt.Errorf("topic %s does not exist", topic)
	}
	at := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		f := s.Offset
		v, ok := from[o.Partition]
		if from != nil && !ok {
			return
		}
		if v > f {
			f = v
		}
		if f < o.Offset {
			at[o.Partition] = kgo.NewOffset().At(f)
			end[o.Partition] = o.Offset
			total += o.Offset - f
		}
	})
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
		progressbar.OptionSetVisibility(!noProgress), progressbar.OptionThrottle(100*time.Millisecond))
	defer func() {
		bar.Finish()
		if !noProgress {
			fmt.Fprintln(stderr)
		}
	}()
	if len(at) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers too: a partition whose last record is a commit marker
		// is seen to end.
		kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(end) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var stop []int32
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			p := ftp.Partition
			for _, r := range ftp.Records {
				e, open := end[p]
				if !open || r.Offset >= e {
					break
				}
				bar.Add(1)
				more := true
				if !r.Attrs.IsControl() {
					var err error
					if more, err = fn(r); err != nil && ferr == nil {
						ferr = err
					}
				}
				if !more || r.Offset+1 >= e {
					delete(end, p)
					stop = append(stop, p)
				}
			}
		})
		if ferr != nil {
			return ferr
		}
		if len(stop) > 0 {
			cl.PauseFetchPartitions(map[string][]int32{topic: stop})
		}
	}
	return nil
}

// runFailback runs `ovation failback`: back in the home region, copy the
// events the takeover accepted for its rooms home, and rebuild them there
// into new epochs.
func runFailback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var region, tbrokers, ttopic string
	var dryRun, noProgress bool
	var wait time.Duration
	fs := newFlagSet("failback", "Give a region its rooms back after a takeover. Run it with the home region's Kafka and topics, once the\ntakeover stack has stopped taking writes: it copies every event the takeover accepted (those after its\nrebuild requests in --takeover-topic-events) into the home events topic, resuming after the last one\ncopied, then rebuilds the taken-over rooms at home into new epochs from all their events.", stderr)
	c.register(fs, "")
	fs.StringVar(&region, "region", "", "this (home) region's name, as in the takeover's topic names (required)")
	fs.StringVar(&tbrokers, "takeover-kafka-brokers", "", "the Kafka of the region that took the rooms over (required)")
	fs.StringVar(&ttopic, "takeover-topic-events", "", "the takeover's events topic there (default: REGION.EVENTS, e.g. eu.ovation.events)")
	fs.BoolVar(&dryRun, "dry-run", false, "say what would be copied and rebuilt, and write nothing")
	fs.DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the rebuilt snapshots (0: do not wait)")
	fs.BoolVar(&noProgress, "no-progress", false, "no progress bars (logs only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := schemas.CheckID(region); err != nil {
		return fmt.Errorf("--region %q: %w", region, err)
	}
	tb := splitList(tbrokers)
	if len(tb) == 0 {
		return errors.New("--takeover-kafka-brokers is required")
	}
	if ttopic == "" {
		ttopic = region + "." + c.topics.Events
	}
	start := time.Now()

	// 1. Where the takeover began in each partition: its first rebuild
	// request for this region. Everything after it that is not a control
	// record is an event the takeover accepted.
	marks := map[int32]int64{}
	markTime := map[int32]time.Time{}
	rooms := map[string]bool{}
	err := readToEnd(ctx, tb, ttopic, nil, "finding the takeover in "+ttopic, noProgress, stderr, func(r *kgo.Record) (bool, error) {
		if v, ok := headerValue(r, headerTakeover); ok && v == region {
			if _, seen := marks[r.Partition]; !seen {
				marks[r.Partition] = r.Offset
				markTime[r.Partition] = r.Timestamp
			}
			rooms[string(r.Key)] = true
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if len(marks) == 0 {
		return fmt.Errorf("no takeover of %s in %s: nothing to fail back", region, ttopic)
	}

	// 2. What an earlier, interrupted failback already copied home.
	home, err := kgo.NewClient(kgo.SeedBrokers(c.brokerList()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer home.Close()
	copied := map[int32]int64{}
	var earliest time.Time
	for _, t := range markTime {
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	after, err := kadm.NewClient(home).ListOffsetsAfterMilli(tctx, earliest.Add(-time.Minute).UnixMilli(), c.topics.Events)
	cancel()
	if err == nil {
		err = after.Error()
	}
	if err != nil {
		return fmt.Errorf("offsets of %s: %w", c.topics.Events, err)
	}
	from := map[int32]int64{}
	after.Each(func(o kadm.ListedOffset) { from[o.Partition] = o.Offset })
	err = readToEnd(ctx, c.brokerList(), c.topics.Events, from, "checking "+c.topics.Events+" for an earlier failback", noProgress, stderr, func(r *kgo.Record) (bool, error) {
		if v, ok := headerValue(r, headerFailback); ok {
			if p, o, ok := parseFailbackPos(v); ok {
				if prev, seen := copied[p]; !seen || o > prev {
					copied[p] = o
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}

	// 3. Copy, in order per partition, into the same partition at home.
	copyFrom := map[int32]int64{}
	for p, m := range marks {
		copyFrom[p] = m
		if c, ok := copied[p]; ok {
			copyFrom[p] = max(m, c+1)
		}
	}
	var n, skipped, presence int64
	var perr error
	err = readToEnd(ctx, tb, ttopic, copyFrom, "copying the takeover's events home", noProgress, stderr, func(r *kgo.Record) (bool, error) {
		if _, ctl := headerValue(r, processors.HeaderControl); ctl {
			skipped++
			return true, nil
		}
		// The takeover pushers' viewer reports describe nodes that are
		// gone; folded at home they would count those viewers again.
		if isPresence(r.Value) {
			presence++
			return true, nil
		}
		n++
		if dryRun {
			return true, nil
		}
		out := &kgo.Record{Topic: c.topics.Events, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp,
			Headers: append(slices.Clone(r.Headers), kgo.RecordHeader{Key: headerFailback, Value: fmt.Appendf(nil, "%d/%d", r.Partition, r.Offset)})}
		home.Produce(ctx, out, func(_ *kgo.Record, err error) {
			if err != nil && perr == nil {
				perr = err
			}
		})
		return true, nil
	})
	if err != nil {
		return err
	}
	if err := home.Flush(ctx); err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("copy to %s: %w (rerun: it resumes after the last event copied)", c.topics.Events, perr)
	}
	ids := make([]string, 0, len(rooms))
	for r := range rooms {
		ids = append(ids, r)
	}
	slices.Sort(ids)
	verb := "copied"
	if dryRun {
		verb = "would copy"
	}
	fmt.Fprintf(stdout, "%s %d event(s) the takeover accepted from %s to %s (skipped: %d control record(s), %d presence report(s); %d partition(s) resumed)\n", verb, n, ttopic, c.topics.Events, skipped, presence, len(copied))

	// 4. Rebuild the rooms at home from all their events.
	if err := rebuildRooms(ctx, &c, ids, -1, -1, dryRun, wait, noProgress, []kgo.RecordHeader{{Key: headerFailback, Value: []byte("rebuild")}}, stdout, stderr); err != nil {
		return err
	}
	if !dryRun {
		fmt.Fprintf(stdout, "failed back %d room(s) to %s in %s\n", len(ids), region, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// retireTakeover deletes what a takeover left in this region once its
// rooms went home: the takeover's topics, the mirrored events among them
// (they hold the takeover's events and rebuild requests, which a resumed
// mirror would append the home region's copies of), the takeover group and
// MirrorMaker's offsets. MirrorMaker, started again, then re-seeds the
// mirror from the home region's retained events.
func retireTakeover(ctx context.Context, c *commonFlags, region, group, mirrorOffsets string, dryRun bool, stdout io.Writer) error {
	if group == "" {
		return errors.New("--retire needs --group, the takeover processors' consumer group")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokerList()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	dg, err := adm.DescribeGroups(tctx, group)
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	if d, ok := dg[group]; ok && d.Err == nil && len(d.Members) > 0 {
		return fmt.Errorf("group %s still has %d member(s): stop the takeover stack's processors first", group, len(d.Members))
	}
	t := c.topics
	topics := []string{t.Events, t.Frames, t.Snapshots, t.Changelog, t.DLQ, mirrorOffsets}
	if dryRun {
		fmt.Fprintf(stdout, "dry run: would delete topics %s and group %s. Nothing deleted.\n", strings.Join(topics, ", "), group)
		return nil
	}
	dr, err := adm.DeleteTopics(tctx, topics...)
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	for _, r := range dr.Sorted() {
		switch {
		case r.Err == nil:
			fmt.Fprintf(stdout, "deleted topic %s\n", r.Topic)
		case errors.Is(r.Err, kerr.UnknownTopicOrPartition):
			fmt.Fprintf(stdout, "no topic %s\n", r.Topic)
		default:
			return fmt.Errorf("delete topic %s: %w", r.Topic, r.Err)
		}
	}
	gr, err := adm.DeleteGroups(tctx, group)
	if err != nil {
		return fmt.Errorf("delete group %s: %w", group, err)
	}
	if r := gr[group]; r.Err != nil && !errors.Is(r.Err, kerr.GroupIDNotFound) {
		return fmt.Errorf("delete group %s: %w", group, r.Err)
	}
	fmt.Fprintf(stdout, "deleted group %s\n", group)
	// Deletion is asynchronous: wait until the topics are gone, so that
	// what is created next is new.
	for {
		td, err := adm.ListTopics(tctx, topics...)
		if err == nil {
			left := 0
			for _, d := range td {
				if d.Err == nil {
					left++
				}
			}
			if left == 0 {
				break
			}
		}
		select {
		case <-tctx.Done():
			return fmt.Errorf("topics still listed after deletion: %w", tctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Fprintf(stdout, "retired the takeover of %s: start MirrorMaker into this region again (it re-seeds %s), then recreate the takeover topics with ovation topics create\n", region, t.Events)
	return nil
}

// parseFailbackPos reads a headerFailback value, "partition/offset" of the
// copied record in the takeover topic; ok is false for anything else (the
// failback's own rebuild requests carry "rebuild").
func parseFailbackPos(v string) (partition int32, offset int64, ok bool) {
	ps, os, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, false
	}
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return 0, 0, false
	}
	return int32(p), o, true
}
