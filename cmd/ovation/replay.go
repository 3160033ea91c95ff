package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ovation-live/ovation/analytics"
)

// runReplay runs `ovation replay`: --into clickhouse is analytics' backfill;
// --into epoch rebuilds rooms into a fresh processor epoch (rebuild.go).
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	into, rest, err := takeInto(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	switch into {
	case "epoch":
		return replayIntoEpoch(ctx, rest, stdout, stderr)
	case "clickhouse":
		return replayIntoClickHouse(ctx, rest, stdout, stderr)
	case "":
		if hasHelp(rest) {
			return replayIntoClickHouse(ctx, rest, stdout, stderr)
		}
		fmt.Fprintln(stderr, "ovation replay: say where to: --into clickhouse (backfill analytics) or --into epoch (rebuild rooms into a fresh processor epoch)")
		return errUsage
	}
	fmt.Fprintf(stderr, "ovation replay: --into %q: want clickhouse or epoch\n", into)
	return errUsage
}

// takeInto removes --into from args (any spelling the flag package takes)
// and returns its value, so each target parses its own flags.
func takeInto(args []string) (into string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "into" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return "", nil, errors.New("ovation replay: --into needs a value: clickhouse or epoch")
			}
			i++
			val = args[i]
		}
		into = val
	}
	return into, rest, nil
}

func hasHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

// parseWhen reads a time flag: RFC 3339 or Unix milliseconds.
func parseWhen(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --%s %q: use RFC 3339 (2026-11-29T20:00:00Z) or Unix milliseconds", errUsage, flag, v)
	}
	return t, nil
}

func replayIntoClickHouse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var ch clickhouseFlags
	var topic, fromTime, toTime, posFile string
	var fromOffset int64
	var dryRun, noProgress bool
	var batchRows int
	fs := newFlagSet("replay --into clickhouse", "Re-read the events or frames topic, from an offset or a time (to a time), into ClickHouse.\nIdempotent: rows collapse with what ClickHouse holds, so replaying twice changes no count.\nInterrupted? Run the same command again: it resumes from --position-file.", stderr)
	c.register(fs, "")
	ch.register(fs)
	fs.StringVar(&topic, "topic", "", "topic to re-read (default: the events topic; or the frames topic)")
	fs.Int64Var(&fromOffset, "from-offset", -1, "start every partition at this offset (default: the log start)")
	fs.StringVar(&fromTime, "from-time", "", "start at the first record at or after this time (RFC 3339 or Unix ms)")
	fs.StringVar(&toTime, "to-time", "", "stop before the first record at or after this time (default: the end now)")
	fs.StringVar(&posFile, "position-file", "", "where to keep the resumable position (default: ./ovation-replay.<topic>.<database>.json)")
	fs.BoolVar(&dryRun, "dry-run", false, "print what would be replayed, write nothing")
	fs.BoolVar(&noProgress, "no-progress", false, "no progress bar")
	fs.IntVar(&batchRows, "batch-rows", 100_000, "most rows per ClickHouse insert")
	log, err := c.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if topic == "" {
		topic = c.topics.Events
	}
	from, err := parseWhen("from-time", fromTime)
	if err != nil {
		return err
	}
	to, err := parseWhen("to-time", toTime)
	if err != nil {
		return err
	}
	if fromOffset < -1 {
		return fmt.Errorf("%w: --from-offset must be >= 0", errUsage)
	}
	if posFile == "" {
		posFile = fmt.Sprintf("ovation-replay.%s.%s.json", topic, ch.database)
	}
	r, err := analytics.NewReplayer(analytics.ReplayConfig{
		Custom:  c.custom,
		Brokers: c.brokerList(), Topics: c.topics, Topic: topic, FromOffset: fromOffset, FromTime: from, ToTime: to,
		ClickHouse: ch.config(), PositionFile: posFile, BatchRows: batchRows, Log: log,
	})
	if err != nil {
		return err
	}
	plan, err := r.Plan(ctx)
	if err != nil {
		return err
	}
	if plan.Resumed {
		fmt.Fprintf(stderr, "resuming from %s\n", posFile)
	}
	if dryRun {
		plan.Describe(stdout, ch.database)
		return nil
	}
	_, remaining := plan.Total()
	progress := func(int) {}
	var bar *progressbar.ProgressBar
	if !noProgress {
		bar = progressbar.NewOptions64(remaining,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionSetDescription("replay "+topic),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
		)
		progress = func(n int) { bar.Add(n) }
	}
	start := time.Now()
	st, err := r.Run(ctx, plan, progress)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("replay interrupted after %d records; run the same command to resume from %s", st.Records, posFile)
		}
		return err
	}
	fmt.Fprintf(stdout, "replayed %d records of %s into ClickHouse database %s: %d rows, %d skipped as invalid, in %v\n",
		st.Records, topic, ch.database, st.Rows, st.Skipped, time.Since(start).Round(time.Millisecond))
	return nil
}
