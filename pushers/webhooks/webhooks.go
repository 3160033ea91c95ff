// Package webhooks delivers room events to an HTTP endpoint of the
// operator's (docs/webhooks.md): a poll closed with its results, a quiz
// revealed with its answer and leaderboard, moderation actions, and a room
// summary every Config.SummaryEvery. It reads the processors' frames topic
// in a consumer group (read_committed), finds the events in each frame's
// delta, takes results from a pusher's GET /v1/rooms/{room}/state (a
// closed poll's or a revealed quiz's results never change again, so any
// state at or after the frame has them), and posts each event:
//
//   - signed: Ovation-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret,
//     "<t>.<body>")>;
//   - with an idempotency key, Ovation-Webhook-Key: room/epoch/seq/n (the
//     frame's position and the event's index in it), the same on every
//     retry and every redelivery after a restart;
//   - retried with jittered exponential backoff until 2xx, up to
//     Config.MaxAttempts, then dead-lettered (Kafka topic Config.DLQTopic,
//     the reason in a header) so one endpoint failure cannot stall a
//     partition forever;
//   - in order per room: a partition's frames are handled one after the
//     other, and the frame's offset is committed only after its events
//     were delivered or dead-lettered (at least once: a restart re-sends
//     what was not committed, with the same keys).
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// Kinds of webhook events.
const (
	KindPollClosed   = "poll.closed"
	KindQuizRevealed = "quiz.revealed"
	KindModeration   = "moderation"
	KindRoomSummary  = "room.summary"
)

// AllKinds lists every kind, in documentation order.
var AllKinds = []string{KindPollClosed, KindQuizRevealed, KindModeration, KindRoomSummary}

// Headers of a delivery.
const (
	HeaderSignature = "Ovation-Signature"
	HeaderKey       = "Ovation-Webhook-Key"
	HeaderKind      = "Ovation-Webhook-Kind"
	HeaderAttempt   = "Ovation-Webhook-Attempt"
)

