// Package bench is `ovation bench`: an end-to-end load and latency
// benchmark of a running Ovation pipeline, measured black-box through its
// documented interfaces (HTTP ingest, the WebSocket protocol of
// docs/protocol.md, the Kafka topics and schemas.Frame), side by side with
// two baselines in the same run — a minimal gorilla broadcast server for
// fan-out and a bare franz-go producer/consumer for the Kafka path — so
// that the report holds ratios, which survive a noisy shared machine.
//
// One run: start `ovation dev` as a child on private ports (or point at a
// running pipeline), open the viewers, drive events, sample once a second,
// then report a table, JSON and a PNG plot.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// Targets and transports.
const (
	TargetDev      = "dev"      // start `ovation dev` as a child process
	TargetExternal = "external" // a pipeline that is already running
	TargetRoles    = "roles"    // start ingest, process and push as children on a real Kafka

	TransportHTTP  = "http"  // POST /v1/rooms/{room}/events in batches
	TransportWS    = "ws"    // publish over the WebSocket protocol
	TransportKafka = "kafka" // straight into the events topic
)

// Config is one benchmark run. Zero values mean the documented defaults.
type Config struct {
	// Target is TargetDev (default), TargetRoles (the production roles
	// as children, against Brokers, on topics of their own) or
	// TargetExternal.
	Target string
	// Binary is the ovation executable for child processes (the dev
	// pipeline and the broadcast baseline); "" means this executable.
	Binary string
	// BaselineBinary runs the baselines' servers; "" means Binary. Set it
	// to this executable when Binary is an older build (whose `bench
	// broadcast` may lack what this run asks of it).
	BaselineBinary string
	// Partitions per topic of the dev or roles pipeline; 0 means 4.
	Partitions int
	// DevArgs are extra flags for `ovation dev`; RoleArgs extra flags per
	// role ("ingest", "process", "push") for TargetRoles.
	DevArgs  []string
	RoleArgs map[string][]string

	// HTTPURL is the external pipeline's ingest base URL (http://host:port).
	HTTPURL string
	// StreamURL is its WebSocket endpoint; "" means HTTPURL's host with
	// ws:// and /v1/stream.
	StreamURL string
	// Brokers of the external pipeline's Kafka.
	Brokers []string
	// Topics; empty names mean the defaults.
	Topics schemas.Topics
	// PID of the external pipeline's pusher (or all-in-one) process, for
	// memory per connection and CPU per frame; 0 means not measured.
	PID int
	// PprofURL is the external process's debug listener
	// (http://host:port, serving /debug/pprof/); "" means no profile.
	PprofURL string
	// Token is a bearer token for a pipeline with auth on; "" uses dev
	// mode's ?user= instead.
	Token string
	// WatchPIDs are more processes whose CPU is reported by name (e.g.
	// the Kafka broker: "kafka" → its PID), apart from the pipeline's.
	WatchPIDs map[string]int

	// Viewers is the WebSocket viewers; 0 means 100. Rooms they spread
	// over; 0 means 10.
	Viewers int
	Rooms   int
	// Rate is the offered events/s; 0 means as fast as the pipeline takes.
	Rate float64
	// Transport is TransportHTTP (default), TransportWS or TransportKafka.
	Transport string
	// Batch is events per HTTP request or per Kafka batch; 0 means 100.
	Batch int
	// Workers is concurrent HTTP requests; 0 means 16.
	Workers int
	// PubConns is publishing WebSocket connections for TransportWS; 0
	// means enough for Rate at 40 events/s each (the protocol's inbound
	// limit is 50/s), or 50.
	PubConns int
	// Users the events are spread over; 0 means enough to stay inside
	// ingest's default per-user limit (50/s).
	Users int
	// ChatEvery makes every n-th event a chat message (the rest are
	// reactions); 0 means 20, negative means no chat.
	ChatEvery int
	// SourceAddrs is how many loopback source addresses (127.0.0.2, …)
	// the clients dial from; 0 means 1 per 20,000 viewers, and for HTTP
	// against dev enough to stay inside ingest's default per-address
	// limit (500 events/s).
	SourceAddrs int

	// Warmup is driven but not measured; 0 means 3 s. Duration is
	// measured; 0 means 20 s. Both bound the run, as does MaxDrain (0
	// means 20 s), the wait for aggregation to catch up at the end.
	Warmup   time.Duration
	Duration time.Duration
	MaxDrain time.Duration

	// FanoutBaseline and KafkaBaseline run the baselines. DirectBaseline
	// runs the per-message one: a gorilla server that takes the events
	// on HTTP itself and sends each to the room's viewers as a message of
	// its own (no Kafka, no aggregation), the shape of a per-message
	// server such as Centrifugo's memory engine.
	FanoutBaseline bool
	KafkaBaseline  bool
	DirectBaseline bool
	// KafkaTripBaseline runs the floor of Ovation's fixed shape: a server
	// taking the same requests as the per-message one, but sending each
	// event through Kafka first (produced, acknowledged, read back, then
	// fanned out as the per-message server does; no transactions, no
	// aggregation). On TargetDev its broker is an embedded kfake set up as
	// dev's; on TargetRoles a topic of the run's own on Brokers.
	KafkaTripBaseline bool
	// Compression makes the viewers offer permessage-deflate (the
	// pipeline's pusher negotiates it when started with --ws-compression;
	// the bench adds that flag to the dev or push child).
	Compression bool
	// KafkaBaselineDuration bounds the Kafka baseline; 0 means 10 s.
	KafkaBaselineDuration time.Duration
	// ProfileSeconds of CPU profile of the pipeline during the measured
	// window; 0 means 10 (clamped to Duration), negative means none.
	ProfileSeconds int

	// KeepLogs keeps the child processes' output in OutDir/Name.logs.
	KeepLogs bool
	// OutDir gets Name.json, Name.png and the profile; "" means ".".
	OutDir string
	// Name prefixes the output files; "" means "bench".
	Name string
	// Progress gets a status line a second; nil means none.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Target == "" {
		c.Target = TargetDev
	}
	if c.Transport == "" {
		c.Transport = TransportHTTP
	}
	def(&c.Partitions, 4)
	def(&c.Viewers, 100)
	def(&c.Rooms, 10)
	def(&c.Batch, 100)
	def(&c.Workers, 16)
	def(&c.ChatEvery, 20)
	if c.PubConns == 0 {
		c.PubConns = 50
		if c.Rate > 0 {
			c.PubConns = int(math.Ceil(c.Rate / 40))
		}
	}
	if c.Users == 0 {
		c.Users = 4000
		if c.Rate > 0 {
			c.Users = max(100, int(c.Rate/50*2))
		}
	}
	if c.SourceAddrs == 0 {
		c.SourceAddrs = 1 + c.Viewers/20000
		if c.Target == TargetDev && c.Transport == TransportHTTP {
			need := 64
			if c.Rate > 0 {
				need = int(math.Ceil(c.Rate / 400))
			}
			c.SourceAddrs = max(c.SourceAddrs, need)
		}
	}
	if c.Warmup == 0 {
		c.Warmup = 3 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = 20 * time.Second
	}
	if c.MaxDrain == 0 {
		c.MaxDrain = 20 * time.Second
	}
	if c.KafkaBaselineDuration == 0 {
		c.KafkaBaselineDuration = 10 * time.Second
	}
	if c.ProfileSeconds == 0 {
		c.ProfileSeconds = 10
	}
	if c.ProfileSeconds > 0 {
		c.ProfileSeconds = min(c.ProfileSeconds, int(c.Duration/time.Second))
	}
	if c.OutDir == "" {
		c.OutDir = "."
	}
	if c.Name == "" {
		c.Name = "bench"
	}
	c.Topics = c.Topics.WithDefaults()
	if c.StreamURL == "" && c.HTTPURL != "" {
		c.StreamURL = "ws" + strings.TrimPrefix(strings.TrimSuffix(c.HTTPURL, "/"), "http") + "/v1/stream"
	}
	return c
}

