package analytics

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// produceTransactional writes recs in transactions of 500 records, with an
// aborted transaction (garbage frames that must never count) in the middle.
func produceTransactional(t testing.TB, brokers []string, topic string, recs []*kgo.Record) {
	t.Helper()
	cl := kafkatest.Client(t, brokers, kgo.TransactionalID("analytics-test-"+topic), kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	txn := func(rs []*kgo.Record, commit kgo.TransactionEndTry) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			r.Topic = topic
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(recs); i += 500 {
		txn(recs[i:min(i+500, len(recs))], kgo.TryCommit)
		if i == 0 {
			var junk []*kgo.Record
			for _, r := range recs[:min(50, len(recs))] {
				f, _ := parseFrame(r.Value)
				f.Seq += 1_000_000 // a frame no processor committed
				v := mustJSON(f)
				junk = append(junk, &kgo.Record{Key: r.Key, Value: v})
			}
			txn(junk, kgo.TryAbort)
		}
	}
}

// summaries returns every room's summary JSON, the thing replay must not
// change.
func summaries(t testing.TB, base, token string, w *workload) string {
	var b strings.Builder
	for _, room := range w.rooms {
		status, body := apiDo(t, base, token, "/v1/rooms/"+room+"/analytics/summary")
		if status != 200 {
			t.Fatalf("summary %s: %d %s", room, status, body)
		}
		b.Write(body)
	}
	return b.String()
}

// TestReplayIdempotent backfills both topics into ClickHouse twice with the
// ovation binary after the sink copied them: every answer of the API stays
// byte-identical. It also checks the dry run's plan against the records in
// a time range, and that an interrupted replay resumes from its position
// file and removes it when done.
func TestReplayIdempotent(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	events := kafkatest.Topic(t, brokers, 3)
	frames := kafkatest.Topic(t, brokers, 3)
	topics := schemas.Topics{Events: events, Frames: frames}
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	w := newWorkload(3, 4, 12_000, t0)
	produceAll(t, kafkatest.Client(t, brokers), events, w.events)
	produceTransactional(t, brokers, frames, w.frames)

	stop := runSink(t, SinkConfig{Brokers: brokers, Topics: topics, ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db},
		MaxBatchRows: 5000, FlushInterval: 200 * time.Millisecond, Log: testLog(t)})
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)
	stop()
	srv := newAPIServer(t, chAddr, db)
	host := testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}})
	checkRooms(t, srv.URL, host, w)
	before := summaries(t, srv.URL, host, w)

	bin := buildOvation(t)
	dir := t.TempDir()
	replay := func(extra ...string) string {
		t.Helper()
		args := append([]string{"replay", "--into", "clickhouse", "--kafka-brokers", strings.Join(brokers, ","),
			"--topic-events", events, "--topic-frames", frames, "--clickhouse-addr", chAddr, "--clickhouse-database", db}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("ovation %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	for pass := 1; pass <= 2; pass++ {
		for _, topic := range []string{events, frames} {
			out := replay("--topic", topic)
			want := map[string]int{events: len(w.events), frames: len(w.frames)}[topic]
			if !strings.Contains(out, "replayed ") || !strings.Contains(out, "records/s") && !strings.Contains(out, "records") {
				t.Errorf("pass %d %s: output lacks the summary or progress:\n%s", pass, topic, out)
			}
			t.Logf("pass %d %s (%d records produced): %s", pass, topic, want, lastLine(out))
		}
		if after := summaries(t, srv.URL, host, w); after != before {
			t.Fatalf("pass %d changed the answers:\nbefore %s\nafter  %s", pass, before, after)
		}
		checkRooms(t, srv.URL, host, w)
	}
	if _, err := os.Stat(filepath.Join(dir, "ovation-replay."+events+"."+db+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a completed replay left its position file: %v", err)
	}

	// Dry run over a time range: the plan counts exactly the records whose
	// timestamps fall in it, and nothing is written.
	from, to := t0.Add(2*time.Second), t0.Add(5*time.Second)
	want := 0
	for _, r := range w.events {
		if !r.Timestamp.Before(from) && r.Timestamp.Before(to) {
			want++
		}
	}
	out := replay("--topic", events, "--dry-run", "--from-time", from.Format(time.RFC3339Nano), "--to-time", strconv.FormatInt(to.UnixMilli(), 10))
	if !strings.Contains(out, "total "+strconv.Itoa(want)+" offsets") {
		t.Errorf("dry run: want a plan of %d offsets, got:\n%s", want, out)
	}

	// An interrupted replay resumes from its position file.
	pos := filepath.Join(dir, "pos.json")
	cfg := ReplayConfig{Brokers: brokers, Topics: topics, Topic: events, FromOffset: -1,
		ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, PositionFile: pos, BatchRows: 500, Log: testLog(t)}
	r, err := NewReplayer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total, _ := plan.Total()
	ctx, cancel := context.WithCancel(context.Background())
	read := 0
	_, err = r.Run(ctx, plan, func(n int) {
		read += n
		if read >= 3000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replay: err %v, want context.Canceled", err)
	}
	r, _ = NewReplayer(cfg)
	plan, err = r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, remaining := plan.Total()
	if !plan.Resumed || remaining >= total || remaining <= 0 {
		t.Fatalf("resumed plan: resumed=%v remaining %d of %d", plan.Resumed, remaining, total)
	}
	st, err := r.Run(context.Background(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != remaining {
		t.Errorf("resumed replay read %d records, want the %d remaining", st.Records, remaining)
	}
	if _, err := os.Stat(pos); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("position file still there after completion: %v", err)
	}
	if after := summaries(t, srv.URL, host, w); after != before {
		t.Fatalf("the resumed replay changed the answers")
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
