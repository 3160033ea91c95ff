package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// buildOvation builds the ovation binary once per test binary run.
func buildOvation(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		root, err := kafkatest.RepoRoot()
		if err != nil {
			built.err = err
			return
		}
		dir, err := os.MkdirTemp("", "ovation-bench-test-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "ovation")
		cmd := exec.Command("go", "build", "-o", built.bin, "./cmd/ovation")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

func TestScanMessage(t *testing.T) {
	f := schemas.Frame{Room: "r-1", Epoch: "e7", Seq: 1201, TS: 1767225600950, Delta: schemas.Delta{
		Chat: []schemas.ChatLine{
			{ID: "c1", User: "u", Text: `tricky "ts":5 text`, TS: 1767225600900},
			{ID: "c2", User: "u", Text: "x", TS: 1767225600950},
		},
		Questions: map[string]*schemas.QuestionDelta{"q": {TS: 42, Text: "q?"}},
	}}
	raw, err := schemas.MarshalFrame(&f)
	if err != nil {
		t.Fatal(err)
	}
	// As the pushers frame it: the type first, then the frame's fields;
	// and in the other order, since field order is not part of the protocol.
	for _, msg := range []string{
		`{"type":"frame",` + string(raw[1:]),
		string(raw[:len(raw)-1]) + `,"from_seq":1199,"type":"frame"}`,
	} {
		var m msgFields
		if !scanMessage([]byte(msg), &m) {
			t.Fatalf("scanMessage(%s) = false", msg)
		}
		if string(m.typ) != "frame" || string(m.room) != "r-1" || string(m.epoch) != "e7" || m.seq != 1201 || m.ts != 1767225600950 {
			t.Errorf("scanMessage(%s) = type %q room %q epoch %q seq %d ts %d", msg, m.typ, m.room, m.epoch, m.seq, m.ts)
		}
		got := chatTimestamps(m.delta, nil)
		if len(got) != 2 || got[0] != 1767225600900 || got[1] != 1767225600950 {
			t.Errorf("chatTimestamps = %v, want [1767225600900 1767225600950]", got)
		}
	}
	var m msgFields
	if !scanMessage([]byte(`{"type":"frame","seq":3,"from_seq":1,"ts":9,"delta":{}}`), &m) || m.fromSeq != 1 {
		t.Errorf("from_seq = %d, want 1", m.fromSeq)
	}
	for _, bad := range []string{``, `[]`, `{"type":"frame","seq":`, `{"a" 1}`, `{"a":"unterminated}`} {
		if scanMessage([]byte(bad), &m) {
			t.Errorf("scanMessage(%q) = true, want false", bad)
		}
	}
}

func TestLagTrend(t *testing.T) {
	flat := make([]Point, 30)
	growing := make([]Point, 30)
	for i := range flat {
		flat[i] = Point{T: float64(i), AcceptPS: 10000, Lag: int64(500 + (i%3)*200)}
		growing[i] = Point{T: float64(i), AcceptPS: 10000, Lag: int64(500 + i*1000)}
	}
	if lt := lagTrend(flat); lt.Growing || lt.Max != 900 {
		t.Errorf("flat lag: %+v, want not growing, max 900", lt)
	}
	if lt := lagTrend(growing); !lt.Growing || lt.SlopePerS < 999 || lt.SlopePerS > 1001 {
		t.Errorf("growing lag: %+v, want growing at 1000/s", lt)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"target":    {Target: "prod"},
		"external":  {Target: TargetExternal},
		"transport": {Transport: "carrier-pigeon"},
		"batch":     {Batch: 501},
		"unbounded": {Duration: time.Hour},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", name, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

// TestBenchSmokeDev builds the ovation binary, runs a tiny benchmark
// against `ovation dev` (50 viewers, 2 rooms, 3 s, the four baselines), and
// checks that every number a reader relies on is sane and that the JSON
// and the plot are written.
func TestBenchSmokeDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs ovation dev")
	}
	bin := buildOvation(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress strings.Builder
	// The per-event servers (direct, kafka-trip) send every event,
	// reactions too, as a message of its own to the 25 viewers of its
	// room: 600 events/s is 15,000 messages/s to viewers that run in this
	// race-built binary. At 2000 events/s (50,000) they fell behind on a
	// loaded machine (load 10-14) and the per-message server dropped them,
	// as its chat example does, before and after the floor was added.
	const rate = 600.0
	cfg := Config{
		Binary: bin, Viewers: 50, Rooms: 2, Rate: rate, Partitions: 2,
		Warmup: 2 * time.Second, Duration: 3 * time.Second,
		FanoutBaseline: true, KafkaBaseline: true, KafkaBaselineDuration: 2 * time.Second, DirectBaseline: true,
		KafkaTripBaseline: true, ProfileSeconds: 2, OutDir: dir, Name: "smoke", Progress: &progress,
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	res, err := Run(ctx, cfg, log)
	if errors.Is(err, ErrNotWired) {
		t.Skipf("the dev pipeline lacks a role the bench needs: %v", err)
	}
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	o := res.Ovation
	if o == nil || res.Gorilla == nil || res.Kafka == nil || res.Direct == nil || res.KafkaTrip == nil {
		t.Fatalf("missing phases: ovation %v gorilla %v kafka %v direct %v kafka-trip %v", o != nil, res.Gorilla != nil, res.Kafka != nil, res.Direct != nil, res.KafkaTrip != nil)
	}
	// rate events/s offered for 3 s: a sane pipeline accepts and
	// aggregates about that, exactly once.
	if o.AcceptedPS < rate/2 || o.AcceptedPS > rate*1.5 || o.AggregatedPS < rate/2 {
		t.Errorf("accepted %.0f/s, aggregated %.0f/s; want about %.0f/s", o.AcceptedPS, o.AggregatedPS, rate)
	}
	if o.ExactlyOnce == nil || !o.ExactlyOnce.Match || o.ExactlyOnce.Accepted == 0 {
		t.Errorf("exactly-once: %+v", o.ExactlyOnce)
	}
	for _, p := range []*Phase{o, res.Gorilla, res.Direct, res.KafkaTrip} {
		if p.Viewers != 50 || p.DeliveredPS <= 0 || p.Delta.Count == 0 || p.Delta.P50 <= 0 || p.Delta.P99 < p.Delta.P50 || p.Delta.Max < p.Delta.P99 {
			t.Errorf("%s: viewers %d delivered %.0f/s latency %+v", p.Name, p.Viewers, p.DeliveredPS, p.Delta)
		}
		if p.WireBytesPerFrame < 20 {
			t.Errorf("%s: %.0f wire bytes per frame", p.Name, p.WireBytesPerFrame)
		}
		if p.Chat.Count == 0 || p.DeliveriesPS <= 0 || p.CPUPerDeliveryUS <= 0 {
			t.Errorf("%s: chat latencies %d, chat lines delivered %.0f/s, CPU per delivery %.1f µs", p.Name, p.Chat.Count, p.DeliveriesPS, p.CPUPerDeliveryUS)
		}
		// Every 20th event is a chat line, and every viewer of its room
		// gets it: rate/20 × 25 viewers per room.
		if p.DeliveriesPS < 0.8*p.AcceptedPS/20*25 {
			t.Errorf("%s: %.0f chat lines delivered/s for %.0f events/s accepted", p.Name, p.DeliveriesPS, p.AcceptedPS)
		}
		if p.Gaps != 0 || p.Dups != 0 {
			t.Errorf("%s: %d gaps, %d duplicates", p.Name, p.Gaps, p.Dups)
		}
		// Every viewer of a room gets every frame of it.
		if want := p.FramesPS * 25; p.SeqsDeliveredPS < 0.8*want {
			t.Errorf("%s: %.0f frame seqs delivered/s for %.0f frames/s × 25 viewers per room", p.Name, p.SeqsDeliveredPS, p.FramesPS)
		}
		if p.Delta.P50 > 5000 {
			t.Errorf("%s: p50 %.0f ms is not a latency of a working pipeline", p.Name, p.Delta.P50)
		}
		if len(p.Series) < 2 {
			t.Errorf("%s: %d points in the series", p.Name, len(p.Series))
		}
	}
	if o.Memory == nil || o.Memory.RSSAfterBytes <= 0 || o.CPUCores <= 0 {
		t.Errorf("process stats: memory %+v, cpu %.2f cores", o.Memory, o.CPUCores)
	}
	if res.Kafka.Events == 0 || res.Kafka.ProducedPerS <= 0 || res.Ratios.FanoutFrames <= 0 || res.Ratios.IngestVsKafka <= 0 {
		t.Errorf("baselines/ratios: kafka %+v ratios %+v", res.Kafka, res.Ratios)
	}
	if res.Ratios.CPUPerDeliveryVsDirect <= 0 || res.Ratios.ChatP99VsDirect <= 0 {
		t.Errorf("ratios against the per-message baseline: %+v", res.Ratios)
	}
	// The floor of the fixed shape: its own process, a CPU number of the
	// same kind as the others and a profile split by cpuShares (at 20
	// requests a second the broker's share may round to no sample, so
	// only the writers' is required here; TestKafkaTripFloor shows every
	// line goes through the broker, TestCPUShares the split). The
	// per-message server is profiled too, so the two compare.
	trip := res.KafkaTrip
	if trip.CPUCores <= 0 || trip.ProcCPU["kafka-trip"] <= 0 || trip.PipelineCPUCores != trip.ProcCPU["kafka-trip"] {
		t.Errorf("kafka-trip CPU: %.2f cores, by process %v, counted %.2f", trip.CPUCores, trip.ProcCPU, trip.PipelineCPUCores)
	}
	if trip.CPUPerDeliveryUS <= 0 || trip.CPUPerDeliveryUS > 10000 || trip.Chat.P50 <= 0 || trip.Chat.P50 > 1000 {
		t.Errorf("kafka-trip: CPU per delivery %.1f µs, chat p50 %.1f ms", trip.CPUPerDeliveryUS, trip.Chat.P50)
	}
	if res.Ratios.FloorVsDirect <= 0 || res.Ratios.CPUVsFloor <= 0 {
		t.Errorf("ratios against the floor: %+v", res.Ratios)
	}
	for name, ph := range map[string]*Phase{"kafka-trip": trip, "dev": o, "gorilla-direct": res.Direct} {
		sh := ph.ProfileShares[name]
		var sum float64
		for _, v := range sh {
			sum += v
		}
		// The per-event servers spend most of their time writing (one
		// WriteMessage per event per viewer); dev's profile holds a few
		// samples only at this load, and a profile that saw little of
		// its process (profileSeen) is a handful of samples too.
		if sum < 0.999 || sum > 1.001 || (name != "dev" && ph.profileSeen(name) && sh[ShareWriters] <= 0) {
			t.Errorf("%s profile shares %v (it saw %.2f of %.2f cores): want them to sum to 1, the writers' above 0", name, sh, ph.ProfileCores[name], ph.ProcCPU[name])
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "smoke.kafka-trip.cpu.pprof")); err != nil || st.Size() == 0 {
		t.Errorf("kafka-trip cpu profile: %v", err)
	}
	if len(res.Targets) != 5 {
		t.Errorf("%d targets judged, want 5", len(res.Targets))
	}
	b, err := os.ReadFile(filepath.Join(dir, "smoke.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back.Ovation == nil || back.Ovation.AcceptedPS != o.AcceptedPS {
		t.Errorf("smoke.json does not hold the result: %v", err)
	}
	png, err := os.ReadFile(filepath.Join(dir, "smoke.png"))
	if err != nil || len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Errorf("smoke.png: %d bytes, err %v", len(png), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "smoke.dev.cpu.pprof")); err != nil || st.Size() == 0 {
		t.Errorf("cpu profile: %v", err)
	}
	var table strings.Builder
	res.Table(&table)
	if !strings.Contains(table.String(), "frame latency p99") || !strings.Contains(table.String(), "target ingest throughput") {
		t.Errorf("table lacks rows:\n%s", table.String())
	}
	if !strings.Contains(progress.String(), "[ovation run") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}
}

// TestBenchSmokeRoles runs the production roles as children against the
// real Kafka of OVATION_KAFKA_BROKERS (skipped without one): the path the
// reported numbers come from, on topics of the run's own.
func TestBenchSmokeRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the roles")
	}
	brokers := kafkatest.Brokers(t)
	bin := buildOvation(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var progress strings.Builder
	res, err := Run(ctx, Config{
		Target: TargetRoles, Brokers: brokers, Binary: bin, Viewers: 20, Rooms: 2, Rate: 1000, Partitions: 2,
		Warmup: time.Second, Duration: 3 * time.Second, KafkaBaseline: true, KafkaBaselineDuration: time.Second,
		KafkaTripBaseline: true, ProfileSeconds: 1, OutDir: dir, Name: "roles", Progress: &progress,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	o := res.Ovation
	if o.ExactlyOnce == nil || !o.ExactlyOnce.Match || o.ExactlyOnce.Accepted < 1000 {
		t.Errorf("exactly-once on real Kafka: %+v", o.ExactlyOnce)
	}
	if o.Delta.Count == 0 || o.Gaps != 0 || o.Dups != 0 || o.SeqsDeliveredPS < 0.8*o.FramesPS*10 {
		t.Errorf("delivery: %d latencies, %d gaps, %d dups, %.0f seqs/s for %.0f frames/s × 10 viewers", o.Delta.Count, o.Gaps, o.Dups, o.SeqsDeliveredPS, o.FramesPS)
	}
	for _, proc := range []string{"ingest", "process", "push", "bench"} {
		if _, ok := o.ProcCPU[proc]; !ok {
			t.Errorf("no CPU sampled for %s: %v", proc, o.ProcCPU)
		}
	}
	if len(o.Profiles) != 4 {
		t.Errorf("profiles: %v, want a CPU profile per role and the idle heap", o.Profiles)
	}
	if res.Kafka == nil || res.Kafka.Events == 0 || res.Ratios.CPUVsKafka <= 0 {
		t.Errorf("kafka baseline %+v, ratios %+v", res.Kafka, res.Ratios)
	}
	// The floor on the real broker: a topic of its own, every line to
	// every viewer of its room, and the broker's CPU not in its cost.
	trip := res.KafkaTrip
	if trip == nil {
		t.Fatal("no kafka-trip phase")
	}
	if trip.Viewers != 20 || trip.Gaps != 0 || trip.Dups != 0 || trip.Chat.Count == 0 || trip.DeliveriesPS < 0.8*trip.AcceptedPS/20*10 || trip.CPUPerDeliveryUS <= 0 {
		t.Errorf("kafka-trip on real Kafka: viewers %d, gaps %d, dups %d, %d chat latencies, %.0f deliveries/s for %.0f events/s, %.1f µs per delivery",
			trip.Viewers, trip.Gaps, trip.Dups, trip.Chat.Count, trip.DeliveriesPS, trip.AcceptedPS, trip.CPUPerDeliveryUS)
	}
	if sh := trip.ProfileShares["kafka-trip"]; sh == nil || sh[ShareBroker] != 0 {
		t.Errorf("kafka-trip profile shares on real Kafka %v: want a profile with no in-process broker", sh)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics.Names() {
		if strings.HasSuffix(name, ".kafka-trip") {
			t.Errorf("the floor left its topic %s on the broker", name)
		}
	}
}
