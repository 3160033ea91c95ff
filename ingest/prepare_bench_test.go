package ingest

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// BenchmarkPrepareBatch measures the CPU ingest spends on a batch of 100
// events between reading the body and handing records to the producer:
// the structure pre-check and batch split (one pass), decoding, validation
// (duplicate keys included) and encoding the records. It isolates the
// part of the publish path the edge checks add to, which the end-to-end
// BenchmarkHTTPVsBareProducer cannot resolve on a shared machine.
func BenchmarkPrepareBatch(b *testing.B) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{UserRate: -1, ClientRate: -1}, cl, v, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bench-user"}, Rooms: map[string][]schemas.Capability{"bench": {schemas.CapHost}}}
	kinds := []string{
		evt("chat.message", `{"text":"hello there, this is a chat line of typical length","name":"Zoë"}`),
		evt("reaction", `{"emoji":"🔥"}`),
		evt("poll.vote", `{"poll_id":"poll-1","option":2}`),
		evt("qa.upvote", `{"question_id":"q-123"}`),
	}
	var evs []string
	for i := 0; i < 100; i++ {
		evs = append(evs, kinds[i%len(kinds)])
	}
	body := []byte("[" + strings.Join(evs, ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	// CPU per event too (this process's user+system, GC included): on a
	// shared machine it moves far less with other load than time does.
	cpu0 := processCPU()
	for b.Loop() {
		raws, _, err := schemas.SplitBatch(body, s.shape, s.cfg.MaxBatchEvents, make([]schemas.BatchEvent, 0, 128))
		if err != nil {
			b.Fatal(err)
		}
		req := s.newRequest(claims, "bench")
		req.parseFlags |= json.DontCopyString
		req.n = len(raws)
		req.arena = make([]byte, 0, len(body)+len(raws)*(96+len(req.key)+len(req.user)+36))
		store := make([]item, len(raws))
		for i, raw := range raws {
			store[i].keysUnique = !raw.RepeatedKey
			s.prepare(req, &store[i], raw.Text)
			if store[i].err != nil {
				b.Fatal(store[i].err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
	b.ReportMetric((processCPU()-cpu0)*1e9/float64(b.N*100), "cpu-ns/event")
}