// Validate checks c after defaults; it bounds the run, since a benchmark
// that never stops is a bug on a shared machine.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(f, a...)) }
	switch {
	case c.Target != TargetDev && c.Target != TargetExternal && c.Target != TargetRoles:
		return bad("target %q: want dev, roles or external", c.Target)
	case c.Target == TargetExternal && (c.HTTPURL == "" || len(c.Brokers) == 0):
		return bad("an external target needs the ingest URL and the Kafka brokers")
	case c.Target == TargetRoles && len(c.Brokers) == 0:
		return bad("the roles target needs the Kafka brokers")
	case c.Transport != TransportHTTP && c.Transport != TransportWS && c.Transport != TransportKafka:
		return bad("transport %q: want http, ws or kafka", c.Transport)
	case c.Viewers < 0 || c.Viewers > 100_000:
		return bad("viewers %d: want 0..100000", c.Viewers)
	case c.Rooms < 1 || c.Rooms > 100_000:
		return bad("rooms %d: want 1..100000", c.Rooms)
	case c.Rate < 0:
		return bad("rate %v is negative", c.Rate)
	case c.Batch < 1 || c.Batch > 500:
		return bad("batch %d: want 1..500 (ingest's default batch limit)", c.Batch)
	case c.Warmup+c.Duration > 10*time.Minute:
		return bad("warm-up plus duration %s: at most 10 minutes", c.Warmup+c.Duration)
	case c.SourceAddrs > 250:
		return bad("source addresses %d: at most 250", c.SourceAddrs)
	}
	return c.Topics.Validate()
}

