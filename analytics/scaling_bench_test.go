package analytics

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// BenchmarkSinksScaling measures, in one run, the rows per second that 1, 2
// and 3 sinks sharing one events topic (12 partitions) write into the same
// ClickHouse server, each next to clickhouse-client inserting the same rows
// from a TabSeparated file into an identical table, and prints the table
// of docs/benchmarks.md. The records are in Kafka first; the clock runs
// from the sinks' start until ClickHouse holds the last offset of every
// partition, so it covers joining the group (how long until every sink
// held partitions is printed), reading Kafka, validating every event,
// batching and inserting. Not part of make test:
//
//	go test ./analytics -run '^$' -bench SinksScaling -benchtime 1x -v
func BenchmarkSinksScaling(b *testing.B) {
	client, err := exec.LookPath("clickhouse-client")
	if err != nil {
		b.Skip("clickhouse-client not installed")
	}
	brokers := kafkatest.Brokers(b)
	chAddr := chtest.Addr(b)
	host, port, _ := net.SplitHostPort(chAddr)
	const n = 300_000
	const partitions = 12
	w := newWorkload(23, 48, n, time.Now().Add(-time.Hour))
	rows := 0
	var tsv bytes.Buffer
	for _, r := range w.events {
		ev, err := schemas.ParseEvent(r.Value)
		if err != nil {
			continue
		}
		row := newEventRow(&ev, source{topic: "bench", partition: 0, offset: int64(rows)})
		writeTSV(&tsv, row.values())
		rows++
	}
	file := filepath.Join(b.TempDir(), "events.tsv")
	if err := os.WriteFile(file, tsv.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	conn := chtest.Open(b, chAddr, "")
	cl := kafkatest.Client(b, brokers)
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-6s %-9s %10s %12s %9s %13s %10s %14s\n", "sinks", "rows", "time", "rows/s", "vs 1", "client rows/s", "sink/client", "group settled")
	var one float64
	for i := 0; i < b.N; i++ {
		for k := 1; k <= 3; k++ {
			events := kafkatest.Topic(b, brokers, partitions)
			frames := kafkatest.Topic(b, brokers, 1)
			db := chtest.Database(b, chAddr)
			cfg := ClickHouseConfig{Addr: []string{chAddr}, Database: db}
			if err := Migrate(context.Background(), conn, cfg); err != nil {
				b.Fatal(err)
			}
			// The records are in Kafka before any sink starts, so the
			// sinks are measured, not the producer.
			recs := make([]*kgo.Record, len(w.events))
			for i, r := range w.events {
				// Fresh records: a produced record keeps the (now done)
				// context and position of its first produce.
				recs[i] = &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
			}
			produceAll(b, cl, events, recs)
			want := lastKept(b, brokers, []string{events})
			var sinks []*Sink
			for range k {
				s, err := NewSink(SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames}, ClickHouse: cfg,
					FlushInterval: 250 * time.Millisecond, SessionTimeout: 6 * time.Second, Log: testLog(b)})
				if err != nil {
					b.Fatal(err)
				}
				sinks = append(sinks, s)
			}
			start := time.Now()
			var stops []func()
			for _, s := range sinks {
				stops = append(stops, runSinkValue(b, s))
			}
			var settled time.Duration
			for {
				if settled == 0 {
					sum, idle := 0.0, 0
					for _, s := range sinks {
						v := metricValue(s.m.assigned.WithLabelValues("events"))
						sum += v
						if v == 0 {
							idle++
						}
					}
					if sum == partitions && idle == 0 {
						settled = time.Since(start)
					}
				}
				got, err := readOffsets(context.Background(), conn, db, []string{events})
				if err == nil && offsetsReached(got, want) {
					break
				}
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("%d sinks did not finish: %v", k, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			sinkTime := time.Since(start)
			for _, stop := range stops {
				stop()
			}

			db2 := chtest.Database(b, chAddr)
			if err := Migrate(context.Background(), conn, ClickHouseConfig{Addr: []string{chAddr}, Database: db2}); err != nil {
				b.Fatal(err)
			}
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(client, "--host", host, "--port", port, "--query", "INSERT INTO "+db2+".events ("+eventColumns+") FORMAT TabSeparated")
			cmd.Stdin = bufio.NewReaderSize(f, 1<<20)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cstart := time.Now()
			err = cmd.Run()
			clientTime := time.Since(cstart)
			f.Close()
			if err != nil {
				b.Fatalf("clickhouse-client: %v: %s", err, stderr.String())
			}
			var c1, c2 uint64
			conn.QueryRow(context.Background(), "SELECT uniqExact(room, user, id) FROM "+db+".events").Scan(&c1)
			conn.QueryRow(context.Background(), "SELECT uniqExact(room, user, id) FROM "+db2+".events").Scan(&c2)
			if c1 != c2 || c1 == 0 {
				b.Fatalf("%d sinks wrote %d distinct events, the client %d", k, c1, c2)
			}
			rate, crate := float64(rows)/sinkTime.Seconds(), float64(rows)/clientTime.Seconds()
			if k == 1 {
				one = rate
			}
			settledAt := "-"
			if settled > 0 {
				settledAt = settled.Round(10 * time.Millisecond).String()
			}
			fmt.Fprintf(&table, "%-6d %-9d %10v %12.0f %8.2fx %13.0f %10.2f %14s\n", k, rows, sinkTime.Round(time.Millisecond), rate, rate/one, crate, rate/crate, settledAt)
			b.ReportMetric(rate, fmt.Sprintf("rows/s-%d-sinks", k))
		}
	}
	b.Logf("%s(%d event rows of 48 rooms; events topic of %d partitions; sinks in one process, each with its own Kafka client and ClickHouse connections)", table.String(), rows, partitions)
}