// Config configures a Deliverer.
type Config struct {
	Brokers []string
	// Topics: Frames is read; DLQTopic receives what could not be
	// delivered (default "ovation.webhooks-dlq").
	Topics   schemas.Topics
	DLQTopic string
	// Group is the consumer group; default "ovation-webhooks".
	Group string
	// Endpoint is the URL events are posted to; Secret signs them.
	Endpoint string
	Secret   []byte
	// Kinds are the kinds delivered; default all.
	Kinds []string
	// StateURL is a pusher's base URL (http://push:8080) for room state;
	// StateToken, if set, is sent as its bearer token (subscribe in every
	// room).
	StateURL   string
	StateToken string
	// SummaryEvery is the room.summary period for rooms that changed;
	// default 60 s.
	SummaryEvery time.Duration
	// MaxAttempts bounds the tries of one event before it is
	// dead-lettered; default 20. BackoffMin/Max bound the wait between
	// tries; defaults 200 ms and 5 s. Timeout bounds one try; default 10 s.
	MaxAttempts            int
	BackoffMin, BackoffMax time.Duration
	Timeout                time.Duration
	// Client posts the events; default a client with Timeout.
	Client     *http.Client
	KafkaOpts  []kgo.Opt
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) defaults() error {
	c.Topics = c.Topics.WithDefaults()
	if c.DLQTopic == "" {
		c.DLQTopic = "ovation.webhooks-dlq"
	}
	if c.Group == "" {
		c.Group = "ovation-webhooks"
	}
	if len(c.Kinds) == 0 {
		c.Kinds = AllKinds
	}
	for _, k := range c.Kinds {
		if !slices.Contains(AllKinds, k) {
			return fmt.Errorf("webhooks: unknown kind %q (known: %s)", k, strings.Join(AllKinds, ", "))
		}
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhooks: endpoint %q is not an http(s) URL", c.Endpoint)
	}
	if len(c.Secret) < 16 {
		return errors.New("webhooks: the signing secret must be at least 16 bytes")
	}
	if c.StateURL == "" && (slices.Contains(c.Kinds, KindPollClosed) || slices.Contains(c.Kinds, KindQuizRevealed) || slices.Contains(c.Kinds, KindRoomSummary)) {
		return errors.New("webhooks: a state URL (a pusher) is needed for poll.closed, quiz.revealed and room.summary")
	}
	if len(c.Brokers) == 0 {
		return errors.New("webhooks: no Kafka brokers")
	}
	if c.SummaryEvery <= 0 {
		c.SummaryEvery = time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 20
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 200 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// Event is one delivery's body.
type Event struct {
	Kind  string `json:"kind"`
	Key   string `json:"key"`
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	TS    int64  `json:"ts"`
	// Kind-specific parts.
	PollID      string                `json:"poll_id,omitempty"`
	Poll        *schemas.Poll         `json:"poll,omitempty"`
	QuizID      string                `json:"quiz_id,omitempty"`
	Quiz        *schemas.Quiz         `json:"quiz,omitempty"`
	Leaderboard []schemas.LeaderEntry `json:"leaderboard,omitempty"`
	Moderation  *Moderation           `json:"moderation,omitempty"`
	Totals      *schemas.Totals       `json:"totals,omitempty"`
	Viewers     *int64                `json:"viewers,omitempty"`
	Reactions   map[string]int64      `json:"reactions,omitempty"`
}

// Moderation is what a frame's moderation changed.
type Moderation struct {
	ChatDeleted      []string          `json:"chat_deleted,omitempty"`
	ReactionsRemoved []string          `json:"reactions_removed,omitempty"`
	QuestionsRemoved []string          `json:"questions_removed,omitempty"`
	Mod              *schemas.ModDelta `json:"mod,omitempty"`
	Closed           bool              `json:"closed,omitempty"`
}

type metrics struct {
	delivered *prometheus.CounterVec
	attempts  *prometheus.CounterVec
	dead      *prometheus.CounterVec
	latency   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	ns := "ovation_webhooks_"
	m := &metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "delivered_total", Help: "Webhook events the endpoint accepted (2xx), by kind."}, []string{"kind"}),
		attempts:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "attempts_total", Help: "Webhook posts, by result (ok, error: a non-2xx answer, unreachable: no answer)."}, []string{"result"}),
		dead:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "dead_lettered_total", Help: "Webhook events given up after the last attempt and written to the dead-letter topic, by kind."}, []string{"kind"}),
		latency:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "delivery_seconds", Help: "Time from a frame's commit to its event's acceptance by the endpoint, retries included.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
	}
	for _, k := range AllKinds {
		m.delivered.WithLabelValues(k)
		m.dead.WithLabelValues(k)
	}
	for _, r := range []string{"ok", "error", "unreachable"} {
		m.attempts.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.delivered, m.attempts, m.dead, m.latency)
	}
	return m
}

// Deliverer is the webhooks role.
type Deliverer struct {
	cfg Config
	m   *metrics
	cl  *kgo.Client

	mu      sync.Mutex
	changed map[string]bool // rooms with frames since their last summary
}

// New validates cfg and returns a Deliverer; Run starts it.
func New(cfg Config) (*Deliverer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Deliverer{cfg: cfg, m: newMetrics(cfg.Registerer), changed: map[string]bool{}}, nil
}

func (d *Deliverer) wants(kind string) bool { return slices.Contains(d.cfg.Kinds, kind) }

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) error {
	cfg := &d.cfg
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics.Frames),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			cl.CommitMarkedOffsets(ctx)
		}),
		kgo.DefaultProduceTopic(cfg.DLQTopic),
	}, cfg.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("webhooks: kafka client: %w", err)
	}
	d.cl = cl
	defer cl.Close()
	d.ensureDLQ(ctx)
	cfg.Log.Info("webhooks delivering", "endpoint", redact(cfg.Endpoint), "kinds", cfg.Kinds, "group", cfg.Group)
	var wg sync.WaitGroup
	if d.wants(KindRoomSummary) {
		wg.Add(1)
		go func() { defer wg.Done(); d.summaries(ctx) }()
	}
	defer wg.Wait()
	for {
		fs := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil || fs.IsClientClosed() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cl.CommitMarkedOffsets(cctx)
			cancel()
			cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				cfg.Log.Warn("kafka fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		// Partitions in parallel, each in order: rooms of different
		// partitions do not wait for each other.
		var pw sync.WaitGroup
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			pw.Add(1)
			go func() {
				defer pw.Done()
				for _, r := range p.Records {
					if ctx.Err() != nil {
						return
					}
					d.frame(ctx, r)
					cl.MarkCommitRecords(r)
				}
			}()
		})
		pw.Wait()
		cl.AllowRebalance()
	}
}

