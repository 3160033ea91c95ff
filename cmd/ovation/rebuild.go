package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/processors"
	"github.com/ovation-live/ovation/schemas"
)

// replayIntoEpoch runs `ovation replay --into epoch`: rebuild rooms' state
// from the events topic into a fresh processor epoch.
//
// It does not fold anything itself: it writes one processors.RebuildRequest
// per room into the events topic, in the room's partition, and the
// processor that owns the partition acts on it in order with the room's
// events, inside its transaction — so the rebuild is exactly-once however
// processors crash, and no event is counted twice or missed around it.
// Then it waits for each room's snapshot in the new epoch, with a progress
// bar.
func replayIntoEpoch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var rooms, fromTime string
	var fromOffset int64
	var dryRun, noProgress bool
	var wait time.Duration
	fs := newFlagSet("replay --into epoch", "Rebuild rooms' state from the events topic into a fresh epoch. Subscribers get a reset\n(a snapshot with recovered: false). The owning processor does the fold, in order, exactly once.", stderr)
	c.register(fs, "")
	fs.StringVar(&rooms, "rooms", "", "comma-separated room ids to rebuild (required)")
	fs.Int64Var(&fromOffset, "from-offset", -1, "first events offset of each room's partition to fold (-1: the oldest retained)")
	fs.StringVar(&fromTime, "from-time", "", "fold events from this time on (RFC 3339, or a duration ago such as 2h); overrides --from-offset")
	fs.BoolVar(&dryRun, "dry-run", false, "say what would be rebuilt and how many records would be read, and write nothing")
	fs.DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the rebuilt snapshots (0: do not wait)")
	fs.BoolVar(&noProgress, "no-progress", false, "no progress bar (logs only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	var ids []string
	for _, r := range strings.Split(rooms, ",") {
		if r = strings.TrimSpace(r); r != "" {
			if err := schemas.CheckRoom(r); err != nil {
				return fmt.Errorf("--rooms: %w", err)
			}
			if !slices.Contains(ids, r) {
				ids = append(ids, r)
			}
		}
	}
	if len(ids) == 0 {
		fmt.Fprintln(stderr, "--rooms is required")
		fs.Usage()
		return errUsage
	}
	var fromMs int64 = -1
	if fromTime != "" {
		if d, err := time.ParseDuration(fromTime); err == nil {
			fromMs = time.Now().Add(-d).UnixMilli()
		} else if t, err := time.Parse(time.RFC3339, fromTime); err == nil {
			fromMs = t.UnixMilli()
		} else {
			return fmt.Errorf("--from-time %q: want RFC 3339 or a duration such as 2h", fromTime)
		}
	}

	return rebuildRooms(ctx, &c, ids, fromOffset, fromMs, dryRun, wait, noProgress, nil, stdout, stderr)
}