// Run runs one benchmark and writes Name.json and Name.png into OutDir.
// It returns the result even with an error, when it got that far.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	nofile, err := raiseNoFile(uint64(2*cfg.Viewers + 4096))
	if err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	}
	if need := uint64(cfg.Viewers + 1024); nofile < need {
		log.Warn("open-file limit is low for this many viewers", "limit", nofile, "need", need)
	}
	if cfg.Binary == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp("", "ovation-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	logDir := tmp
	if cfg.KeepLogs {
		logDir = filepath.Join(cfg.OutDir, cfg.Name+".logs")
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			return nil, err
		}
	}

	res := &Result{
		Name: cfg.Name, Started: time.Now().UTC(), Cores: runtime.NumCPU(),
		Target: cfg.Target, Transport: cfg.Transport, Viewers: cfg.Viewers, Rooms: cfg.Rooms,
		Partitions: cfg.Partitions, Rate: cfg.Rate, Batch: cfg.Batch, Compression: cfg.Compression,
		WarmupS: cfg.Warmup.Seconds(), DurationS: cfg.Duration.Seconds(), NoFile: nofile,
	}
	run := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	prefix := "b" + run + "-"
	p := &pipeline{httpURL: cfg.HTTPURL, streamURL: cfg.StreamURL, brokers: cfg.Brokers, pid: cfg.PID, pprofURL: cfg.PprofURL}
	if cfg.PID > 0 {
		p.procs = []procRef{{name: "pusher", pid: cfg.PID, pprof: cfg.PprofURL}}
	}
	switch cfg.Target {
	case TargetDev:
		if err := p.startDev(ctx, cfg, tmp, logDir); err != nil {
			return nil, err
		}
		defer p.stop()
	case TargetRoles:
		// Topics of the run's own, so runs with different partition
		// counts never meet, and the broker is left as it was.
		cfg.Topics = schemas.Topics{
			Events: "bench-" + run + ".events", Frames: "bench-" + run + ".room-frames",
			Snapshots: "bench-" + run + ".room-snapshots", Changelog: "bench-" + run + ".state-changelog",
			DLQ: "bench-" + run + ".events-dlq",
		}
		defer p.stop()
		defer deleteTopics(cfg.Brokers, cfg.Topics)
		if err := p.startRoles(ctx, cfg, logDir, run); err != nil {
			return nil, err
		}
	default:
		res.Partitions = 0
	}
	if err := p.checkWired(ctx); err != nil {
		return nil, err
	}
	for name, pid := range cfg.WatchPIDs {
		p.procs = append(p.procs, procRef{name: name, pid: pid, watched: true})
	}

	fc, err := newFrameCounter(p.brokers, cfg.Topics.Frames, prefix)
	if err != nil {
		return nil, err
	}
	defer fc.close()
	if err := fc.ready(ctx); err != nil {
		return nil, err
	}
	fctx, fcancel := context.WithCancel(ctx)
	go fc.run(fctx)
	defer func() { fcancel(); <-fc.done }()

	gen := &eventGen{run: "b" + run}
	if err := probe(ctx, p, cfg, gen, prefix+"probe", fc); err != nil {
		return nil, err
	}
	if cfg.ChatEvery > 0 {
		gen.chatEvery = int64(cfg.ChatEvery)
	}
	srcs := sourceIPs(cfg.SourceAddrs)
	if cfg.SourceAddrs <= 1 {
		srcs = nil
	}
	mkRooms := func(tag string) []string {
		r := make([]string, cfg.Rooms)
		for i := range r {
			r[i] = prefix + tag + "-" + strconv.Itoa(i)
		}
		return r
	}

	// Phase 1: the pipeline itself.
	ours, err := runPhase(ctx, phaseSpec{
		name: "ovation", cfg: cfg, p: p, streamURL: p.streamURL, pid: p.pid, pprofURL: p.pprofURL,
		metricsURL: "http" + strings.TrimSuffix(strings.TrimPrefix(p.streamURL, "ws"), "/v1/stream") + "/metrics",
		rooms:      mkRooms("o"), srcs: srcs, gen: gen, fc: fc, viewerBase: 0, checkExactlyOnce: true,
		procs: p.procs, profile: true, serverInPipeline: true,
	}, log)
	res.Ovation = ours
	if err != nil {
		return res, err
	}

	// Phase 2: the same load, the same viewers, a gorilla broadcast server
	// reading the same frames topic instead of the pushers.
	if cfg.FanoutBaseline && cfg.Viewers > 0 && ctx.Err() == nil {
		b, err := startBroadcast(ctx, cfg, p.brokers, tmp, logDir, modeFrames)
		if err != nil {
			return res, err
		}
		base, err := runPhase(ctx, phaseSpec{
			name: "gorilla", cfg: cfg, p: p, streamURL: b.url, pid: b.child.pid(),
			rooms: mkRooms("g"), srcs: srcs, gen: gen, fc: fc, viewerBase: cfg.Viewers,
			procs: append([]procRef{{name: "gorilla", pid: b.child.pid()}}, p.procs...),
		}, log)
		b.child.stop(5 * time.Second)
		res.Gorilla = base
		if err != nil {
			return res, err
		}
	}

	// Phase 2b: the per-message baseline, a server of its own taking the
	// same requests: the pipeline idles meanwhile and is not counted.
	if cfg.DirectBaseline && cfg.Viewers > 0 && ctx.Err() == nil {
		b, err := startBroadcast(ctx, cfg, p.brokers, tmp, logDir, modeDirect)
		if err != nil {
			return res, err
		}
		pid := b.child.pid()
		base, err := runPhase(ctx, phaseSpec{
			name: "direct", cfg: cfg, p: p, streamURL: b.url, pid: pid,
			httpURL: "http" + strings.TrimSuffix(strings.TrimPrefix(b.url, "ws"), "/v1/stream"),
			rooms:   mkRooms("d"), srcs: srcs, gen: gen, fc: fc, viewerBase: 2 * cfg.Viewers,
			procs: []procRef{{name: "gorilla-direct", pid: pid, pprof: b.pprofURL}}, serverInPipeline: true, profile: true,
		}, log)
		b.child.stop(5 * time.Second)
		res.Direct = base
		if err != nil {
			return res, err
		}
	}

	// Phase 2c: the floor of the fixed shape, a server of its own taking
	// the same requests, every event through Kafka and back; the pipeline
	// idles meanwhile and is not counted.
	if cfg.KafkaTripBaseline && cfg.Viewers > 0 && ctx.Err() == nil && cfg.Target != TargetExternal {
		b, err := startBroadcast(ctx, cfg, cfg.Brokers, tmp, logDir, modeKafkaTrip)
		if err != nil {
			return res, err
		}
		pid := b.child.pid()
		procs := []procRef{{name: "kafka-trip", pid: pid, pprof: b.pprofURL}}
		for _, pr := range p.procs {
			if pr.watched {
				procs = append(procs, pr)
			}
		}
		base, err := runPhase(ctx, phaseSpec{
			name: "kafka-trip", cfg: cfg, p: p, streamURL: b.url, pid: pid,
			httpURL: "http" + strings.TrimSuffix(strings.TrimPrefix(b.url, "ws"), "/v1/stream"),
			rooms:   mkRooms("t"), srcs: srcs, gen: gen, fc: fc, viewerBase: 3 * cfg.Viewers,
			procs: procs, serverInPipeline: true, profile: true,
		}, log)
		b.child.stop(5 * time.Second)
		res.KafkaTrip = base
		if err != nil {
			return res, err
		}
	}

	// Phase 3: a bare franz-go producer and consumer on the same Kafka.
	if cfg.KafkaBaseline && ctx.Err() == nil {
		parts := cfg.Partitions
		kb, err := kafkaBaseline(ctx, p.brokers, parts, cfg.KafkaBaselineDuration, gen, mkRooms("k"))
		if err != nil {
			return res, fmt.Errorf("kafka baseline: %w", err)
		}
		res.Kafka = &kb
		progressf(cfg.Progress, "[kafka baseline] %d events in %.1fs: produced %.0f/s, consumed %.0f/s\n", kb.Events, kb.Seconds, kb.ProducedPerS, kb.ConsumedPerS)
	}
	res.ratios()
	res.targets(cfg)
	if err := res.write(cfg.OutDir, cfg.Name); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// pipeline is the system under test.