// ensureDLQ creates the dead-letter topic when it is missing, so a
// deployment that never ran a hand-made create still keeps what could not
// be delivered. Refusals (no ACL to create topics) are logged, not fatal:
// the topic may be managed elsewhere.
func (d *Deliverer) ensureDLQ(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	maxBytes := strconv.Itoa(schemas.TopicMaxMessageBytes)
	policy := "delete"
	resp, err := kadm.NewClient(d.cl).CreateTopic(cctx, 1, -1,
		map[string]*string{"cleanup.policy": &policy, "max.message.bytes": &maxBytes}, d.cfg.DLQTopic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		d.cfg.Log.Info("created the webhooks dead-letter topic", "topic", d.cfg.DLQTopic)
	case errors.Is(err, kerr.TopicAlreadyExists):
	default:
		d.cfg.Log.Warn("could not create the webhooks dead-letter topic; create it before deliveries fail for good", "topic", d.cfg.DLQTopic, "err", err)
	}
}

// frame delivers the events of one frame record, in order.
func (d *Deliverer) frame(ctx context.Context, r *kgo.Record) {
	f, err := schemas.UnmarshalFrame(r.Value)
	if err != nil {
		return // not a frame any consumer reads
	}
	d.mu.Lock()
	d.changed[f.Room] = true
	d.mu.Unlock()
	evs := d.eventsOf(&f)
	for i, ev := range evs {
		ev.Key = fmt.Sprintf("%s/%s/%d/%d", f.Room, f.Epoch, f.Seq, i)
		d.deliver(ctx, ev, r.Timestamp)
	}
}

