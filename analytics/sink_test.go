package analytics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// newAPIServer serves the API over db on an httptest server.
func newAPIServer(t testing.TB, chAddr, db string) *httptest.Server {
	api, err := NewAPI(APIConfig{ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, Verifier: testVerifier(t), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); api.Close() })
	return srv
}

// runSink runs a sink until the returned stop is called.
func runSink(t testing.TB, cfg SinkConfig) (stop func()) {
	s, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return runSinkValue(t, s)
}

// runSinkValue runs s until the returned stop is called.
func runSinkValue(t testing.TB, s *Sink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sink: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestSinkExactlyOnce copies a workload with client retries, refused
// events and invalid records into ClickHouse, stopping the sink halfway and
// starting a new one, and checks every room against the test's own fold.
// A second pass re-inserts everything already held (a sink that lost its
// place entirely) and no count may move.
func TestSinkExactlyOnce(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	events := kafkatest.Topic(t, brokers, 4)
	frames := kafkatest.Topic(t, brokers, 4)
	topics := schemas.Topics{Events: events, Frames: frames}

	w := newWorkload(1, 6, 20_000, time.Now().Add(-time.Hour))
	cl := kafkatest.Client(t, brokers)
	half := len(w.events) / 2
	produceAll(t, cl, events, w.events[:half])
	produceAll(t, cl, frames, w.frames[:len(w.frames)/2])

	cfg := SinkConfig{Brokers: brokers, Topics: topics, ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db},
		MaxBatchRows: 3000, FlushInterval: 200 * time.Millisecond, Log: testLog(t)}
	stop := runSink(t, cfg)
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)
	stop()

	produceAll(t, cl, events, w.events[half:])
	produceAll(t, cl, frames, w.frames[len(w.frames)/2:])
	stop = runSink(t, cfg)
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)
	stop()

	srv := newAPIServer(t, chAddr, db)
	host := testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}})
	checkRooms(t, srv.URL, host, w)

	// Lose the place entirely: drop the offsets and copy everything again.
	conn := chtest.Open(t, chAddr, "")
	if err := conn.Exec(context.Background(), "TRUNCATE TABLE "+db+".sink_offsets"); err != nil {
		t.Fatal(err)
	}
	stop = runSink(t, cfg)
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)
	stop()
	var rows uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".events").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("events table holds %d rows (unmerged copies included) for %d records", rows, len(w.events))
	checkRooms(t, srv.URL, host, w)
}