type pipeline struct {
	httpURL, streamURL string
	brokers            []string
	pid                int    // the process serving the viewers
	pprofURL           string // its debug listener
	procs              []procRef
	children           []*child
}

// procRef is one process of the pipeline whose CPU the bench samples.
type procRef struct {
	name  string
	pid   int
	pprof string // base URL of its /debug/pprof, or ""
	// watched processes (WatchPIDs) are reported but not pipeline CPU.
	watched bool
}

func (p *pipeline) startDev(ctx context.Context, cfg Config, tmp, logDir string) error {
	ports := make([]int, 3)
	for i := range ports {
		var err error
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	kafkaAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	pprofAddr := "127.0.0.1:" + strconv.Itoa(ports[2])
	args := []string{"bench", "exec", "--pprof-addr", pprofAddr, "--", "dev",
		"--http-addr", httpAddr, "--kafka-listen", kafkaAddr,
		"--data-dir", filepath.Join(tmp, "dev"), "--partitions", strconv.Itoa(cfg.Partitions),
		// Unreachable on purpose: the bench measures the realtime path,
		// and a ClickHouse that happens to run here must not join in.
		"--clickhouse-addr", "127.0.0.1:1", "--log-level", "warn",
		// Every simulated viewer connects from 127.0.0.1.
		"--http-max-conns-per-addr", "-1"}
	if cfg.Compression {
		args = append(args, "--ws-compression")
	}
	args = append(args, cfg.DevArgs...)
	c, err := startChild("ovation-dev", cfg.Binary, args, logDir, nil)
	if err != nil {
		return err
	}
	p.children = append(p.children, c)
	p.httpURL = "http://" + httpAddr
	p.streamURL = "ws://" + httpAddr + "/v1/stream"
	p.brokers = []string{kafkaAddr}
	p.pid = c.pid()
	p.pprofURL = "http://" + pprofAddr
	p.procs = []procRef{{name: "dev", pid: c.pid(), pprof: p.pprofURL}}
	if err := waitHTTP(ctx, p.httpURL+"/readyz", c, 60*time.Second); err != nil {
		return fmt.Errorf("ovation dev: %w", err)
	}
	return nil
}

// startRoles creates the run's topics and starts `ovation ingest`,
// `process` and `push` as children on cfg.Brokers, each with a pprof
// listener, auth off and ingest's rate limits off (the bench is one
// client address and a few thousand users; production limits would
// measure the limiter).
func (p *pipeline) startRoles(ctx context.Context, cfg Config, logDir, run string) error {
	brokers := strings.Join(cfg.Brokers, ",")
	topicArgs := []string{"--kafka-brokers", brokers,
		"--topic-events", cfg.Topics.Events, "--topic-frames", cfg.Topics.Frames,
		"--topic-snapshots", cfg.Topics.Snapshots, "--topic-changelog", cfg.Topics.Changelog,
		"--topic-dlq", cfg.Topics.DLQ, "--log-level", "warn"}
	// `topics create` is idempotent; a busy broker may report a new topic
	// as not yet visible, so it gets three tries.
	for try := 1; ; try++ {
		tc, err := startChild("topics", cfg.Binary, append([]string{"topics", "create", "--partitions", strconv.Itoa(cfg.Partitions)}, topicArgs...), logDir, nil)
		if err != nil {
			return err
		}
		select {
		case <-tc.done:
		case <-time.After(90 * time.Second):
			tc.stop(time.Second)
		case <-ctx.Done():
			tc.stop(time.Second)
			return ctx.Err()
		}
		if tc.err == nil {
			break
		}
		if try == 3 {
			return fmt.Errorf("ovation topics create: %v\n%s", tc.err, tc.tail(2000))
		}
		time.Sleep(time.Second)
	}
	roles := []struct {
		name string
		args []string
	}{
		{"ingest", []string{"--auth-disabled", "--user-rate", "-1", "--client-rate", "-1", "--http-max-conns-per-addr", "-1"}},
		{"process", []string{"--group", "bench-" + run, "--transactional-id", "bench-" + run + "-0"}},
		{"push", []string{"--auth-disabled", "--max-conns-per-user", "-1", "--http-max-conns-per-addr", "-1"}},
	}
	if cfg.Compression {
		roles[2].args = append(roles[2].args, "--ws-compression")
	}
	addrs := map[string]string{}
	for _, r := range roles {
		hp, err := freePort()
		if err != nil {
			return err
		}
		pp, err := freePort()
		if err != nil {
			return err
		}
		httpAddr := "127.0.0.1:" + strconv.Itoa(hp)
		pprofAddr := "127.0.0.1:" + strconv.Itoa(pp)
		args := append([]string{"bench", "exec", "--pprof-addr", pprofAddr, "--", r.name, "--http-addr", httpAddr}, topicArgs...)
		args = append(append(args, r.args...), cfg.RoleArgs[r.name]...)
		c, err := startChild(r.name, cfg.Binary, args, logDir, nil)
		if err != nil {
			return err
		}
		p.children = append(p.children, c)
		p.procs = append(p.procs, procRef{name: r.name, pid: c.pid(), pprof: "http://" + pprofAddr})
		addrs[r.name] = httpAddr
	}
	for i, r := range roles {
		if err := waitHTTP(ctx, "http://"+addrs[r.name]+"/readyz", p.children[i], 90*time.Second); err != nil {
			return fmt.Errorf("ovation %s: %w", r.name, err)
		}
	}
	p.httpURL = "http://" + addrs["ingest"]
	p.streamURL = "ws://" + addrs["push"] + "/v1/stream"
	p.brokers = cfg.Brokers
	p.pid = p.procs[2].pid
	p.pprofURL = p.procs[2].pprof
	return nil
}

func (p *pipeline) stop() {
	// In reverse: viewers' server first, ingest last.
	for i := len(p.children) - 1; i >= 0; i-- {
		p.children[i].stop(10 * time.Second)
	}
}

func deleteTopics(brokers []string, t schemas.Topics) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	kadm.NewClient(cl).DeleteTopics(ctx, t.Events, t.Frames, t.Snapshots, t.Changelog, t.DLQ)
}

