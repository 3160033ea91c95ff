package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/ovation-live/ovation/analytics"
	"github.com/ovation-live/ovation/internal/kquiet"
)

// clickhouseFlags are the flags of every command that talks to ClickHouse.
type clickhouseFlags struct {
	addr     string
	database string
	user     string
	password string
	cluster  string
}

func (f *clickhouseFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native-protocol addresses, comma-separated")
	fs.StringVar(&f.database, "clickhouse-database", "ovation", "ClickHouse database for Ovation's tables (created if missing)")
	fs.StringVar(&f.user, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&f.password, "clickhouse-password", "", "ClickHouse password (prefer OVATION_CLICKHOUSE_PASSWORD)")
	fs.StringVar(&f.cluster, "clickhouse-cluster", "", "ClickHouse cluster name (remote_servers): create the schema ON CLUSTER with replicated tables and Distributed tables sharded by room; empty: one server")
}

func (f *clickhouseFlags) config() analytics.ClickHouseConfig {
	var addrs []string
	for _, a := range strings.Split(f.addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return analytics.ClickHouseConfig{Addr: addrs, Database: f.database, Username: f.user, Password: f.password, Cluster: f.cluster}
}

func runSink(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c commonFlags
	var ch clickhouseFlags
	var cfg analytics.SinkConfig
	var grace time.Duration
	fs := newFlagSet("sink", "Copy the events and room-frames topics into ClickHouse exactly once (resuming from what\nClickHouse holds), and serve the analytics API: GET /v1/rooms/{room}/analytics/{summary,timeseries,chat}.\nRun several: they split the partitions through a Kafka consumer group.", stderr)
	c.register(fs, "127.0.0.1:8084")
	c.registerAuth(fs)
	ch.register(fs)
	fs.IntVar(&cfg.MaxBatchRows, "batch-rows", 100_000, "most rows per ClickHouse insert")
	fs.IntVar(&cfg.MaxBatchBytes, "batch-bytes", 64<<20, "most bytes of rows held for one insert")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", time.Second, "longest a row waits before it is inserted")
	fs.DurationVar(&cfg.RetryMax, "retry-max", 5*time.Second, "longest backoff between failed inserts")
	fs.StringVar(&cfg.Group, "sink-group", "", "Kafka consumer group the sinks of one deployment share to split the partitions (offsets stay in ClickHouse); default ovation-sink-<database>")
	fs.StringVar(&cfg.InstanceID, "sink-instance-id", "", "static group member id, stable per replica (e.g. the pod name): a restart within --session-timeout keeps its partitions without a rebalance")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", 15*time.Second, "how long a sink that stopped heartbeating keeps its partitions before the group moves them")
	fs.DurationVar(&cfg.MetadataRefresh, "metadata-refresh", 15*time.Second, "how often partitions added to the topics are looked for")
	fs.DurationVar(&grace, "shutdown-grace", 10*time.Second, "on SIGTERM, how long in-flight API requests may take")
	log, err := c.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	verifier, err := c.verifier(log)
	if err != nil {
		return err
	}
	reg := newRegistry()
	cfg.Brokers = c.brokerList()
	cfg.Custom = c.custom
	cfg.Topics = c.topics
	cfg.ClickHouse = ch.config()
	cfg.Log = log.With("role", "sink")
	cfg.Registerer = reg
	cfg.KafkaOpts = append(kafkaOpts(cfg.Brokers, "sink", log, reg),
		kgo.WithLogger(kquiet.New(log.With("component", "kafka", "role", "sink"))))
	sink, err := analytics.NewSink(cfg)
	if err != nil {
		return err
	}
	api, err := analytics.NewAPI(analytics.APIConfig{ClickHouse: cfg.ClickHouse, Verifier: verifier, Log: log.With("role", "analytics-api")})
	if err != nil {
		return err
	}
	defer api.Close()

	ready := &readiness{}
	ready.set(false, "starting")
	mux := adminMux(reg, ready)
	api.Register(mux)
	log.Info("sink starting", "brokers", c.brokers, "clickhouse", ch.addr, "database", ch.database, "cluster", ch.cluster, "events", c.topics.Events, "frames", c.topics.Frames)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sink.Run(gctx) })
	g.Go(func() error { return watchReadiness(gctx, sink, ready) })
	g.Go(func() error { return c.serveHTTP(gctx, mux, log, grace) })
	err = g.Wait()
	log.Info("sink stopped")
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// watchReadiness mirrors the sink's readiness into /readyz once a second:
// not ready while ClickHouse refuses inserts, so an orchestrator sees it.
func watchReadiness(ctx context.Context, sink *analytics.Sink, ready *readiness) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		ok, why := sink.Ready()
		ready.set(ok, why)
		select {
		case <-ctx.Done():
			ready.set(false, "shutting down")
			return nil
		case <-t.C:
		}
	}
}

// devSink wires analytics into `ovation dev`: with ClickHouse reachable it
// runs the sink and mounts the API; without, the API routes answer 503 and
// say why.
func devSink(_ context.Context, env *devEnv) error {
	if env.clickhouse == "" {
		analytics.RegisterUnavailable(env.mux, fmt.Sprintf("analytics need ClickHouse at %s (--clickhouse-addr), which did not answer when ovation dev started: start ClickHouse (deployments/clickhouse/clickhouse.sh start DIR) and restart ovation dev", env.clickhouseAddr))
		return nil
	}
	log := env.log.With("role", "sink")
	ch := analytics.ClickHouseConfig{Addr: []string{env.clickhouse}}
	sink, err := analytics.NewSink(analytics.SinkConfig{
		Custom:  env.custom,
		Brokers: env.brokers, Topics: env.topics, ClickHouse: ch, Log: log, Registerer: env.reg,
		KafkaOpts: append(kafkaOpts(env.brokers, "sink", env.log, env.reg),
			kgo.WithLogger(kquiet.New(env.log.With("component", "kafka", "role", "sink")))),
	})
	if err != nil {
		return err
	}
	api, err := analytics.NewAPI(analytics.APIConfig{ClickHouse: ch, Verifier: env.verifier, Log: env.log.With("role", "analytics-api")})
	if err != nil {
		return err
	}
	api.Register(env.mux)
	env.goes("analytics", func(ctx context.Context) error {
		defer api.Close()
		return sink.Run(ctx)
	})
	return nil
}