// eventsOf finds the wanted events in a frame's delta (results are
// filled in when delivered).
func (d *Deliverer) eventsOf(f *schemas.Frame) []*Event {
	var out []*Event
	base := func(kind string) *Event {
		return &Event{Kind: kind, Room: f.Room, Epoch: f.Epoch, Seq: f.Seq, TS: f.TS}
	}
	dl := &f.Delta
	if d.wants(KindPollClosed) {
		for _, id := range sortedKeys(dl.Polls) {
			if dl.Polls[id].Closed {
				e := base(KindPollClosed)
				e.PollID = id
				out = append(out, e)
			}
		}
	}
	if d.wants(KindQuizRevealed) {
		for _, id := range sortedKeys(dl.Quizzes) {
			if dl.Quizzes[id].Revealed {
				e := base(KindQuizRevealed)
				e.QuizID = id
				out = append(out, e)
			}
		}
	}
	if d.wants(KindModeration) {
		m := &Moderation{ReactionsRemoved: dl.ReactionsRemoved, QuestionsRemoved: dl.QuestionsRemoved, Mod: dl.Mod, Closed: dl.Closed}
		// Lines a frame with new lines drops were pushed out of the
		// history; a delete always starts a frame of its own.
		if len(dl.Chat) == 0 {
			m.ChatDeleted = dl.ChatDeleted
		}
		if len(m.ChatDeleted)+len(m.ReactionsRemoved)+len(m.QuestionsRemoved) > 0 || m.Mod != nil || m.Closed {
			e := base(KindModeration)
			e.Moderation = m
			out = append(out, e)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// roomState reads a room's state from a pusher.
func (d *Deliverer) roomState(ctx context.Context, room string) (epoch string, seq uint64, st *schemas.RoomState, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(d.cfg.StateURL, "/")+"/v1/rooms/"+url.PathEscape(room)+"/state", nil)
	if err != nil {
		return "", 0, nil, err
	}
	if d.cfg.StateToken != "" {
		req.Header.Set("Authorization", "Bearer "+d.cfg.StateToken)
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return "", 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", 0, nil, fmt.Errorf("room state: HTTP %d", resp.StatusCode)
	}
	var s struct {
		Epoch string             `json:"epoch"`
		Seq   uint64             `json:"seq"`
		State *schemas.RoomState `json:"state"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&s); err != nil || s.State == nil {
		return "", 0, nil, fmt.Errorf("room state: %v", err)
	}
	return s.Epoch, s.Seq, s.State, nil
}

// fill adds results to ev from a state at or after its frame. A state
// behind the frame (a pusher not caught up yet) is an error: try again.
func (d *Deliverer) fill(ctx context.Context, ev *Event) error {
	if ev.Kind != KindPollClosed && ev.Kind != KindQuizRevealed {
		return nil
	}
	epoch, seq, st, err := d.roomState(ctx, ev.Room)
	if err != nil {
		return err
	}
	if epoch == ev.Epoch && seq < ev.Seq {
		return fmt.Errorf("room state at seq %d, the event is at %d", seq, ev.Seq)
	}
	switch ev.Kind {
	case KindPollClosed:
		ev.Poll = st.Polls[ev.PollID]
	case KindQuizRevealed:
		ev.Quiz = st.Quizzes[ev.QuizID]
		ev.Leaderboard = st.Leaderboard
	}
	return nil
}

// deliver posts ev until the endpoint accepts it, or dead-letters it
// after MaxAttempts.
func (d *Deliverer) deliver(ctx context.Context, ev *Event, committed time.Time) {
	cfg := &d.cfg
	backoff := cfg.BackoffMin
	var last error
	for attempt := 1; attempt <= cfg.MaxAttempts; attempt++ {
		if ctx.Err() != nil {
			return
		}
		last = d.fill(ctx, ev)
		if last == nil {
			last = d.post(ctx, ev, attempt)
		}
		if last == nil {
			d.m.delivered.WithLabelValues(ev.Kind).Inc()
			if !committed.IsZero() {
				d.m.latency.Observe(time.Since(committed).Seconds())
			}
			return
		}
		if attempt == cfg.MaxAttempts {
			break
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, cfg.BackoffMax)
	}
	d.m.dead.WithLabelValues(ev.Kind).Inc()
	cfg.Log.Warn("webhook event dead-lettered", "kind", ev.Kind, "key", ev.Key, "attempts", cfg.MaxAttempts, "err", last)
	body, _ := json.Marshal(ev)
	rec := &kgo.Record{Key: []byte(ev.Room), Value: body, Headers: []kgo.RecordHeader{
		{Key: schemas.HeaderDLQReason, Value: []byte(truncate(fmt.Sprint(last), 1024))},
		{Key: HeaderKey, Value: []byte(ev.Key)},
	}}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.cl.ProduceSync(pctx, rec).FirstErr(); err != nil {
		cfg.Log.Error("webhook dead letter not written", "key", ev.Key, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Sign returns the Ovation-Signature value of body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks an Ovation-Signature header against body: the receiver's
// side, with a bound on the signature's age.
func Verify(secret []byte, header string, body []byte, maxAge time.Duration, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("webhooks: malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return errors.New("webhooks: signature too old or from the future")
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return errors.New("webhooks: bad signature")
	}
	return nil
}

func (d *Deliverer) post(ctx context.Context, ev *Event, attempt int) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", d.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderSignature, Sign(d.cfg.Secret, time.Now(), body))
	req.Header.Set(HeaderKey, ev.Key)
	req.Header.Set(HeaderKind, ev.Kind)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		d.m.attempts.WithLabelValues("unreachable").Inc()
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		d.m.attempts.WithLabelValues("error").Inc()
		return fmt.Errorf("endpoint answered HTTP %d", resp.StatusCode)
	}
	d.m.attempts.WithLabelValues("ok").Inc()
	return nil
}

// summaries posts room.summary for every room that changed, every
// SummaryEvery, keyed by the state's position (room/epoch/seq/summary).
func (d *Deliverer) summaries(ctx context.Context) {
	t := time.NewTicker(d.cfg.SummaryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		rooms := sortedKeys(d.changed)
		d.changed = map[string]bool{}
		d.mu.Unlock()
		for _, room := range rooms {
			epoch, seq, st, err := d.roomState(ctx, room)
			if err != nil {
				d.cfg.Log.Warn("room summary skipped: state not readable", "room", room, "err", err)
				continue
			}
			ev := &Event{Kind: KindRoomSummary, Key: fmt.Sprintf("%s/%s/%d/summary", room, epoch, seq), Room: room, Epoch: epoch, Seq: seq,
				TS: time.Now().UnixMilli(), Totals: &st.Totals, Viewers: &st.Viewers, Reactions: st.Reactions}
			d.deliver(ctx, ev, time.Time{})
		}
	}
}

// redact drops a URL's user info and query (they may hold credentials).
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
