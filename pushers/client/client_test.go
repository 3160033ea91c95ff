package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/pushers"
	"github.com/ovation-live/ovation/pushers/client"
	"github.com/ovation-live/ovation/schemas"
)

var secret = []byte("client-test-secret-0123456789abcdef")

// kafka returns real Kafka topics when OVATION_KAFKA_BROKERS is set, else
// an in-process kfake cluster.
func kafka(t *testing.T) ([]string, schemas.Topics) {
	if kafkatest.FaultEnabled() || strings.TrimSpace(kafkaEnv()) != "" {
		b := kafkatest.Brokers(t)
		return b, schemas.Topics{Events: kafkatest.Topic(t, b, 2), Frames: kafkatest.Topic(t, b, 2),
			Snapshots: kafkatest.Topic(t, b, 2, "cleanup.policy=compact")}.WithDefaults()
	}
	tp := schemas.Topics{}.WithDefaults()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, tp.Events, tp.Frames, tp.Snapshots))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs(), tp
}

func kafkaEnv() string {
	return strings.Join(strings.Fields(strings.TrimSpace(getenv(kafkatest.EnvBrokers))), "")
}

// proc is a stand-in processor: it writes frames (and a snapshot every
// 7th) for one room and keeps the fold the client must reach.
type proc struct {
	t   *testing.T
	cl  *kgo.Client
	tp  schemas.Topics
	mu  sync.Mutex
	seq uint64
	st  schemas.RoomState
}

func (p *proc) frame(d *schemas.Delta) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.st.Apply(d)
	now := time.Now().UnixMilli()
	f := schemas.Frame{Room: "r1", Epoch: "e1", Seq: p.seq, TS: now, Delta: *d}
	fb, _ := schemas.MarshalFrame(&f)
	recs := []*kgo.Record{{Topic: p.tp.Frames, Key: []byte("r1"), Value: fb}}
	if p.seq%7 == 0 {
		sb, _ := schemas.MarshalSnapshot(&schemas.Snapshot{Room: "r1", Epoch: "e1", Seq: p.seq, TS: now, State: p.st.Clone()})
		recs = append(recs, &kgo.Record{Topic: p.tp.Snapshots, Key: []byte("r1"), Value: sb})
	}
	if err := p.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		p.t.Error(err)
	}
}

func (p *proc) fold() (uint64, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(p.st)
	return p.seq, string(b)
}

