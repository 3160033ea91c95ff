package ingest

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// CodeMirrorTimeout is the error code of an event that the local Kafka
// acknowledged but that the other region's mirror did not show within
// MirrorConfig.Timeout, in "ack after mirror" mode (503; retry with the
// same id: the event may already be in, and its id keeps it from counting
// twice).
const CodeMirrorTimeout = "mirror_timeout"

// DefaultMirrorTimeout is MirrorConfig.Timeout's default.
const DefaultMirrorTimeout = 10 * time.Second

// MirrorConfig turns on "ack after mirror": ingest answers a publish only
// once the event is visible in the other region's copy of the events
// topic (the topic MirrorMaker 2 writes there, e.g. eu.ovation.events on
// the US cluster), so an acknowledged event survives the loss of this
// region. The cost is the mirror's latency on every publish, and no
// publishes at all while the other region or the mirror is down.
type MirrorConfig struct {
	// Brokers are the other region's Kafka bootstrap brokers.
	Brokers []string
	// Topic is this region's events topic as mirrored there.
	Topic string
	// Timeout bounds the wait for one event; 0 means DefaultMirrorTimeout.
	Timeout time.Duration
}

// Validate checks c.
func (c MirrorConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%w: mirror brokers are empty", ErrInvalidConfig)
	}
	if c.Topic == "" {
		return fmt.Errorf("%w: mirror topic is empty", ErrInvalidConfig)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: mirror timeout %s is negative", ErrInvalidConfig, c.Timeout)
	}
	return nil
}

// MirrorWatch reads the mirrored events topic in the other region and
// wakes the publishes waiting for their events to appear there. An event
// is recognised by a hash of its key and value, which MirrorMaker copies
// byte for byte (its default converters are byte arrays); the partition
// is the same on both sides. Memory is bounded by the publishes in
// flight: only awaited hashes are kept.
//
// Run owns the consumer loop; waiters only touch the map under mu.
type MirrorWatch struct {
	cfg  MirrorConfig
	log  *slog.Logger
	seed maphash.Seed
	opts []kgo.Opt
	cl   *kgo.Client // owned by Run after NewMirrorWatch

	mu      sync.Mutex
	waiting map[uint64][]chan struct{}

	waitSecs prometheus.Histogram
	timeouts prometheus.Counter
}

// NewMirrorWatch connects to the other region and positions a consumer at
// the current end of every partition of the mirrored topic, so that every
// event published after it returns is seen. It fails when the topic does
// not exist there (MirrorMaker not running or misnamed).
func NewMirrorWatch(ctx context.Context, cfg MirrorConfig, log *slog.Logger, reg prometheus.Registerer, opts ...kgo.Opt) (*MirrorWatch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultMirrorTimeout
	}
	w := &MirrorWatch{
		cfg: cfg, log: log, seed: maphash.MakeSeed(), opts: opts,
		waiting: map[uint64][]chan struct{}{},
	}
	if err := w.position(ctx); err != nil {
		return nil, err
	}
	w.waitSecs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ovation_ingest_mirror_wait_seconds",
		Help:    "In ack-after-mirror mode, time from the local Kafka acknowledgement to the event's appearance in the other region's mirrored topic.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms .. 16 s
	})
	w.timeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ovation_ingest_mirror_timeouts_total",
		Help: "In ack-after-mirror mode, events answered mirror_timeout: not seen in the other region in time.",
	})
	reg.MustRegister(w.waitSecs, w.timeouts)
	return w, nil
}

// position connects a consumer at the current end of every partition of
// the mirrored topic.
func (w *MirrorWatch) position(ctx context.Context) error {
	cfg := w.cfg
	adm, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, w.opts...)...)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, cfg.Topic)
	adm.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("mirror: end offsets of %s on %v: %w", cfg.Topic, cfg.Brokers, err)
	}
	if len(ends[cfg.Topic]) == 0 {
		return fmt.Errorf("mirror: topic %s does not exist on %v (is MirrorMaker 2 running?)", cfg.Topic, cfg.Brokers)
	}
	at := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { at[o.Partition] = kgo.NewOffset().At(o.Offset) })
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: at}),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, w.opts...)...)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	w.cl = cl
	return nil
}

