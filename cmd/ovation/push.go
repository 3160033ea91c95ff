package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/ovation-live/ovation/ingest"
	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/kquiet"
	"github.com/ovation-live/ovation/pushers"
)

// pushFlags are the push role's own flags.
type pushFlags struct {
	cfg     pushers.Config
	origins string
	publish bool
	mirror  mirrorFlags
	mod     moderationFlags
}

func (f *pushFlags) register(fs *flag.FlagSet) {
	c := &f.cfg
	fs.StringVar(&c.Node, "node", "", "this pusher's name in presence reports (default: hostname plus a random suffix)")
	fs.StringVar(&f.origins, "allowed-origins", "", "comma-separated origins allowed besides the same origin (scheme://host[:port]), or *")
	fs.BoolVar(&f.publish, "publish", true, "accept publish over the WebSocket (runs the ingest path in this process)")
	f.mirror.register(fs)
	f.mod.register(fs)
	fs.DurationVar(&c.Window, "window", 2*time.Minute, "how long frames stay in memory for resumes")
	fs.IntVar(&c.RoomWindowBytes, "room-window-bytes", 1<<20, "memory bound of one room's resume window")
	fs.Int64Var(&c.MaxWindowBytes, "max-window-bytes", 256<<20, "memory bound of all rooms' windows; idle rooms give theirs up first (older positions are then read from Kafka)")
	fs.Int64Var(&c.MaxSnapshotBytes, "max-snapshot-bytes", 256<<20, "memory bound of the snapshots held; idle rooms keep only the Kafka offset of theirs")
	fs.DurationVar(&c.RoomIdle, "room-idle", 10*time.Minute, "a room without subscribers and frames for this long leaves memory, keeping only its snapshot's Kafka offset; restored on the next subscribe or frame")
	fs.DurationVar(&c.SnapshotWait, "snapshot-wait", 5*time.Second, "how long a subscribe may wait for a consistent snapshot before answering unavailable")
	fs.DurationVar(&c.AheadWait, "ahead-wait", 2*time.Second, "how long a resume ahead of this pusher waits for the room to reach it before it is answered with a snapshot")
	fs.IntVar(&c.MaxRooms, "max-rooms", 100, "subscriptions per connection (close 4010 beyond)")
	fs.Int64Var(&c.MaxMessageBytes, "max-message-bytes", 32<<10, "largest client message (close 1009 beyond)")
	fs.Float64Var(&c.InboundRate, "inbound-rate", 50, "client messages per second per connection (close 4008 beyond)")
	fs.IntVar(&c.InboundBurst, "inbound-burst", 100, "burst of client messages per connection")
	fs.IntVar(&c.MaxConnsPerUser, "max-conns-per-user", 100, "connections per user on this node (close 4011 beyond); negative = unlimited")
	fs.IntVar(&c.MergeBytes, "merge-bytes", 64<<10, "queue size per connection at which queued frames are merged")
	fs.IntVar(&c.MaxQueueBytes, "max-queue-bytes", 1<<20, "queue size per connection after merging at which the client is closed with 4009")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "bound on one socket write")
	fs.DurationVar(&c.PingInterval, "ping-interval", 25*time.Second, "server ping period; silent connections are closed after two")
	fs.IntVar(&c.SocketWriteBuffer, "socket-write-buffer", 0, "SO_SNDBUF of accepted sockets in bytes; 0 = OS default")
	fs.BoolVar(&c.Compression, "ws-compression", false, "negotiate permessage-deflate with clients that offer it (docs/benchmarks.md: -39% bytes per frame, +16 µs CPU per frame)")
	fs.DurationVar(&c.PresenceInterval, "presence-interval", 5*time.Second, "how often viewer counts are reported to the processors")
	fs.DurationVar(&c.DrainWindow, "drain-window", 10*time.Second, "on SIGTERM, reconnect closes are spread over this window")
	registerTokenLifecycle(fs, c)
}

// registerTokenLifecycle adds the flags of a token's life on an open
// socket (push and dev share them).
func registerTokenLifecycle(fs *flag.FlagSet, c *pushers.Config) {
	fs.DurationVar(&c.TokenLeeway, "token-leeway", 30*time.Second, "an open socket is closed with 4002 this long after its token's exp, unless the client refreshed it")
	fs.DurationVar(&c.RefreshBefore, "token-refresh-before", time.Minute, "the refresh hint goes out this long before a token's exp (not before half its remaining life)")
}

func (f *pushFlags) finish(c *commonFlags) {
	f.cfg.Topics = c.topics
	for _, o := range strings.Split(f.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			f.cfg.AllowedOrigins = append(f.cfg.AllowedOrigins, o)
		}
	}
}

// pushKafkaOpts are the pusher's base client options. They carry no kprom
// hook: the pusher builds several clients from them, and one kprom
// instance registers its metrics once.
func pushKafkaOpts(brokers []string, log *slog.Logger) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("ovation-push"),
		kgo.WithLogger(kquiet.New(log.With("component", "kafka", "role", "push"))),
	}
}

