package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/devbroker"
	"github.com/ovation-live/ovation/processors"
	"github.com/ovation-live/ovation/pushers"
	"github.com/ovation-live/ovation/schemas"
)

// devEnv is what `ovation dev` hands each role it runs in process. Roles
// register their routes on mux and start their loops with env.goes, so
// the dev command owns every goroutine and waits for all of them.
type devEnv struct {
	brokers []string
	topics  schemas.Topics
	// deploymentRoom is --deployment-room.
	deploymentRoom string
	// custom is the --custom-types registry every role loads.
	custom   *schemas.Registry
	log      *slog.Logger
	reg      *prometheus.Registry
	mux      *http.ServeMux
	verifier *auth.Verifier
	httpAddr string
	dataDir  string
	// clickhouse is the native address of a reachable ClickHouse, or "".
	clickhouse string
	// clickhouseAddr is the --clickhouse-addr asked for, reachable or not,
	// so the analytics routes can say where they looked.
	clickhouseAddr string
	// audience is how many simulated viewers to run.
	audience int
	// push holds the pushers' settings that dev exposes as flags.
	push pushers.Config
	// txnInterval and fetchWait are the processors' --txn-interval and
	// --fetch-wait.
	txnInterval, fetchWait time.Duration

	// publish is set by the ingest role and used by pushers for events
	// published over the WebSocket.
	publish PublishFunc

	group *errgroup.Group
	gctx  context.Context
	// stopHooks run, in order, when dev shuts down, before loops are
	// awaited (e.g. pushers close their sockets).
	stopHooks []func(context.Context)
}

// PublishFunc publishes one event (JSON) for claims' user into room through
// the ingest path and returns its id once Kafka acknowledged it; a refusal
// is a *schemas.PublishError.
type PublishFunc func(ctx context.Context, claims *auth.Claims, room string, event []byte) (string, error)

func (e *devEnv) goes(name string, fn func(ctx context.Context) error) {
	e.group.Go(func() error {
		if err := fn(e.gctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var kafkaAddr, dataDir, chAddr string
	var partitions, audience int
	var authOn bool
	var push pushers.Config
	var txnInterval, fetchWait time.Duration
	fs := newFlagSet("dev", "Run every role in one process on an embedded Kafka-compatible broker (franz-go's kfake).\nThe broker listens on a real Kafka port, so kcat and any Kafka client can use it.", stderr)
	c.register(fs, "127.0.0.1:8080")
	c.registerAuth(fs)
	fs.StringVar(&kafkaAddr, "kafka-listen", "127.0.0.1:9092", "address of the embedded broker")
	fs.StringVar(&dataDir, "data-dir", filepath.Join(os.TempDir(), "ovation-dev"), "where the embedded broker keeps its data between restarts")
	fs.IntVar(&partitions, "partitions", 4, "partitions per topic")
	fs.StringVar(&chAddr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native address; analytics run when it answers")
	fs.IntVar(&audience, "audience", 0, "simulated viewers that join, react, chat, vote and answer")
	fs.DurationVar(&txnInterval, "txn-interval", processors.DefaultTxnInterval, "processors: the shortest time from one commit to the next (as ovation process --txn-interval; 0: none)")
	fs.DurationVar(&fetchWait, "fetch-wait", processors.DefaultFetchWait, "processors: the longest the broker holds a fetch of events to collect more (as ovation process --fetch-wait; 0: none)")
	fs.BoolVar(&authOn, "auth", false, "require tokens even in dev (then set --auth-hs256-secrets)")
	registerTokenLifecycle(fs, &push)
	fs.BoolVar(&push.Compression, "ws-compression", false, "pushers: negotiate permessage-deflate with clients that offer it (as ovation push --ws-compression)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c.authDisabled = !authOn
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(kafkaAddr)
	if err != nil {
		return fmt.Errorf("--kafka-listen %q: %w", kafkaAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("--kafka-listen %q: bad port", kafkaAddr)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	verifier, err := c.verifier(log)
	if err != nil {
		return err
	}

	start := time.Now()
	cluster, err := kfake.NewCluster(devbroker.Options(host, port, dataDir)...)
	if err != nil {
		return fmt.Errorf("start embedded broker on %s: %w (is another `ovation dev` or a Kafka already using the port?)", kafkaAddr, err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	log.Info("embedded Kafka-compatible broker (kfake) listening", "addr", brokers, "data_dir", devbroker.DataDir(dataDir))

	c.topics = c.topics.WithDefaults()
	if err := c.topics.Validate(); err != nil {
		return err
	}
	if err := c.loadCustom(); err != nil {
		return err
	}
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = ensureTopics(tctx, kadm.NewClient(adminCl), c.topics, topicPlan{partitions: int32(partitions), replication: 1, retention: 7 * 24 * time.Hour}, io.Discard)
	cancel()
	adminCl.Close()
	if err != nil {
		return fmt.Errorf("create topics on the embedded broker: %w", err)
	}

	reg := newRegistry()
	ready := &readiness{}
	ready.set(false, "starting")
	mux := adminMux(reg, ready)
	g, gctx := errgroup.WithContext(ctx)
	env := &devEnv{
		brokers: brokers, topics: c.topics, custom: c.custom, deploymentRoom: c.deploymentRoom, log: log, reg: reg, mux: mux,
		verifier: verifier, httpAddr: c.httpAddr, dataDir: dataDir, audience: audience, push: push, txnInterval: flagInterval(txnInterval), fetchWait: flagInterval(fetchWait),
		group: g, gctx: gctx, clickhouseAddr: chAddr,
	}
	if chReachable(chAddr) {
		env.clickhouse = chAddr
	} else {
		log.Info("ClickHouse not reachable; analytics are off in this dev run", "addr", chAddr)
	}
	for _, role := range []struct {
		name  string
		start func(context.Context, *devEnv) error
	}{
		{"ingest", devIngest}, {"processors", devProcess}, {"pushers", devPush},
		{"analytics", devSink}, {"demo", devDemo},
	} {
		if err := role.start(gctx, env); err != nil {
			return fmt.Errorf("dev: start %s: %w", role.name, err)
		}
	}
	g.Go(func() error { return c.serveHTTP(gctx, mux, log, 3*time.Second) })
	ready.set(true, "")
	log.Info("ovation dev is up", "http", "http://"+c.httpAddr, "kafka", brokers, "startup", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "\n  Ovation dev is running.\n    demo page:  http://%s/\n    health:     http://%s/healthz   metrics: http://%s/metrics\n    Kafka:      %s   (try: kcat -b %s -L)\n  Ctrl-C to stop.\n\n", c.httpAddr, c.httpAddr, c.httpAddr, brokers[0], brokers[0])

	<-gctx.Done()
	ready.set(false, "shutting down")
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 4*time.Second)
	for _, h := range env.stopHooks {
		h(sctx)
	}
	scancel()
	err = g.Wait()
	if ctx.Err() != nil {
		// A signal ended the run: that is a clean stop, whatever the
		// roles returned while unwinding.
		log.Info("stopped", "after", time.Since(start).Round(time.Millisecond))
		return nil
	}
	return err
}

func chReachable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