// Run reads the mirrored topic until ctx ends, then closes the consumer.
// When the topic is deleted and created again (the mirror re-seeded after
// a failback), it watches the new topic from its end: a publish waiting
// across that moment may time out, and its retry (same id) is acknowledged.
func (w *MirrorWatch) Run(ctx context.Context) error {
	defer func() { w.cl.Close() }()
	warned := false
	for {
		fs := w.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		gone := false
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition) {
				gone = true
			} else if !warned {
				warned = true
				w.log.Warn("mirror watch: fetch failed", "topic", t, "partition", p, "err", err)
			}
		})
		if gone {
			w.cl.Close()
			w.log.Warn("mirror watch: the mirrored topic is gone or was recreated; watching it again from its end", "topic", w.cfg.Topic)
			for {
				if err := w.position(ctx); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					w.cl = nil
					return nil
				case <-time.After(time.Second):
				}
			}
			warned = false
			continue
		}
		if !fs.Empty() {
			warned = false
		}
		fs.EachRecord(func(r *kgo.Record) {
			h := w.hash(r.Key, r.Value)
			w.mu.Lock()
			chs := w.waiting[h]
			delete(w.waiting, h)
			w.mu.Unlock()
			for _, ch := range chs {
				close(ch)
			}
		})
	}
}

func (w *MirrorWatch) hash(key, value []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(w.seed)
	h.Write(key)
	h.WriteByte(0)
	h.Write(value)
	return h.Sum64()
}

// expect registers a wait for rec before it is produced, so that its
// mirrored copy cannot be read before anyone waits for it.
func (w *MirrorWatch) expect(rec *kgo.Record) (uint64, chan struct{}) {
	h := w.hash(rec.Key, rec.Value)
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiting[h] = append(w.waiting[h], ch)
	w.mu.Unlock()
	return h, ch
}

// forget drops a wait that will not be awaited (refused, timed out).
func (w *MirrorWatch) forget(h uint64, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	chs := w.waiting[h]
	for i, c := range chs {
		if c == ch {
			chs = append(chs[:i], chs[i+1:]...)
			break
		}
	}
	if len(chs) == 0 {
		delete(w.waiting, h)
	} else {
		w.waiting[h] = chs
	}
}

// Waiting returns how many events wait for the mirror.
func (w *MirrorWatch) Waiting() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, chs := range w.waiting {
		n += len(chs)
	}
	return n
}

// SetMirror turns on "ack after mirror" with w (nil turns it off). Call it
// before the Service serves.
func (s *Service) SetMirror(w *MirrorWatch) { s.mirror = w }

// mirrorWait is one item's registration with the mirror watch.
type mirrorWait struct {
	it *item
	h  uint64
	ch chan struct{}
}

// mirrorExpect registers every unrefused item with the mirror watch; nil
// when the mode is off.
func (s *Service) mirrorExpect(items []*item) []mirrorWait {
	if s.mirror == nil {
		return nil
	}
	ws := make([]mirrorWait, 0, len(items))
	for _, it := range items {
		if it.err == nil {
			h, ch := s.mirror.expect(it.rec)
			ws = append(ws, mirrorWait{it, h, ch})
		}
	}
	return ws
}

// mirrorAwait waits, after the local acknowledgements, until each
// acknowledged item is in the mirror or the mirror timeout passes (a
// timed-out item is answered mirror_timeout).
func (s *Service) mirrorAwait(ws []mirrorWait) {
	if len(ws) == 0 {
		return
	}
	start := time.Now()
	timer := time.NewTimer(s.mirror.cfg.Timeout)
	defer timer.Stop()
	expired := false
	for _, w := range ws {
		if w.it.err != nil {
			s.mirror.forget(w.h, w.ch)
			continue
		}
		if !expired {
			select {
			case <-w.ch:
				s.mirror.waitSecs.Observe(time.Since(start).Seconds())
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-w.ch:
			continue
		default:
		}
		s.mirror.forget(w.h, w.ch)
		s.mirror.timeouts.Inc()
		w.it.err = errMirrorTimeout(s.mirror.cfg.Timeout)
	}
}

func errMirrorTimeout(d time.Duration) *schemas.PublishError {
	e := perr(http.StatusServiceUnavailable, CodeMirrorTimeout, "",
		"Kafka acknowledged the event but the other region's mirror did not show it within %s; retry with the same id", d)
	e.RetryAfter = 1
	return e
}