// rebuildRooms writes a RebuildRequest for each room (with extra headers
// on each record, to tell who asked) into the events topic of c's
// cluster, and waits up to wait for each room's snapshot in its new epoch
// with a progress bar. fromMs >= 0 overrides fromOffset.
func rebuildRooms(ctx context.Context, c *commonFlags, ids []string, fromOffset, fromMs int64, dryRun bool, wait time.Duration, noProgress bool, headers []kgo.RecordHeader, stdout, stderr io.Writer) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokerList()...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t := c.topics
	details, err := adm.ListTopics(tctx, t.Events)
	if err != nil {
		return fmt.Errorf("describe %s: %w", t.Events, err)
	}
	d, ok := details[t.Events]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return fmt.Errorf("topic %s is missing: run `ovation topics create`", t.Events)
	}
	nparts := len(d.Partitions)
	starts, err := adm.ListStartOffsets(tctx, t.Events)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(tctx, t.Events)
	if err != nil {
		return err
	}
	var byTime kadm.ListedOffsets
	if fromMs >= 0 {
		if byTime, err = adm.ListOffsetsAfterMilli(tctx, fromMs, t.Events); err != nil {
			return err
		}
	}
	part := kgo.StickyKeyPartitioner(nil).ForTopic(t.Events)
	type plan struct {
		req       processors.RebuildRequest
		partition int32
		from, end int64
	}
	var plans []plan
	for _, room := range ids {
		p := int32(part.Partition(&kgo.Record{Key: []byte(room)}, nparts))
		so, _ := starts.Lookup(t.Events, p)
		eo, _ := ends.Lookup(t.Events, p)
		from := fromOffset
		if fromMs >= 0 {
			o, _ := byTime.Lookup(t.Events, p)
			from = o.Offset
		}
		if from < so.Offset {
			from = so.Offset
		}
		req := processors.RebuildRequest{Room: room, Epoch: processors.RandomEpoch(), FromOffset: from}
		if from == so.Offset {
			req.FromOffset = -1
		}
		plans = append(plans, plan{req: req, partition: p, from: from, end: eo.Offset})
	}

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tPARTITION\tFROM\tTO\tRECORDS TO READ\tNEW EPOCH")
	for _, p := range plans {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", p.req.Room, p.partition, p.from, p.end, max(0, p.end-p.from), p.req.Epoch)
	}
	tw.Flush()
	if dryRun {
		fmt.Fprintf(stdout, "dry run: would write %d rebuild request(s) to %s; the processors owning those partitions would fold the records above into the new epochs, and subscribers would get a reset. Nothing written.\n", len(plans), t.Events)
		return nil
	}

	// Remember where the snapshots end now, so we only look at new ones.
	snapEnds, err := adm.ListEndOffsets(tctx, t.Snapshots)
	if err != nil {
		return err
	}
	for _, p := range plans {
		r := p.req.Record(t.Events)
		r.Partition = p.partition
		r.Headers = append(r.Headers, headers...)
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return fmt.Errorf("write rebuild request for room %s: %w", p.req.Room, err)
		}
	}
	fmt.Fprintf(stdout, "wrote %d rebuild request(s) to %s\n", len(plans), t.Events)
	if wait == 0 {
		return nil
	}

	want := map[string]string{} // room → epoch still awaited
	offsets := map[int32]kgo.Offset{}
	for _, p := range plans {
		want[p.req.Room] = p.req.Epoch
		o, _ := snapEnds.Lookup(t.Snapshots, p.partition)
		offsets[p.partition] = kgo.NewOffset().At(o.Offset)
	}
	sc, err := kgo.NewClient(kgo.SeedBrokers(c.brokerList()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.Snapshots: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer sc.Close()
	bar := progressbar.NewOptions(len(plans),
		progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("rebuilding rooms"),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rooms"), progressbar.OptionSetVisibility(!noProgress),
		progressbar.OptionSetElapsedTime(true), progressbar.OptionThrottle(100*time.Millisecond))
	wctx, wcancel := context.WithTimeout(ctx, wait)
	defer wcancel()
	for len(want) > 0 {
		fs := sc.PollFetches(wctx)
		if wctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			ep, ok := want[string(r.Key)]
			if !ok {
				return
			}
			s, err := schemas.UnmarshalSnapshot(r.Value)
			if err == nil && s.Epoch == ep {
				delete(want, s.Room)
				bar.Add(1)
				if noProgress {
					fmt.Fprintf(stderr, "room %s rebuilt: epoch %s seq %d, %d reactions, %d votes, %d chat\n", s.Room, s.Epoch, s.Seq, s.State.Totals.Reactions, s.State.Totals.Votes, s.State.Totals.Chat)
				}
			}
		})
	}
	bar.Finish()
	fmt.Fprintln(stderr)
	if len(want) > 0 {
		var left []string
		for r := range want {
			left = append(left, r)
		}
		slices.Sort(left)
		if ctx.Err() != nil {
			return errors.New("interrupted; the requests are written and the processors will still act on them")
		}
		return fmt.Errorf("no rebuilt snapshot after %s for %d room(s): %s (are processors running? the requests stay in the topic and will be acted on)", wait, len(left), strings.Join(left, ", "))
	}
	fmt.Fprintf(stdout, "rebuilt %d room(s) into new epochs\n", len(plans))
	return nil
}
