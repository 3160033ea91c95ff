package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ovation-live/ovation/internal/bench"
)

const benchSummary = `End-to-end load and latency benchmark of the pipeline, with baselines in the same run.

  ovation bench [flags]                 run a benchmark (see docs/benchmarks.md)
  ovation bench exec --pprof-addr A -- <command> [flags]
                                        run any ovation command with net/http/pprof on A
  ovation bench broadcast --addr A …    the gorilla broadcast baseline server (the bench starts it)
  ovation bench summary FILE.json…      one Markdown table row per result, for sweeps

With --target dev (default) it starts ` + "`ovation dev`" + ` as a child on private loopback ports;
with --target roles it starts ingest, process and push as children against --kafka-brokers (e.g. a
broker from deployments/kafka/kafka.sh); with --target external it measures a running pipeline (--http, --kafka-brokers, and --pid/--pprof
of the pusher process for memory, CPU and profiles). Writes NAME.json, NAME.png and NAME.<process>.cpu.pprof.`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "exec":
			return runBenchExec(ctx, args[1:], stdout, stderr)
		case "broadcast":
			return runBenchBroadcast(ctx, args[1:], stderr)
		case "summary":
			var rs []*bench.Result
			for _, path := range args[1:] {
				r, err := bench.ReadResult(path)
				if err != nil {
					return err
				}
				rs = append(rs, r)
			}
			bench.Summary(stdout, rs)
			return nil
		}
	}
	var c commonFlags
	var cfg bench.Config
	var httpURL, streamURL, devArgs, ingestArgs, processArgs, pushArgs string
	var rate float64
	fs := newFlagSet("bench", benchSummary, stderr)
	c.register(fs, "")
	fs.StringVar(&cfg.Target, "target", bench.TargetDev, "dev: start ovation dev as a child; roles: start ingest, process and push as children on --kafka-brokers (topics of their own); external: a running pipeline")
	fs.StringVar(&httpURL, "http", "", "external: ingest base URL, e.g. http://127.0.0.1:8081")
	fs.StringVar(&streamURL, "stream", "", "external: WebSocket URL of the pushers (default: --http's host, ws://…/v1/stream)")
	fs.IntVar(&cfg.PID, "pid", 0, "external: PID of the pusher (or all-in-one) process, for memory per connection and CPU per frame")
	fs.StringVar(&cfg.PprofURL, "pprof", "", "external: base URL of that process's /debug/pprof (see ovation bench exec)")
	fs.StringVar(&cfg.Token, "token", "", "bearer token when the pipeline has auth on (default: dev mode's ?user=)")
	fs.IntVar(&cfg.Partitions, "partitions", 4, "dev: partitions per topic")
	fs.StringVar(&devArgs, "dev-args", "", "dev: extra flags for ovation dev, space-separated")
	fs.StringVar(&ingestArgs, "ingest-args", "", "roles: extra flags for ovation ingest")
	fs.StringVar(&processArgs, "process-args", "", "roles: extra flags for ovation process, e.g. \"--tick 20ms\"")
	fs.StringVar(&pushArgs, "push-args", "", "roles: extra flags for ovation push")
	fs.IntVar(&cfg.Viewers, "viewers", 100, "WebSocket viewers")
	fs.IntVar(&cfg.Rooms, "rooms", 10, "rooms the viewers and events spread over")
	fs.Float64Var(&rate, "rate", 0, "offered events per second; 0 = as fast as the pipeline takes them")
	fs.StringVar(&cfg.Transport, "transport", bench.TransportHTTP, "how events get in: http (batches), ws (publish op) or kafka (straight into the events topic)")
	fs.IntVar(&cfg.Batch, "batch", 100, "events per HTTP request")
	fs.IntVar(&cfg.Workers, "workers", 16, "concurrent HTTP requests")
	fs.IntVar(&cfg.PubConns, "publishers", 0, "ws transport: publishing connections (default: rate/40)")
	fs.IntVar(&cfg.Users, "users", 0, "users the events spread over (default: enough for ingest's per-user limit)")
	fs.IntVar(&cfg.ChatEvery, "chat-every", 20, "every n-th event is a chat message, the rest reactions; negative = no chat")
	fs.IntVar(&cfg.SourceAddrs, "source-addrs", 0, "loopback source addresses to dial from (127.0.0.2…); 0 = automatic")
	fs.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "driven but not measured")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured window")
	fs.BoolVar(&cfg.FanoutBaseline, "baseline-fanout", true, "also run the gorilla broadcast baseline with the same load and viewers")
	fs.BoolVar(&cfg.KafkaBaseline, "baseline-kafka", true, "also run a bare franz-go producer/consumer on the same Kafka")
	fs.BoolVar(&cfg.DirectBaseline, "baseline-direct", false, "also run the per-message baseline: a gorilla server taking the same HTTP requests and sending each event to the room's viewers at once (on by default with --scenario)")
	fs.BoolVar(&cfg.KafkaTripBaseline, "baseline-kafka-trip", false, "also run the floor of the fixed shape: a server taking the same HTTP requests that sends each event through Kafka (produced with ingest's options, read back read_committed) and then to the room's viewers as the per-message baseline does; dev: an embedded kfake broker as dev's, roles: --kafka-brokers (on by default with --scenario quiet)")
	fs.BoolVar(&cfg.Compression, "ws-compression", false, "viewers offer permessage-deflate and the pipeline's pusher negotiates it (the baselines never do)")
	fs.StringVar(&cfg.Binary, "binary", "", "ovation executable for the pipeline's children (default: this one), e.g. an older build to compare against; the baselines always run this one")
	scenario := fs.String("scenario", "", "preset shape, flags given explicitly win: quiet = 2000 viewers in 100 rooms, 500 chat lines/s (5 per room), one per request; hot = 2000 viewers in 1 room, 500 chat lines/s; both with --baseline-direct, quiet also with --baseline-kafka-trip")
	fs.DurationVar(&cfg.KafkaBaselineDuration, "baseline-kafka-duration", 10*time.Second, "how long the bare Kafka baseline produces")
	fs.IntVar(&cfg.ProfileSeconds, "profile-seconds", 10, "CPU profile of the pipeline during the measured window; negative = none")
	fs.StringVar(&cfg.OutDir, "out", ".", "directory for NAME.json, NAME.png and NAME.cpu.pprof")
	fs.StringVar(&cfg.Name, "name", "bench", "file name prefix of the results")
	watch := fs.String("watch-pids", "", "more processes whose CPU to report, as name=pid pairs, comma-separated (e.g. kafka=1234 for the broker)")
	fs.BoolVar(&cfg.KeepLogs, "keep-logs", false, "keep the child processes' output in OUT/NAME.logs")
	quiet := fs.Bool("quiet", false, "no status line every second")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	if *scenario != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		switch *scenario {
		case "quiet", "hot":
			rooms := 100
			if *scenario == "hot" {
				rooms = 1
			}
			def("viewers", func() { cfg.Viewers = 2000 })
			def("rooms", func() { cfg.Rooms = rooms })
			def("rate", func() { rate = 500 })
			def("batch", func() { cfg.Batch = 1 })
			def("chat-every", func() { cfg.ChatEvery = 1 })
			def("workers", func() { cfg.Workers = 64 })
			def("baseline-direct", func() { cfg.DirectBaseline = true })
			if *scenario == "quiet" {
				def("baseline-kafka-trip", func() { cfg.KafkaTripBaseline = true })
			}
			def("baseline-kafka", func() { cfg.KafkaBaseline = false })
		default:
			fmt.Fprintf(stderr, "--scenario %q: want quiet or hot\n", *scenario)
			return errUsage
		}
	}
	cfg.Rate = rate
	if cfg.Binary != "" {
		if cfg.BaselineBinary, err = os.Executable(); err != nil {
			return err
		}
	}
	cfg.HTTPURL = strings.TrimSuffix(httpURL, "/")
	cfg.StreamURL = streamURL
	cfg.Topics = c.topics
	if cfg.Target != bench.TargetDev {
		cfg.Brokers = c.brokerList()
	}
	cfg.DevArgs = strings.Fields(devArgs)
	cfg.RoleArgs = map[string][]string{"ingest": strings.Fields(ingestArgs), "process": strings.Fields(processArgs), "push": strings.Fields(pushArgs)}
	if *watch != "" {
		cfg.WatchPIDs = map[string]int{}
		for _, kv := range strings.Split(*watch, ",") {
			name, pid, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(pid)
			if !ok || err != nil || name == "" {
				fmt.Fprintf(stderr, "--watch-pids %q: want name=pid pairs\n", *watch)
				return errUsage
			}
			cfg.WatchPIDs[name] = n
		}
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	res, err := bench.Run(ctx, cfg, log)
	if res != nil {
		res.Table(stdout)
		fmt.Fprintf(stdout, "results: %s/%s.json, %s/%s.png\n", cfg.OutDir, cfg.Name, cfg.OutDir, cfg.Name)
	}
	return err
}