func runPush(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c commonFlags
	var f pushFlags
	fs := newFlagSet("push", "Serve the WebSocket endpoint GET /v1/stream (docs/protocol.md): read room frames and snapshots\nfrom Kafka, fan them out, resume clients by (epoch, seq); drain on SIGTERM.", stderr)
	c.register(fs, "127.0.0.1:8082")
	c.registerAuth(fs)
	f.register(fs)
	log, err := c.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	f.finish(&c)
	verifier, err := c.verifier(log)
	if err != nil {
		return err
	}
	reg := newRegistry()
	f.cfg.Verifier, f.cfg.Log, f.cfg.Registerer = verifier, log, reg
	f.cfg.KafkaOpts = pushKafkaOpts(c.brokerList(), log)
	if f.publish {
		icfg := ingest.Config{Topic: c.topics.Events, Custom: c.custom}
		cl, err := kgo.NewClient(append(kafkaOpts(c.brokerList(), "push-ingest", log, reg), icfg.ProducerOpts()...)...)
		if err != nil {
			return fmt.Errorf("kafka client: %w", err)
		}
		defer cl.Close()
		svc, err := ingest.New(icfg, cl, verifier, log, reg)
		if err != nil {
			return err
		}
		stopMirror, err := f.mirror.start(ctx, svc, log, reg)
		if err != nil {
			return err
		}
		defer stopMirror()
		stopMod, err := startModeration(f.mod.on, c.brokerList(), c.topics, c.deploymentRoom, svc, log)
		if err != nil {
			return err
		}
		defer stopMod()
		f.cfg.Publish = svc.Publish
	}
	f.cfg.DeploymentRoom = c.deploymentRoom
	srv, err := pushers.New(f.cfg)
	if err != nil {
		return err
	}
	ready := &readiness{}
	ready.set(false, "reading Kafka")
	mux := adminMux(reg, ready)
	mux.Handle("GET /v1/stream", srv)
	mux.Handle("GET /v1/rooms/{room}/state", srv.StateHandler())
	mux.Handle("GET /v1/sse", srv.SSEHandler())

	// The HTTP server outlives ctx: during the drain /readyz must answer
	// 503 and late connections must get the reconnect close code.
	httpCtx, stopHTTP := context.WithCancel(context.Background())
	defer stopHTTP()
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	g := new(errgroup.Group)
	httpErr := make(chan error, 1)
	g.Go(func() error {
		err := c.serveHTTP(httpCtx, mux, log, 3*time.Second)
		httpErr <- err
		return err
	})
	runErr := make(chan error, 1)
	g.Go(func() error {
		err := srv.Run(runCtx)
		runErr <- err
		return err
	})
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var failed error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-httpErr:
			failed = err
			break loop
		case err := <-runErr:
			failed = fmt.Errorf("kafka readers stopped: %w", err)
			break loop
		case <-tick.C:
			if srv.Ready() {
				ready.set(true, "")
			} else {
				ready.set(false, "reading Kafka")
			}
		}
	}
	ready.set(false, "draining")
	if failed == nil {
		log.Info("SIGTERM: lame-duck drain", "window", f.cfg.DrainWindow)
		dctx, cancel := context.WithTimeout(context.Background(), f.cfg.DrainWindow+5*time.Second)
		srv.Drain(dctx)
		cancel()
	}
	stopRun()
	srv.Close()
	stopHTTP()
	g.Wait()
	return failed
}

// devPush wires this role into `ovation dev`: GET /v1/stream on the dev
// mux, publishing through env.publish.
func devPush(_ context.Context, env *devEnv) error {
	cfg := pushers.Config{
		Topics:         env.topics,
		DeploymentRoom: env.deploymentRoom,
		KafkaOpts:      pushKafkaOpts(env.brokers, env.log),
		Verifier:       env.verifier,
		Log:            env.log.With("role", "push"),
		Registerer:     env.reg,
		DrainWindow:    time.Second,
		// The token lifecycle flags of dev (--token-leeway, --token-refresh-before).
		TokenLeeway:   env.push.TokenLeeway,
		RefreshBefore: env.push.RefreshBefore,
		Compression:   env.push.Compression,
	}
	if env.publish != nil {
		pub := env.publish
		cfg.Publish = func(ctx context.Context, claims *auth.Claims, room string, event []byte) (string, error) {
			return pub(ctx, claims, room, event)
		}
	}
	srv, err := pushers.New(cfg)
	if err != nil {
		return err
	}
	env.mux.Handle("GET /v1/stream", srv)
	env.mux.Handle("GET /v1/rooms/{room}/state", srv.StateHandler())
	env.mux.Handle("GET /v1/sse", srv.SSEHandler())
	env.goes("push", srv.Run)
	env.stopHooks = append(env.stopHooks, func(ctx context.Context) {
		srv.Drain(ctx)
		srv.Close()
	})
	return nil
}

var _ http.Handler = (*pushers.Server)(nil)
