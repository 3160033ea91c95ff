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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// BenchmarkSinkVsClickHouseClient measures, in one run, the rows per second
// the sink writes into the events table (reading Kafka, validating,
// batching, inserting over the native protocol) against clickhouse-client
// inserting the same rows from a TabSeparated file into an identical
// table, and reports the ratio. Run it once:
//
//	go test ./analytics -run '^$' -bench SinkVsClickHouseClient -benchtime 1x
func BenchmarkSinkVsClickHouseClient(b *testing.B) {
	client, err := exec.LookPath("clickhouse-client")
	if err != nil {
		b.Skip("clickhouse-client not installed")
	}
	brokers := kafkatest.Brokers(b)
	chAddr := chtest.Addr(b)
	host, port, _ := net.SplitHostPort(chAddr)
	const n = 200_000
	w := newWorkload(11, 20, n, time.Now().Add(-time.Hour))
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
	events := kafkatest.Topic(b, brokers, 4)
	frames := kafkatest.Topic(b, brokers, 1)
	produceAll(b, kafkatest.Client(b, brokers), events, w.events)
	readStart := time.Now()
	want := lastKept(b, brokers, []string{events})
	b.Logf("reading the topic once and validating every event (no ClickHouse) took %v", time.Since(readStart).Round(time.Millisecond))
	// Rounds alternate the two writers so that the machine's load hits
	// both alike; the median ratio is reported.
	const rounds = 3
	var ratios []float64
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-6s %-34s %10s %12s\n", "round", "writer", "time", "rows/s")
	for i := 0; i < b.N; i++ {
		for round := 1; round <= rounds; round++ {
			// The sink: Kafka → ClickHouse, from its start (tables already
			// migrated, as for the client) until ClickHouse holds the last
			// offset.
			db := chtest.Database(b, chAddr)
			if err := Migrate(context.Background(), conn, ClickHouseConfig{Addr: []string{chAddr}, Database: db}); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			stop := runSink(b, SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames},
				ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, FlushInterval: 250 * time.Millisecond, Log: testLog(b)})
			for {
				got, err := readOffsets(context.Background(), conn, db, []string{events})
				if err == nil && offsetsReached(got, want) {
					break
				}
				if time.Since(start) > 3*time.Minute {
					b.Fatalf("sink did not finish: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			sinkTime := time.Since(start)
			stop()

			// clickhouse-client: the same rows from a file into the same
			// table definition in a second database.
			db2 := chtest.Database(b, chAddr)
			if err := Migrate(context.Background(), conn, ClickHouseConfig{Addr: []string{chAddr}, Database: db2}); err != nil {
				b.Fatal(err)
			}
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(client, "--host", host, "--port", port, "--query",
				"INSERT INTO "+db2+".events ("+eventColumns+") FORMAT TabSeparated")
			cmd.Stdin = bufio.NewReaderSize(f, 1<<20)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start = time.Now()
			err = cmd.Run()
			clientTime := time.Since(start)
			f.Close()
			if err != nil {
				b.Fatalf("clickhouse-client: %v: %s", err, stderr.String())
			}
			var c1, c2 uint64
			conn.QueryRow(context.Background(), "SELECT uniqExact(room, user, id) FROM "+db+".events").Scan(&c1)
			conn.QueryRow(context.Background(), "SELECT count() FROM "+db2+".events").Scan(&c2)
			if c2 != uint64(rows) || c1 == 0 {
				b.Fatalf("rows: sink wrote %d distinct, client %d, want %d rows", c1, c2, rows)
			}
			sinkRate := float64(rows) / sinkTime.Seconds()
			clientRate := float64(rows) / clientTime.Seconds()
			ratios = append(ratios, sinkRate/clientRate)
			bar := func(r float64) string { return strings.Repeat("█", max(1, int(40*r/max(sinkRate, clientRate)))) }
			fmt.Fprintf(&table, "%-6d %-34s %10v %12.0f %s\n%-6d %-34s %10v %12.0f %s\n",
				round, "ovation sink (Kafka → ClickHouse)", sinkTime.Round(time.Millisecond), sinkRate, bar(sinkRate),
				round, "clickhouse-client < file (TSV)", clientTime.Round(time.Millisecond), clientRate, bar(clientRate))
			b.ReportMetric(sinkRate, "sink-rows/s")
			b.ReportMetric(clientRate, "client-rows/s")
		}
	}
	slices.Sort(ratios)
	ratio := ratios[len(ratios)/2]
	b.ReportMetric(ratio, "sink/client")
	b.Logf("%smedian ratio sink/client-from-file: %.2f over %d rounds (%d rows each; the sink also reads Kafka and validates every event)",
		table.String(), ratio, len(ratios), rows)
}

// writeTSV writes one row in ClickHouse's TabSeparated format.
func writeTSV(buf *bytes.Buffer, vals []any) {
	for i, v := range vals {
		if i > 0 {
			buf.WriteByte('\t')
		}
		switch x := v.(type) {
		case string:
			for _, c := range []byte(x) {
				switch c {
				case '\t':
					buf.WriteString(`\t`)
				case '\n':
					buf.WriteString(`\n`)
				case '\\':
					buf.WriteString(`\\`)
				default:
					buf.WriteByte(c)
				}
			}
		case time.Time:
			buf.WriteString(x.Format("2006-01-02 15:04:05"))
		default:
			fmt.Fprint(buf, x)
		}
	}
	buf.WriteByte('\n')
}