type pusher struct {
	srv    *pushers.Server
	hs     *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startPusher(t *testing.T, node string, brokers []string, tp schemas.Topics, publish pushers.PublishFunc) *pusher {
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": secret}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pushers.New(pushers.Config{Node: node, Topics: tp, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Verifier: v,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Publish: publish})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/stream", srv)
	p := &pusher{srv: srv, hs: httptest.NewServer(mux), done: make(chan struct{})}
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(context.Background())
	go func() { defer close(p.done); srv.Run(ctx) }()
	t.Cleanup(p.stop)
	for !srv.Ready() {
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func (p *pusher) url() string { return "ws" + strings.TrimPrefix(p.hs.URL, "http") + "/v1/stream" }

func (p *pusher) stop() {
	p.cancel()
	<-p.done
	p.srv.Close()
	p.hs.Close()
}

// TestClientAgainstPushers: the client subscribes through a real pusher,
// folds snapshot and frames to exactly the processor's state, publishes
// through failures with one id per event, and when its pusher dies it
// reconnects to the other and resumes to the exact state again.
func TestClientAgainstPushers(t *testing.T) {
	brokers, tp := kafka(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := &proc{t: t, cl: cl, tp: tp, st: schemas.NewRoomState()}

	// The publish path fails each event's first two tries; the third
	// lands in the room as a reaction.
	var mu sync.Mutex
	tries := map[string]int{}
	publish := func(_ context.Context, claims *auth.Claims, room string, event []byte) (string, error) {
		var ev struct {
			ID   string `json:"id"`
			Data struct {
				Emoji string `json:"emoji"`
			} `json:"data"`
		}
		json.Unmarshal(event, &ev)
		mu.Lock()
		tries[ev.ID]++
		n := tries[ev.ID]
		mu.Unlock()
		if n <= 2 {
			return "", errors.New("kafka did not answer")
		}
		if n == 3 {
			p.frame(&schemas.Delta{Reactions: map[string]int64{ev.Data.Emoji: 1}, Totals: &schemas.Totals{Reactions: 1}})
		}
		return ev.ID, nil
	}
	a := startPusher(t, "a", brokers, tp, publish)
	b := startPusher(t, "b", brokers, tp, publish)

	for i := range 10 {
		p.frame(&schemas.Delta{Reactions: map[string]int64{"👏": int64(i + 1)}, Totals: &schemas.Totals{Reactions: int64(i + 1)}})
	}
	tok, err := auth.Sign(secret, "", &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bot", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Rooms: map[string][]schemas.Capability{"r1": {schemas.CapPublish}}})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	var nmu sync.Mutex
	c := client.New(client.Config{URLs: []string{a.url(), b.url()}, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Token:     func(context.Context) (string, error) { return tok, nil },
		OnConnect: func(node string) { nmu.Lock(); nodes = append(nodes, node); nmu.Unlock() }})
	if err := c.Subscribe("r1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()

	exact := func(what string) {
		t.Helper()
		seq, want := p.fold()
		err := c.Wait(ctx, "r1", func(_ string, s uint64, st *schemas.RoomState) bool { return s == seq })
		if err != nil {
			t.Fatalf("%s: client did not reach seq %d: %v", what, seq, err)
		}
		_, got, st, _ := c.State("r1")
		b, _ := json.Marshal(st)
		if got != seq || string(b) != want {
			t.Fatalf("%s: client at %d %s, processor at %d %s", what, got, b, seq, want)
		}
	}
	exact("subscribe")

	// Publishes: each retried with its one id until acked.
	for i, e := range []string{"🔥", "😂", "🔥"} {
		id, err := c.Publish(ctx, "r1", "reaction", map[string]string{"emoji": e})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		mu.Lock()
		n := tries[id]
		mu.Unlock()
		if n != 3 {
			t.Fatalf("publish %d: id %s tried %d times, want 3 (2 failures, then the ack)", i, id, n)
		}
	}
	mu.Lock()
	if len(tries) != 3 {
		t.Fatalf("%d distinct ids for 3 events: %v", len(tries), tries)
	}
	mu.Unlock()
	exact("publish")
	// A refusal retrying cannot fix comes back at once as *client.Error.
	if _, err := c.Publish(ctx, "r1", "reaction", map[string]string{"emoji": "👏"}, client.WithID("bad id!")); err == nil {
		t.Fatal("a bad id was accepted")
	}

	// The pusher dies while frames keep coming: the client moves to the
	// other and resumes.
	if c.Node() != "a" {
		t.Fatalf("connected to %q, want a", c.Node())
	}
	a.stop()
	for i := range 15 {
		p.frame(&schemas.Delta{Reactions: map[string]int64{"😂": 1}, Totals: &schemas.Totals{Reactions: 1}})
		if i == 7 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	exact("after the pusher died")
	if c.Node() != "b" {
		t.Fatalf("after a died: connected to %q", c.Node())
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	nmu.Lock()
	defer nmu.Unlock()
	t.Logf("connections: %v; state exact at every step", nodes)
}

// TestClientFatalClose: a token the pusher refuses (4001) ends Run with
// an error naming it, instead of reconnecting forever.
func TestClientFatalClose(t *testing.T) {
	brokers, tp := kafka(t)
	a := startPusher(t, "a", brokers, tp, nil)
	c := client.New(client.Config{URLs: []string{a.url()}, Token: func(context.Context) (string, error) { return "not-a-token", nil }})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "4001") {
		t.Fatalf("Run: %v", err)
	}
	if _, err := c.Publish(ctx, "r1", "reaction", map[string]string{"emoji": "👏"}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("publish after a fatal close: %v", err)
	}
}

func getenv(k string) string { return os.Getenv(k) }
