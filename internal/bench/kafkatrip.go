package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/ingest"
	"github.com/ovation-live/ovation/internal/devbroker"
)

// DefaultTripTopic is the kafka-trip floor's topic on its embedded broker.
const DefaultTripTopic = "ovation-bench.kafka-trip"

// tripEvent is one event as the floor writes it to Kafka: the envelope
// ingest writes (id, room, user, type, ingest time, data), nothing more.
type tripEvent struct {
	ID   string          `json:"id"`
	Room string          `json:"room"`
	User string          `json:"user"`
	Type string          `json:"type"`
	TS   int64           `json:"ts"`
	Data json.RawMessage `json:"data"`
}

// serveKafkaTrip is the floor of Ovation's fixed shape
// (BroadcastConfig.KafkaTrip): the cheapest server in which every event
// is produced to Kafka, read back and fanned out, as every line is in
// Ovation. It takes serveDirect's requests with serveDirect's parsing,
// produces each event as one record keyed by its room with ingest's
// producer options (acks from all in-sync replicas, idempotent, no
// linger) and answers once Kafka acknowledged them all; one consumer in
// the same process (read_committed, a fetch that returns as soon as data
// is there, as the pushers' readers) reads the records in order and sends
// each to the room's viewers as a frame of its own, built once, one
// WriteMessage per viewer, exactly as serveDirect does. No transactions,
// no aggregation, no snapshots, no second topic: a strict lower bound on
// what a pipeline of that shape pays per line. With no Brokers it runs
// the broker in process, as `ovation dev` does (cmd/ovation/dev.go: one
// kfake broker on a real port, its data persisted to a data directory),
// so the floor pays what dev's broker pays.
func serveKafkaTrip(ctx context.Context, cfg BroadcastConfig, log *slog.Logger) error {
	topic := cfg.TripTopic
	if topic == "" {
		topic = DefaultTripTopic
	}
	parts := cfg.Partitions
	if parts <= 0 {
		parts = 4
	}
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		dataDir := cfg.DataDir
		if dataDir == "" {
			tmp, err := os.MkdirTemp("", "ovation-kafka-trip-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			dataDir = tmp
		}
		cluster, err := startTripBroker(cfg.KafkaListen, dataDir)
		if err != nil {
			return err
		}
		defer cluster.Close()
		brokers = cluster.ListenAddrs()
		log.Info("kafka-trip floor: embedded broker (kfake) listening", "addr", brokers)
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer adm.Close()
	ad := kadm.NewClient(adm)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = ad.CreateTopic(tctx, int32(parts), 1, nil, topic)
	cancel()
	if err != nil {
		return fmt.Errorf("kafka-trip floor: create %s: %w", topic, err)
	}
	if len(cfg.Brokers) > 0 {
		// A topic of the run's own on a real cluster: leave it as found.
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ad.DeleteTopics(dctx, topic)
		}()
	}
	prod, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("ovation-bench-kafka-trip")},
		ingest.Config{Topic: topic}.ProducerOpts()...)...)
	if err != nil {
		return err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("ovation-bench-kafka-trip"),
		kgo.ConsumeTopics(topic),
		// The topic is the run's own and new: everything in it is ours.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// As the pushers' readers: a fetch returns as soon as a record is
		// there (min bytes 1); the wait bounds an empty one.
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cons.Close()

	h := &hub{rooms: map[string]*bRoom{}}
	// The consumer is owned here: it stops with rctx and is waited for
	// before the clients close.
	rctx, rcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		consumeTrip(rctx, cons, h, log)
	}()
	defer func() {
		rcancel()
		wg.Wait()
	}()

	return servePerEvent(ctx, cfg, log, h, func(w http.ResponseWriter, r *http.Request, room, user string, evs []directEvent) bool {
		now := time.Now().UnixMilli()
		recs := make([]*kgo.Record, 0, len(evs))
		for i := range evs {
			ev := &evs[i]
			v, err := json.Marshal(&tripEvent{ID: ev.ID, Room: room, User: user, Type: ev.Type, TS: now, Data: ev.Data})
			if err != nil {
				http.Error(w, `{"error":{"code":"bad_request"}}`, http.StatusBadRequest)
				return false
			}
			recs = append(recs, &kgo.Record{Key: []byte(room), Value: v})
		}
		if err := prod.ProduceSync(r.Context(), recs...).FirstErr(); err != nil {
			http.Error(w, `{"error":{"code":"kafka_unavailable"}}`, http.StatusServiceUnavailable)
			return false
		}
		return true
	}, "kafka-trip floor listening", "brokers", brokers, "topic", topic)
}

// consumeTrip reads the floor's records in order and sends each to its
// room's viewers until ctx ends. Records are walked with an iterator, not
// a callback from franz-go, so CPU profiles put the fan-out apart from the
// client's own work.
func consumeTrip(ctx context.Context, cl *kgo.Client, h *hub, log *slog.Logger) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				log.Warn("kafka-trip floor: fetch", "topic", t, "partition", p, "err", err)
			}
		})
		for it := fs.RecordIter(); !it.Done(); {
			rec := it.Next()
			var ev tripEvent
			if json.Unmarshal(rec.Value, &ev) != nil {
				continue
			}
			d := directEvent{ID: ev.ID, Type: ev.Type, Data: ev.Data}
			if f, ok := directFrameOf(ev.Room, ev.User, "kafka-trip", &d, time.Now().UnixMilli(), ev.TS); ok {
				h.send(&f)
			}
		}
	}
}

// startTripBroker starts one kfake broker as `ovation dev` starts its own
// (cmd/ovation/dev.go): on a real loopback port, its data persisted under
// dataDir/kafka, the same group session floor.
func startTripBroker(listen, dataDir string) (*kfake.Cluster, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("kafka-trip floor: listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("kafka-trip floor: listen address %q: bad port", listen)
	}
	cluster, err := kfake.NewCluster(devbroker.Options(host, port, dataDir)...)
	if err != nil {
		return nil, fmt.Errorf("kafka-trip floor: start the embedded broker on %s: %w", listen, err)
	}
	return cluster, nil
}