// runBenchExec runs another ovation command with net/http/pprof on a debug
// listener of its own, so the bench can profile a pipeline process and
// force a GC before reading its memory. The handlers live here, on their
// own mux, so no role's port ever serves them.
func runBenchExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench exec", "Run an ovation command with net/http/pprof on a separate debug listener.\n\n  ovation bench exec --pprof-addr 127.0.0.1:6060 -- push --kafka-brokers …", stderr)
	addr := fs.String("pprof-addr", "127.0.0.1:6060", "debug listener for /debug/pprof/ (loopback only, please)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errUsage
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == rest[0] && c.name != "bench" {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "ovation bench exec: unknown command %q\n", rest[0])
		return errUsage
	}
	stop, err := servePprof(*addr)
	if err != nil {
		return err
	}
	defer stop()
	return cmd.run(ctx, rest[1:], stdout, stderr)
}

// servePprof serves net/http/pprof on a debug listener of its own at addr
// until stop is called (stop waits for the server to end).
func servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return func() {
		srv.Close()
		<-done
	}, nil
}

func runBenchBroadcast(ctx context.Context, args []string, stderr io.Writer) error {
	var c commonFlags
	var cfg bench.BroadcastConfig
	fs := newFlagSet("bench broadcast", "The fan-out baseline: gorilla's chat-example broadcast server, fed from the frames topic.", stderr)
	c.register(fs, "")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&cfg.ReadyFile, "ready-file", "", "write the bound address here once listening")
	fs.BoolVar(&cfg.Direct, "direct", false, "the per-message baseline: take events on POST /v1/rooms/{room}/events and send each to the room's viewers at once, no Kafka")
	fs.BoolVar(&cfg.KafkaTrip, "kafka-trip", false, "the floor of the fixed shape: take events as --direct does, produce each to Kafka (ingest's producer options), read it back (read_committed) and only then send it to the room's viewers")
	embedded := fs.Bool("embedded-broker", false, "kafka-trip: run the broker in process, as ovation dev does (kfake on --kafka-listen, data in --data-dir), instead of using --kafka-brokers")
	fs.StringVar(&cfg.KafkaListen, "kafka-listen", "127.0.0.1:0", "kafka-trip: address of the embedded broker")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "kafka-trip: where the embedded broker keeps its data (default: a temporary directory, removed at the end)")
	fs.StringVar(&cfg.TripTopic, "trip-topic", bench.DefaultTripTopic, "kafka-trip: the topic it creates, produces to and reads (deleted at the end on --kafka-brokers)")
	fs.IntVar(&cfg.Partitions, "partitions", 4, "kafka-trip: partitions of --trip-topic")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof on this address (loopback only, please); empty: none")
	log, err := c.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if !*embedded {
		cfg.Brokers = c.brokerList()
	}
	cfg.FramesTopic = c.topics.Frames
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	err = bench.ServeBroadcast(ctx, cfg, log)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
