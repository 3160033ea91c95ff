package ingest

import (
	"bytes"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// envelopeSeeds are events at the edges of the fast envelope decoder:
// what it takes, and what it must leave to the codec.
var envelopeSeeds = []string{
	`{"type":"chat.message","data":{"text":"hi"}}`,
	`{"id":"x-1","v":1,"type":"poll.vote","data":{"poll_id":"p","option":3}}`,
	` { "v" : 1 , "type" : "reaction" , "data" : { "emoji" : "🔥" } , "room" : "show-1" } `,
	`{"type":"reaction","data":{"emoji":"🔥"},"room":"show-2"}`,
	`{"type":"reaction","data":{"emoji":"🔥"},"user":"eve"}`,
	`{"type":"reaction","data":{"emoji":"🔥"},"ts":1}`,
	`{"type":"chat.message","data":{"text":"a\"b"}}`,
	`{"type":"chat.message","data":{"text":"hi"},"v":2}`,
	`{"type":"chat.message","data":{"text":"hi"},"v":1.0}`,
	`{"type":"chat.message","data":{"text":"hi"},"v":-0}`,
	`{"type":"chat.message","data":{"text":"hi"},"v":null}`,
	`{"type":"chat.message","data":{"text":"hi"},"id":null}`,
	`{"type":"chat.message","data":null}`,
	`{"type":"chat.message","data":"x"}`,
	`{"type":"chat.message","data":[1]}`,
	`{"type":"chat.message","Data":{"text":"hi"}}`,
	`{"type":"chat.message","data":{"text":"hi"},"extra":1}`,
	`{"type":"chat.message","data":{"text":"hi"},"type":"reaction"}`,
	`{"type":"chat.message","data":{"text":"hi","text":"ho"}}`,
	`{"type":"poll.open","data":{"poll_id":"p","question":"q?","options":["a","b"]}}`,
	`{"type":"quiz.ask","data":{"quiz_id":"q","question":"?","options":["a","b"],"correct":1}}`,
	`{"type":"presence","data":{"node":"n","viewers":1}}`,
	`{"type":"chat.message","id":"bad id","data":{"text":"hi"}}`,
	`{"type":5,"data":{"text":"hi"}}`,
	`{"id":"","type":"qa.upvote","data":{"question_id":"q-1"}}`,
	`{"type":"chat.message","data":{"text":""}}`, `{}`, `[]`, `null`, `"x"`, `1`,
}

// FuzzFastEnvelope is the differential test of the fast envelope decoder
// (decodeEnvelope) and, through prepare, of the fast body decoder: on
// every input that passes the structure check (as every event does
// before prepare), when decodeEnvelope takes an event the codec decodes
// it with no error to the same fields; and prepare with the fast paths
// gives exactly what prepare with the codec alone gives: the same refusal
// (status, code, field, message) or the same id and record bytes.
func FuzzFastEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	fast, ref := fuzzService(f), fuzzService(f)
	ref.reflectDecode = true
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "zoë \"q\""}, Rooms: map[string][]schemas.Capability{"show-1": {schemas.CapHost}}}
	rnd := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, 200)
	f.Fuzz(func(t *testing.T, raw []byte) {
		events, n, err := schemas.SplitBatch(raw, fast.shape, 1, nil)
		if err != nil || n != 1 || !utf8.Valid(raw) {
			return // refused before any decoder runs
		}
		for _, borrow := range []bool{false, true} {
			var a clientEvent
			if decodeEnvelope(raw, &a, borrow, &schemas.Bodies{Hint: 1}) {
				var b clientEvent
				flags := strictJSON | json.DontCopyRawMessage
				rest, err := json.Parse(raw, &b, flags)
				if err != nil || len(trimSpace(rest)) != 0 {
					t.Fatalf("%q: the fast path took what the codec refuses: %v (rest %q)", raw, err, rest)
				}
				if !sameClientEvent(&a, &b) {
					t.Fatalf("%q: fast %+v, codec %+v", raw, a, b)
				}
			}
			var got [2]*item
			for k, s := range []*Service{fast, ref} {
				req := s.newRequest(claims, "show-1")
				if borrow {
					req.parseFlags |= json.DontCopyString
				}
				req.rnd = slices.Clone(rnd)
				it := &item{keysUnique: !events[0].RepeatedKey}
				s.prepare(req, it, slices.Clone(raw))
				got[k] = it
			}
			x, y := got[0], got[1]
			if !reflect.DeepEqual(x.err, y.err) || x.id != y.id || x.typ != y.typ || (x.rec == nil) != (y.rec == nil) {
				t.Fatalf("%q:\nfast:  %+v %q %+v\ncodec: %+v %q %+v", raw, x.err, x.id, x.rec, y.err, y.id, y.rec)
			}
			if x.rec != nil && !bytes.Equal(x.rec.Value, y.rec.Value) {
				t.Fatalf("%q: records differ:\n%s\n%s", raw, x.rec.Value, y.rec.Value)
			}
		}
	})
}

func sameClientEvent(a, b *clientEvent) bool {
	eqInt := func(x, y *int) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	eqStr := func(x, y *string) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return eqInt(a.V, b.V) && a.ID == b.ID && a.Type == b.Type && bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil) &&
		eqStr(a.Room, b.Room) && a.User == nil && b.User == nil && a.TS == nil && b.TS == nil
}

func fuzzService(f *testing.F) *Service {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled: prepare does not produce
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(cl.Close)
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{MaxEventBytes: 2048}, cl, v, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	at := time.UnixMilli(1767225600123)
	s.now = func() time.Time { return at }
	return s
}

// TestFastEnvelopeTaken checks that the fast envelope path is taken for the
// common events (a fast path that always gave up would pass the
// differential test and win nothing) and left for the others.
func TestFastEnvelopeTaken(t *testing.T) {
	for _, c := range []struct {
		raw  string
		fast bool
	}{
		{`{"type":"chat.message","data":{"text":"hi","name":"Zoë"}}`, true},
		{`{"id":"x-1","v":1,"type":"poll.vote","data":{"poll_id":"p","option":3},"room":"r"}`, true},
		{`{"type":"chat.message","data":{"text":"a\nb"}}`, false},
		{`{"type":"chat.message","data":{"text":"hi"},"user":"u"}`, false},
		{`{"type":"chat.message","data":null}`, false},
		{`{"type":"chat.message","data":{"text":"hi"},"v":null}`, false},
	} {
		var ce clientEvent
		if got := decodeEnvelope([]byte(c.raw), &ce, true, nil); got != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.raw, got, c.fast)
		}
	}
}
