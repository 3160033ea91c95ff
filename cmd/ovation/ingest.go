package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/ingest"
)

// ingestFlags are the ingest role's own flags.
type ingestFlags struct {
	cfg    ingest.Config
	grace  time.Duration
	mirror mirrorFlags
	mod    moderationFlags
}

func (f *ingestFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.cfg.MaxEventBytes, "max-event-bytes", 16<<10, "largest event in bytes, as written to Kafka (at most 16384)")
	fs.IntVar(&f.cfg.MaxBatchEvents, "max-batch-events", ingest.DefaultMaxBatchEvents, "most events in one request")
	fs.Int64Var(&f.cfg.MaxRequestBytes, "max-request-bytes", ingest.DefaultMaxRequestBytes, "largest request body in bytes")
	fs.Float64Var(&f.cfg.UserRate, "user-rate", ingest.DefaultUserRate, "events per second per user (token sub) over HTTP and WebSocket together; negative = unlimited")
	fs.IntVar(&f.cfg.UserBurst, "user-burst", 0, "burst per user (token bucket size); 0 = 4 × --user-rate")
	fs.Float64Var(&f.cfg.ClientRate, "client-rate", ingest.DefaultClientRate, "events per second per client IP address over HTTP; negative = unlimited (do that behind a proxy)")
	fs.IntVar(&f.cfg.ClientBurst, "client-burst", 0, "burst per client IP address; 0 = 4 × --client-rate")
	fs.IntVar(&f.cfg.LimiterKeys, "rate-limiter-keys", ingest.DefaultLimiterKeys, "most users (and client addresses) with a token bucket at once; the least recently used is dropped")
	fs.IntVar(&f.cfg.MaxRoomsPerToken, "max-rooms-per-token", ingest.DefaultMaxRoomsPerToken, "refuse tokens naming more room patterns than this; negative = unlimited")
	fs.DurationVar(&f.cfg.ProduceTimeout, "produce-timeout", ingest.DefaultProduceTimeout, "how long Kafka may take to acknowledge before ingest answers kafka_unavailable")
	fs.IntVar(&f.cfg.MaxBufferedRecords, "max-buffered-records", ingest.DefaultMaxBufferedRecords, "producer buffer bound in records; when full, ingest answers 503 backpressure")
	fs.IntVar(&f.cfg.MaxBufferedBytes, "max-buffered-bytes", ingest.DefaultMaxBufferedBytes, "producer buffer bound in bytes; when full, ingest answers 503 backpressure")
	f.mirror.register(fs)
	f.mod.register(fs)
	fs.DurationVar(&f.grace, "shutdown-grace", 15*time.Second, "on SIGTERM, how long in-flight requests may take to get their Kafka acknowledgements")
}

func runIngest(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c commonFlags
	var f ingestFlags
	fs := newFlagSet("ingest", "Serve POST /v1/rooms/{room}/events: check tokens, schemas and limits, and publish into Kafka\n(idempotent producer, acks=all); answer after Kafka acknowledged.", stderr)
	c.register(fs, "127.0.0.1:8081")
	c.registerAuth(fs)
	f.register(fs)
	log, err := c.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	f.cfg.Topic = c.topics.Events
	f.cfg.Custom = c.custom
	if err := f.cfg.Validate(); err != nil {
		return err
	}
	verifier, err := c.verifier(log)
	if err != nil {
		return err
	}

	reg := newRegistry()
	cl, err := kgo.NewClient(append(kafkaOpts(c.brokerList(), "ingest", log, reg), f.cfg.ProducerOpts()...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	// Closed last: after the HTTP server stopped and every promise ran.
	defer cl.Close()
	svc, err := ingest.New(f.cfg, cl, verifier, log, reg)
	if err != nil {
		return err
	}
	ready := &readiness{}
	ready.set(false, "connecting to Kafka")
	mux := adminMux(reg, ready)
	svc.Register(mux)
	stopMirror, err := f.mirror.start(ctx, svc, log, reg)
	if err != nil {
		return err
	}
	// Stopped after the HTTP server: in-flight requests may still wait on it.
	defer stopMirror()
	stopMod, err := startModeration(f.mod.on, c.brokerList(), c.topics, c.deploymentRoom, svc, log)
	if err != nil {
		return err
	}
	defer stopMod()

	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = cl.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("kafka brokers %s unreachable: %w", c.brokers, err)
	}
	ready.set(true, "")
	log.Info("ingest ready", "topic", f.cfg.Topic, "brokers", c.brokers, "user_rate", f.cfg.UserRate, "client_rate", f.cfg.ClientRate)

	// serveHTTP returns once ctx ended and in-flight requests finished
	// (each waits for its Kafka acknowledgements) or the grace ran out.
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	done := make(chan error, 1)
	go func() { done <- c.serveHTTP(srvCtx, mux, log, f.grace) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	ready.set(false, "shutting down")
	log.Info("shutting down: refusing new requests, waiting for in-flight acknowledgements", "grace", f.grace)
	stopSrv()
	err = <-done
	flushAndLog(cl, log, f.grace)
	return err
}

// flushAndLog waits for anything still buffered; normally nothing is, since
// every request waited for its acknowledgements before answering.
func flushAndLog(cl *kgo.Client, log *slog.Logger, grace time.Duration) {
	fctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		log.Warn("flush on shutdown", "err", err, "buffered_records", cl.BufferedProduceRecords())
	}
	log.Info("ingest stopped")
}

// devIngest wires this role into `ovation dev`: the endpoint on env.mux and
// the WebSocket publish path in env.publish. Dev limits are the defaults.
func devIngest(_ context.Context, env *devEnv) error {
	cfg := ingest.Config{Topic: env.topics.Events, Custom: env.custom}
	log := env.log.With("role", "ingest")
	cl, err := kgo.NewClient(append(kafkaOpts(env.brokers, "ingest", log, env.reg), cfg.ProducerOpts()...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	svc, err := ingest.New(cfg, cl, env.verifier, log, env.reg)
	if err != nil {
		cl.Close()
		return err
	}
	svc.Register(env.mux)
	env.publish = svc.Publish
	stopMod, err := startModeration(true, env.brokers, env.topics, env.deploymentRoom, svc, log)
	if err != nil {
		cl.Close()
		return err
	}
	// The client lives until dev stops. The HTTP server drains its
	// requests in parallel (3 s); flushing first lets those finish their
	// produce before the client closes under them.
	env.goes("ingest", func(ctx context.Context) error {
		<-ctx.Done()
		flushAndLog(cl, log, 4*time.Second)
		stopMod()
		cl.Close()
		return nil
	})
	return nil
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
