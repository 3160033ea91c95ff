package ingest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// TestLimiterBoundedAndPerKey: buckets are per key, an empty bucket says
// when to come back, and a flood of distinct keys never holds more than
// the configured number of buckets.
func TestLimiterBoundedAndPerKey(t *testing.T) {
	l := newKeyedLimiter(2, 3, 160) // 2/s, burst 3, 10 keys per shard
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait != 1 {
		t.Fatalf("4th event: ok=%v wait=%d, want refused with 1 s", ok, wait)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another key shares a's bucket")
	}
	if ok, _ := l.allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("a token should be back after 0.5 s at 2/s")
	}
	for i := 0; i < 100_000; i++ {
		l.allow(fmt.Sprintf("k%d", i), now)
	}
	keys, evicted := l.size()
	if keys > 160 || keys < 150 || evicted < 100_000-160 {
		t.Fatalf("after 100k keys: %d buckets, %d evicted; want ≤ 160 buckets", keys, evicted)
	}
	if newKeyedLimiter(-1, 0, 100) != nil {
		t.Fatal("a negative rate must mean no limiter")
	}
	var off *keyedLimiter
	if ok, _ := off.allow("x", now); !ok {
		t.Fatal("no limiter must allow")
	}
	if got := retryAfter(0.5, 0.01); got != 50 {
		t.Fatalf("retryAfter(0.5 tokens, 0.01/s) = %d, want 50", got)
	}
}

// TestClientAddressLimit: two users behind one address share the
// address's bucket over HTTP.
func TestClientAddressLimit(t *testing.T) {
	const topic = "ovation.events"
	c := newFake(t, 1, topic)
	r := newRig(t, c.ListenAddrs(), topic, Config{ClientRate: 0.01, ClientBurst: 2})
	hc := r.srv.Client()
	for i, user := range []string{"u1", "u2"} {
		rep := post(t, hc, r.url("show-1"), pubToken(t, user, "show-1"), []byte(evt("reaction", `{"emoji":"👍"}`)))
		if rep.status != 200 {
			t.Fatalf("event %d: %d %s", i, rep.status, rep.raw)
		}
	}
	rep := post(t, hc, r.url("show-1"), pubToken(t, "u3", "show-1"), []byte(evt("reaction", `{"emoji":"👍"}`)))
	if rep.status != 429 || rep.code() != CodeRateLimited || rep.retryAfter == "" {
		t.Fatalf("third user from the same address: %d %s", rep.status, rep.raw)
	}
	// The WebSocket path has no address: the pushers limit per connection.
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "u4"}, Rooms: map[string][]schemas.Capability{"*": {schemas.CapPublish}}}
	if _, err := r.svc.Publish(t.Context(), claims, "show-1", []byte(evt("reaction", `{"emoji":"👍"}`))); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// TestKeyRotationAndAsymmetricTokens: ingest accepts HS256 and ES256 tokens
// by key id, and refuses a token whose key was rotated out.
func TestKeyRotationAndAsymmetricTokens(t *testing.T) {
	const topic = "ovation.events"
	c := newFake(t, 1, topic)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	newSecret := []byte("the-new-secret-the-new-secret-0123")
	v, err := auth.NewVerifier(auth.Config{
		HMACSecrets: map[string][]byte{"2026-11": newSecret},
		PublicKeys:  map[string]crypto.PublicKey{"es-1": &ec.PublicKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, Config{Topic: topic}.ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	svc, err := New(Config{Topic: topic}, cl, v, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Rooms: map[string][]schemas.Capability{"show-*": {schemas.CapPublish}}}
	hs, _ := auth.Sign(newSecret, "2026-11", claims)
	old, _ := auth.Sign(testSecret, "2026-10", claims) // rotated out
	es := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	es.Header["kid"] = "es-1"
	esTok, err := es.SignedString(ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tok string
		status    int
	}{{"HS256 current kid", hs, 200}, {"ES256", esTok, 200}, {"rotated-out kid", old, 401}} {
		rep := post(t, srv.Client(), srv.URL+"/v1/rooms/show-7/events", tc.tok, []byte(evt("reaction", `{"emoji":"👍"}`)))
		if rep.status != tc.status {
			t.Errorf("%s: %d %s", tc.name, rep.status, rep.raw)
		}
	}
}

// TestConfigValidate: the zero Config is valid, and values that cannot work
// are refused with ErrInvalidConfig.
func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	for _, c := range []Config{
		{MaxEventBytes: schemas.MaxEventBytes + 1},
		{MaxRequestBytes: 100},
		{LimiterKeys: 3},
		{ProduceTimeout: time.Millisecond},
		{MaxBufferedBytes: 100},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
