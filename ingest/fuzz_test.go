package ingest

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// FuzzPrepare feeds arbitrary bytes to the client-event decoder. Whatever
// comes in, it must not panic; a refusal must carry a documented code; an
// acceptance must be a complete event every consumer accepts, in the path's
// room, by the token's user, never larger than the limit.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		`{"type":"chat.message","data":{"text":"hi"}}`,
		`{"id":"x-1","v":1,"type":"poll.vote","data":{"poll_id":"p","option":3}}`,
		`{"type":"reaction","data":{"emoji":"🔥"},"user":"eve"}`,
		`{"type":"reaction","data":{"emoji":"🔥"},"room":"show-1"}`,
		`{"type":"quiz.ask","data":{"quiz_id":"q","question":"?","options":["a","b"],"correct":1}}`,
		"{\"type\":\"chat.message\",\"data\":{\"text\":\"\xff\"}}",
		`[1,2]`, `null`, `{"type":"presence","data":{"node":"n","viewers":1}}`,
	} {
		f.Add([]byte(s))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled: prepare does not produce
	if err != nil {
		f.Fatal(err)
	}
	defer cl.Close()
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{MaxEventBytes: 2048}, cl, v, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "zoë \"q\""}, Rooms: map[string][]schemas.Capability{"show-1": {schemas.CapHost}}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, zeroCopy := range []bool{false, true} {
			req := s.newRequest(claims, "show-1")
			if zeroCopy {
				req.parseFlags |= json.DontCopyString // as HTTP does
			}
			it := &item{}
			s.prepare(req, it, slices.Clone(raw))
			if it.err != nil {
				if !slices.Contains(Codes, it.err.Code) || it.err.Status < 400 || it.rec != nil {
					t.Fatalf("refusal %+v with record %v", it.err, it.rec != nil)
				}
				continue
			}
			if len(it.rec.Value) > 2048 {
				t.Fatalf("accepted %d bytes over the 2048 limit", len(it.rec.Value))
			}
			ev, err := schemas.ParseEvent(it.rec.Value)
			if err != nil {
				t.Fatalf("accepted an event consumers refuse: %v\n%s", err, it.rec.Value)
			}
			if ev.Room != "show-1" || ev.User != claims.User() || ev.ID != it.id || string(it.rec.Key) != "show-1" {
				t.Fatalf("accepted %+v (id %q, key %q)", ev, it.id, it.rec.Key)
			}
			if ev.Type == schemas.Presence {
				t.Fatal("accepted presence from a client")
			}
		}
	})
}
