package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kquiet"
	"github.com/ovation-live/ovation/processors"
	"golang.org/x/sync/errgroup"
)

// processFlags are the flags of `ovation process`.
type processFlags struct {
	group, txnID             string
	tick, linger             time.Duration
	txnInterval, fetchWait   time.Duration
	session, txnTimeout      time.Duration
	dedupWindow, presenceTTL time.Duration
	snapshotEvery, maxDedup  int
	snapshotInterval         time.Duration
	maxPoll                  int
	roomIdle                 time.Duration
	emojisPerUser, openQs    int
}

func runProcess(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c commonFlags
	var f processFlags
	fs := newFlagSet("process", "Aggregate events into per-room frames and snapshots, exactly once (Kafka transactions).\nRun several: they share the events partitions through the consumer group.", stderr)
	c.register(fs, "127.0.0.1:8083")
	fs.StringVar(&f.group, "group", "ovation-processors", "consumer group shared by all processors")
	fs.StringVar(&f.txnID, "transactional-id", "", "this replica's transactional id: stable across its restarts, distinct between replicas (default: group-hostname)")
	fs.DurationVar(&f.tick, "tick", 50*time.Millisecond, "the longest one transaction collects events (under load)")
	fs.DurationVar(&f.linger, "linger", 2*time.Millisecond, "with --fetch-wait 0: how long an open transaction waits for more events after the last ones came; an idle partition's event is committed this soon (a linger >= the tick makes every transaction last a tick)")
	fs.DurationVar(&f.txnInterval, "txn-interval", processors.DefaultTxnInterval, "the shortest time from one commit to the next: under a trickle of events (quiet rooms) several share a transaction instead of one each; an event that comes when the last commit began longer ago is still committed at the linger (at most the tick; 0: none)")
	fs.DurationVar(&f.fetchWait, "fetch-wait", processors.DefaultFetchWait, "the longest the broker holds a fetch of events to collect more: under a trickle of events one fetch (and one transaction) takes them all instead of one fetch per event, and --linger is not waited; an idle partition's event waits up to this for its fetch (10ms to the tick; 0: none, a fetch returns at its first event and --linger applies)")
	fs.DurationVar(&f.session, "session-timeout", 10*time.Second, "consumer group session timeout")
	fs.DurationVar(&f.txnTimeout, "transaction-timeout", 8*time.Second, "transaction timeout (below the session timeout)")
	fs.DurationVar(&f.dedupWindow, "dedup-window", 10*time.Minute, "how long, by event time, a room remembers event ids")
	fs.IntVar(&f.maxDedup, "max-dedup-ids", 200_000, "most event ids a room remembers, whatever the window")
	fs.DurationVar(&f.presenceTTL, "presence-ttl", 30*time.Second, "how long a pusher's viewer report counts")
	fs.IntVar(&f.snapshotEvery, "snapshot-every", 100, "write a room's snapshot every N frames (and always on an epoch's first frame; 1: in every transaction that changes the room)")
	fs.DurationVar(&f.snapshotInterval, "snapshot-interval", time.Second, "the longest a room's snapshot may lag its latest frame (keep it well below the pushers' --window)")
	fs.IntVar(&f.maxPoll, "max-poll-records", 1_000, "records taken per poll (a poll is applied whole before a transaction ends: this bounds how long one room's backlog delays the others)")
	fs.DurationVar(&f.roomIdle, "room-idle", 10*time.Minute, "evict a room from memory after this long without events (its state stays in the changelog and comes back on its next event)")
	fs.IntVar(&f.emojisPerUser, "max-emojis-per-user", 4, "emoji slots of a room one user may open")
	fs.IntVar(&f.openQs, "max-open-questions-per-user", 10, "questions one user may have open (not answered or removed) in a room")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	reg := newRegistry()
	cfg := processors.Config{
		Custom:  c.custom,
		Brokers: c.brokerList(), Topics: c.topics, Group: f.group, TransactionalID: f.txnID,
		Tick: f.tick, Linger: f.linger, TxnInterval: flagInterval(f.txnInterval), FetchWait: flagInterval(f.fetchWait), SessionTimeout: f.session, TransactionTimeout: f.txnTimeout,
		DedupWindow: f.dedupWindow, MaxDedupIDs: f.maxDedup, PresenceTTL: f.presenceTTL,
		SnapshotEvery: f.snapshotEvery, SnapshotInterval: f.snapshotInterval, MaxPollRecords: f.maxPoll,
		RoomIdle: f.roomIdle, MaxEmojisPerUser: f.emojisPerUser, MaxOpenQuestionsPerUser: f.openQs,
		DeploymentRoom: c.deploymentRoom,
		Log:            log.With("role", "process"), Registerer: reg,
	}
	p, err := processors.New(cfg)
	if err != nil {
		return err
	}
	ready := &readiness{}
	ready.set(false, "joining the consumer group")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return p.Run(gctx, processKafkaOpts(cfg.Brokers, log, reg)...)
	})
	g.Go(func() error {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if p.Ready() {
					ready.set(true, "")
				} else {
					ready.set(false, "no consumer group session")
				}
			}
		}
	})
	mux := adminMux(reg, ready)
	mux.Handle("GET /v1/rooms/{room}/quiz/standing", p.StandingHandler())
	g.Go(func() error { return c.serveHTTP(gctx, mux, log, 3*time.Second) })
	log.Info("ovation process starting", "brokers", cfg.Brokers, "group", f.group, "http", c.httpAddr)
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		log.Info("ovation process stopped")
		return nil
	}
	return err
}

// devProcess wires this role into `ovation dev`: one processor on the
// embedded broker, its metrics in the dev registry.
func devProcess(_ context.Context, env *devEnv) error {
	p, err := processors.New(processors.Config{
		Custom:  env.custom,
		Brokers: env.brokers, Topics: env.topics, TransactionalID: "ovation-dev-processor",
		DeploymentRoom: env.deploymentRoom, TxnInterval: env.txnInterval, FetchWait: env.fetchWait,
		Log: env.log.With("role", "process"), Registerer: env.reg,
	})
	if err != nil {
		return err
	}
	env.mux.Handle("GET /v1/rooms/{room}/quiz/standing", p.StandingHandler())
	env.goes("processors", func(ctx context.Context) error {
		return p.Run(ctx, processKafkaOpts(env.brokers, env.log, env.reg)...)
	})
	return nil
}

// processKafkaOpts are kafkaOpts with franz-go's per-transaction info
// lines moved to debug: a processor ends twenty transactions a second.
func processKafkaOpts(brokers []string, log *slog.Logger, reg prometheus.Registerer) []kgo.Opt {
	return append(kafkaOpts(brokers, "process", log, reg),
		kgo.WithLogger(kquiet.New(log.With("component", "kafka", "role", "process"))))
}

// flagInterval maps --txn-interval and --fetch-wait to
// processors.Config.TxnInterval and FetchWait, where 0 means the default
// and a negative value none.
func flagInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