// checkWired asks the pipeline for its two public endpoints with requests
// that a wired endpoint refuses (400) and an unwired one does not know (404).
func (p *pipeline) checkWired(ctx context.Context) error {
	cl := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.httpURL+"/v1/rooms/bench-probe/events", strings.NewReader(""))
	r, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("probe ingest: %w", err)
	}
	r.Body.Close()
	if r.StatusCode == http.StatusNotFound || r.StatusCode == http.StatusMethodNotAllowed {
		return fmt.Errorf("%w: POST /v1/rooms/{room}/events answered %d", ErrNotWired, r.StatusCode)
	}
	su := "http" + strings.TrimPrefix(p.streamURL, "ws")
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, su, nil)
	r, err = cl.Do(req)
	if err != nil {
		return fmt.Errorf("probe stream: %w", err)
	}
	r.Body.Close()
	if r.StatusCode == http.StatusNotFound || r.StatusCode == http.StatusMethodNotAllowed {
		return fmt.Errorf("%w: GET /v1/stream answered %d", ErrNotWired, r.StatusCode)
	}
	return nil
}

type broadcastChild struct {
	child    *child
	url      string
	pprofURL string // its /debug/pprof, or ""
}

// Modes of the baseline server (ovation bench broadcast).
const (
	modeFrames    = iota // the gorilla broadcast server on the frames topic
	modeDirect           // the per-message server, no Kafka
	modeKafkaTrip        // the floor of the fixed shape: every event through Kafka
)

func startBroadcast(ctx context.Context, cfg Config, brokers []string, tmp, logDir string, mode int) (*broadcastChild, error) {
	name := "gorilla-baseline"
	switch mode {
	case modeDirect:
		name = "gorilla-direct"
	case modeKafkaTrip:
		name = "kafka-trip"
	}
	ready := filepath.Join(tmp, name+".addr")
	args := []string{"bench", "broadcast", "--addr", "127.0.0.1:0", "--ready-file", ready}
	var pprofURL string
	if mode != modeFrames {
		// The per-event servers are profiled as the pipeline is, so their
		// profiles compare side by side (port below the ephemeral range,
		// as the dev child's: freePort).
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		pprofURL = "http://127.0.0.1:" + strconv.Itoa(pp)
		args = append(args, "--pprof-addr", strings.TrimPrefix(pprofURL, "http://"))
	}
	switch mode {
	case modeFrames:
		args = append(args, "--kafka-brokers", strings.Join(brokers, ","), "--topic-frames", cfg.Topics.Frames)
	case modeDirect:
		args = append(args, "--direct")
	case modeKafkaTrip:
		args = append(args, "--kafka-trip", "--partitions", strconv.Itoa(cfg.Partitions))
		if len(brokers) > 0 {
			args = append(args, "--kafka-brokers", strings.Join(brokers, ","), "--trip-topic", "bench-"+filepath.Base(tmp)+".kafka-trip")
		} else {
			kp, err := freePort()
			if err != nil {
				return nil, err
			}
			args = append(args, "--embedded-broker", "--kafka-listen", "127.0.0.1:"+strconv.Itoa(kp), "--data-dir", filepath.Join(tmp, name))
		}
	}
	bin := cfg.BaselineBinary
	if bin == "" {
		bin = cfg.Binary
	}
	c, err := startChild(name, bin, args, logDir, nil)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			// Give its consumer a moment to get its partitions, so that
			// the first frames of the phase are not missed.
			time.Sleep(time.Second)
			return &broadcastChild{child: c, url: "ws://" + string(b) + "/v1/stream", pprofURL: pprofURL}, nil
		}
		if c.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			c.stop(2 * time.Second)
			return nil, fmt.Errorf("broadcast baseline did not start: %v\n%s", c.err, c.tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func progressf(w io.Writer, f string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, f, a...)
	}
}

// phaseSpec is one measured phase: viewers on streamURL, the driver into
// the pipeline, counters sampled once a second.
type phaseSpec struct {
	name             string
	cfg              Config
	p                *pipeline
	streamURL        string
	pid              int
	pprofURL         string
	metricsURL       string // the server's Prometheus /metrics, if it has one
	rooms            []string
	srcs             []net.IP
	gen              *eventGen
	fc               *frameCounter
	viewerBase       int
	procs            []procRef // every process whose CPU is sampled
	checkExactlyOnce bool
	profile          bool // CPU profiles of procs during the measured window
	// httpURL, if set, is where the driver sends events instead of the
	// pipeline's ingest (the per-message baseline takes them itself).
	httpURL string
	// serverInPipeline: the viewers' server process is one of procs
	// counted as the pipeline (dev, push, the per-message baseline), so
	// its CPU is not added again to the cost per delivery.
	serverInPipeline bool
}

func runPhase(ctx context.Context, s phaseSpec, log *slog.Logger) (*Phase, error) {
	cfg := s.cfg
	ph := &Phase{Name: s.name}
	delta, chat, ack := newRecorder(), newRecorder(), newRecorder()
	v := newViewers(s.streamURL, cfg.Token, s.rooms, s.srcs, delta, chat)
	v.compression = cfg.Compression
	defer v.close()

	// Idle memory per connection: RSS before and after the viewers
	// subscribed, each after a forced GC when the process has pprof.
	// Two collections: the second finishes sweeping what the first freed,
	// so the heap in use is live data only.
	forceGC(s.pprofURL)
	forceGC(s.pprofURL)
	time.Sleep(300 * time.Millisecond)
	before, perr := readProc(s.pid)
	goBefore := readGoMem(s.metricsURL)
	t0 := time.Now()
	if cfg.Viewers > 0 {
		progressf(cfg.Progress, "[%s] opening %d viewers in %d rooms…\n", s.name, cfg.Viewers, len(s.rooms))
		if err := v.open(ctx, s.viewerBase, cfg.Viewers, 64); err != nil {
			return ph, err
		}
	}
	ph.ConnectSeconds = time.Since(t0).Seconds()
	time.Sleep(2 * time.Second)
	forceGC(s.pprofURL)
	forceGC(s.pprofURL)
	time.Sleep(300 * time.Millisecond)
	after, aerr := readProc(s.pid)
	goAfter := readGoMem(s.metricsURL)
	if s.profile && s.pprofURL != "" && cfg.Viewers > 0 && cfg.ProfileSeconds > 0 {
		// What the idle connections hold, for the memory target.
		path := filepath.Join(cfg.OutDir, cfg.Name+".idle.heap.pprof")
		if err := fetchPprof(ctx, s.pprofURL+"/debug/pprof/heap", 15*time.Second, path); err != nil {
			log.Warn("heap profile", "err", err)
		} else {
			ph.Profiles = append(ph.Profiles, path)
		}
	}
	if perr == nil && aerr == nil && cfg.Viewers > 0 {
		n := float64(v.count())
		ph.Memory = &Memory{RSSBeforeBytes: before.rssBytes, RSSAfterBytes: after.rssBytes,
			PerConnBytes: float64(after.rssBytes-before.rssBytes) / n}
		if goBefore.ok && goAfter.ok {
			ph.Memory.HeapPerConnBytes = (goAfter.heap - goBefore.heap) / n
			ph.Memory.StackPerConnBytes = (goAfter.stack - goBefore.stack) / n
		}
	}

	httpURL := s.p.httpURL
	if s.httpURL != "" {
		httpURL = s.httpURL
	}
	dc := &driveConfig{rate: cfg.Rate, batch: cfg.Batch, workers: cfg.Workers, users: cfg.Users,
		rooms: s.rooms, srcs: s.srcs, gen: s.gen, stats: &driveStats{}, ack: ack, token: cfg.Token,
		httpURL: httpURL, wsURL: s.p.streamURL, brokers: s.p.brokers, topic: cfg.Topics.Events,
		pubConns: cfg.PubConns}
	dctx, dcancel := context.WithCancel(ctx)
	defer dcancel()
	var derr error
	var dwg sync.WaitGroup
	dwg.Add(1)
	go func() {
		defer dwg.Done()
		switch cfg.Transport {
		case TransportWS:
			derr = driveWS(dctx, dc)
		case TransportKafka:
			derr = driveKafka(dctx, dc)
		default:
			derr = driveHTTP(dctx, dc)
		}
	}()
	aggBase := s.fc.events.Load()

	type counters struct {
		t                                time.Time
		sent, acc, agg, frames, msgs, sq int64
		wire                             int64
		proc                             procSample
		procs                            []procSample
		self                             procSample
	}
	read := func() counters {
		c := counters{t: time.Now(), sent: dc.stats.sent.Load(), acc: dc.stats.accepted.Load(),
			agg: s.fc.events.Load() - aggBase, frames: s.fc.frames.Load(),
			msgs: v.stats.messages.Load(), sq: v.stats.seqs.Load(), wire: v.stats.wire.Load()}
		c.proc, _ = readProc(s.pid)
		c.self, _ = readProc(os.Getpid())
		for _, pr := range s.procs {
			ps, _ := readProc(pr.pid)
			c.procs = append(c.procs, ps)
		}
		return c
	}
	start := time.Now()
	measureAt := start.Add(cfg.Warmup)
	end := measureAt.Add(cfg.Duration)
	prev := read()
	var m0 counters
	measuring := false
	var profDone chan struct{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
			continue
		case <-tick.C:
		}
		now := read()
		if !measuring && !now.t.Before(measureAt) {
			measuring = true
			delta.reset()
			chat.reset()
			ack.reset()
			s.fc.visible.reset()
			m0 = now
			prev = now
			if s.profile && cfg.ProfileSeconds > 0 {
				profDone = make(chan struct{})
				go func() {
					defer close(profDone)
					var wg sync.WaitGroup
					var mu sync.Mutex
					for _, pr := range s.procs {
						if pr.pprof == "" {
							continue
						}
						path := filepath.Join(cfg.OutDir, cfg.Name+"."+pr.name+".cpu.pprof")
						wg.Add(1)
						go func() {
							defer wg.Done()
							if err := fetchProfile(ctx, pr.pprof, cfg.ProfileSeconds, path); err != nil {
								log.Warn("cpu profile", "process", pr.name, "err", err)
								return
							}
							shares, sampled, err := cpuShares(path)
							if err != nil {
								log.Warn("cpu profile shares", "process", pr.name, "err", err)
							}
							mu.Lock()
							ph.Profiles = append(ph.Profiles, path)
							if shares != nil {
								if ph.ProfileShares == nil {
									ph.ProfileShares = map[string]map[string]float64{}
									ph.ProfileCores = map[string]float64{}
								}
								ph.ProfileShares[pr.name] = shares
								ph.ProfileCores[pr.name] = sampled.Seconds() / float64(cfg.ProfileSeconds)
							}
							mu.Unlock()
						}()
					}
					wg.Wait()
				}()
			}
			continue
		}
		dt := now.t.Sub(prev.t).Seconds()
		iv := latencyOf(delta.interval())
		pt := Point{
			T:         now.t.Sub(start).Seconds(),
			SentPS:    float64(now.sent-prev.sent) / dt,
			AcceptPS:  float64(now.acc-prev.acc) / dt,
			AggPS:     float64(now.agg-prev.agg) / dt,
			FramesPS:  float64(now.frames-prev.frames) / dt,
			DeliverPS: float64(now.msgs-prev.msgs) / dt,
			Lag:       now.acc - now.agg,
			P50:       iv.P50, P90: iv.P90, P99: iv.P99, P999: iv.P999, Max: iv.Max,
			RSSBytes: now.proc.rssBytes,
		}
		if d := now.proc.cpu - prev.proc.cpu; dt > 0 {
			pt.CPUCores = d.Seconds() / dt
		}
		progressf(cfg.Progress, "[%s %s %3.0fs] sent %7.0f/s  accepted %7.0f/s  aggregated %7.0f/s  lag %7d  frames %6.0f/s  delivered %8.0f/s  p50 %6.1fms  p99 %7.1fms  max %7.1fms  viewers %d  server cpu %.2f  bench cpu %.2f\n",
			s.name, map[bool]string{true: "run", false: "warm"}[measuring], pt.T, pt.SentPS, pt.AcceptPS, pt.AggPS, pt.Lag, pt.FramesPS, pt.DeliverPS, pt.P50, pt.P99, pt.Max, v.count(), pt.CPUCores, (now.self.cpu-prev.self.cpu).Seconds()/dt)
		if measuring {
			ph.Series = append(ph.Series, pt)
		}
		prev = now
		if !now.t.Before(end) {
			done = true
		}
	}
	m1 := read()
	dcancel()
	dwg.Wait()
	if profDone != nil {
		<-profDone
	}
	secs := m1.t.Sub(m0.t).Seconds()
	if m0.t.IsZero() || secs <= 0 {
		return ph, ctx.Err()
	}
	ph.Seconds = secs
	ph.SentPS = float64(m1.sent-m0.sent) / secs
	ph.AcceptedPS = float64(m1.acc-m0.acc) / secs
	ph.AggregatedPS = float64(m1.agg-m0.agg) / secs
	ph.FramesPS = float64(m1.frames-m0.frames) / secs
	ph.DeliveredPS = float64(m1.msgs-m0.msgs) / secs
	if n := m1.msgs - m0.msgs; n > 0 {
		ph.WireBytesPerFrame = float64(m1.wire-m0.wire) / float64(n)
	}
	ph.SeqsDeliveredPS = float64(m1.sq-m0.sq) / secs
	ph.Delta = latencyOf(delta.total())
	ph.Chat = latencyOf(chat.total())
	ph.Ack = latencyOf(ack.total())
	ph.Visible = latencyOf(s.fc.visible.total())
	if d := m1.proc.cpu - m0.proc.cpu; d > 0 {
		ph.CPUCores = d.Seconds() / secs
		if n := m1.msgs - m0.msgs; n > 0 {
			ph.CPUPerFrameUS = float64(d.Microseconds()) / float64(n)
		}
	}
	ph.ProcCPU = map[string]float64{"bench": (m1.self.cpu - m0.self.cpu).Seconds() / secs}
	for i, pr := range s.procs {
		if i < len(m0.procs) && i < len(m1.procs) {
			ph.ProcCPU[pr.name] = (m1.procs[i].cpu - m0.procs[i].cpu).Seconds() / secs
			if pr.name != "gorilla" && !pr.watched {
				ph.PipelineCPUCores += ph.ProcCPU[pr.name]
			}
		}
	}
	if ph.AcceptedPS > 0 {
		ph.CPUPerEventUS = ph.PipelineCPUCores * 1e6 / ph.AcceptedPS
	}
	// Deliveries: chat lines received by viewers (every chat line at
	// every viewer of its room), the unit a per-message server counts.
	ph.DeliveriesPS = float64(ph.Chat.Count) / secs
	if ph.DeliveriesPS > 0 {
		cores := ph.PipelineCPUCores
		if !s.serverInPipeline {
			cores += ph.CPUCores
		}
		ph.CPUPerDeliveryUS = cores * 1e6 / ph.DeliveriesPS
	}
	if s.httpURL == "" {
		// The per-message baseline aggregates nothing: no lag to speak of.
		ph.Lag = lagTrend(ph.Series)
	}
	vs := v.stats
	ph.Viewers = v.count()
	ph.Gaps, ph.Dups, ph.Merged, ph.Resets = vs.gaps.Load(), vs.dups.Load(), vs.merged.Load(), vs.resets.Load()
	ph.ServerErrors = vs.errors.Load()
	vs.closeMu.Lock()
	if len(vs.closes) > 0 {
		ph.Closes = map[string]int{}
		for k, n := range vs.closes {
			ph.Closes[strconv.Itoa(k)] = n
		}
	}
	vs.closeMu.Unlock()
	dc.stats.mu.Lock()
	ph.Rejected = dc.stats.rejected.Load()
	ph.Failed = dc.stats.failed.Load()
	if len(dc.stats.codes) > 0 {
		ph.RejectCodes = map[string]int64{}
		for k, n := range dc.stats.codes {
			ph.RejectCodes[k] = n
		}
	}
	dc.stats.mu.Unlock()
	if derr != nil {
		log.Warn("driver", "phase", s.name, "err", derr)
	}

	if s.checkExactlyOnce {
		// Every accepted event of the run must be folded into exactly one
		// frame: wait (bounded) for the processors to catch up, then
		// compare the totals.
		acc := dc.stats.accepted.Load()
		deadline := time.Now().Add(cfg.MaxDrain)
		last, lastChange := int64(-1), time.Now()
		for time.Now().Before(deadline) && ctx.Err() == nil {
			agg := s.fc.events.Load() - aggBase
			if agg >= acc {
				break
			}
			if agg != last {
				last, lastChange = agg, time.Now()
			} else if time.Since(lastChange) > 5*time.Second {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // a late duplicate would show now
		agg := s.fc.events.Load() - aggBase
		ph.ExactlyOnce = &ExactlyOnce{Accepted: acc, Aggregated: agg, Match: acc == agg}
		progressf(cfg.Progress, "[%s] exactly-once: accepted %d, aggregated %d (%s)\n", s.name, acc, agg,
			map[bool]string{true: "match", false: "MISMATCH"}[acc == agg])
		if acc > 0 && s.fc.frames.Load() == 0 {
			return ph, ErrNoFrames
		}
	}
	return ph, ctx.Err()
}

// forceGC asks a process with net/http/pprof to collect garbage (the heap
// profile's gc=1 does), so RSS readings compare live memory.
func forceGC(pprofURL string) {
	if pprofURL == "" {
		return
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	if r, err := cl.Get(pprofURL + "/debug/pprof/heap?gc=1"); err == nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
}

func fetchProfile(ctx context.Context, pprofURL string, secs int, path string) error {
	return fetchPprof(ctx, pprofURL+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), time.Duration(secs+15)*time.Second, path)
}

func fetchPprof(ctx context.Context, url string, timeout time.Duration, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	r, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: HTTP %d", r.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// probe publishes one small batch and waits until its frame is committed:
// the processors have their partitions (a fresh consumer group on a real
// broker waits out its initial rebalance delay) before anything is
// measured, so the first phase does not pay for the pipeline's start.
func probe(ctx context.Context, p *pipeline, cfg Config, gen *eventGen, room string, fc *frameCounter) error {
	const n = 10
	body := []byte{'['}
	for i := 0; i < n; i++ {
		if i > 0 {
			body = append(body, ',')
		}
		body = gen.appendBody(body)
	}
	body = append(body, ']')
	u := p.httpURL + "/v1/rooms/" + room + "/events"
	if cfg.Token == "" {
		u += "?user=probe"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
	}
	r, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("probe publish: %w", err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("probe publish: HTTP %d: %.300s", r.StatusCode, b)
	}
	start := time.Now()
	for fc.events.Load() < n {
		if time.Since(start) > 60*time.Second {
			return fmt.Errorf("%w: a probe batch accepted by ingest was not aggregated within 60 s", ErrNoFrames)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	progressf(cfg.Progress, "[probe] pipeline ready: first frame %.1fs after the first event\n", time.Since(start).Seconds())
	return nil
}

// goMem is the Go runtime's heap and stack in use, from a /metrics page.
type goMem struct {
	heap, stack float64
	ok          bool
}

// readGoMem reads go_memstats_heap_inuse_bytes and
// go_memstats_stack_inuse_bytes from a Prometheus text page: RSS says how
// much a connection costs, these say whether heap objects or goroutine
// stacks are the cost.
func readGoMem(url string) goMem {
	var m goMem
	if url == "" {
		return m
	}
	r, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return m
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil || r.StatusCode != http.StatusOK {
		return m
	}
	var got int
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			m.heap = f
			got++
		case "go_memstats_stack_inuse_bytes":
			m.stack = f
			got++
		}
	}
	m.ok = got == 2
	return m
}
