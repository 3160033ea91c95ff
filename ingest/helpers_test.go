package ingest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-ingest-test")

// rig is one Service on its own topic behind an httptest server.
type rig struct {
	t       testing.TB
	brokers []string
	topic   string
	svc     *Service
	srv     *httptest.Server
	reg     *prometheus.Registry
	cl      *kgo.Client
}

// newFake starts a kfake cluster with one topic of partitions partitions.
func newFake(t testing.TB, partitions int32, topic string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newRig(t testing.TB, brokers []string, topic string, cfg Config, extra ...kgo.Opt) *rig {
	t.Helper()
	cfg.Topic = topic
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret, "k2": []byte("another-secret-another-secret-0123")}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, cfg.ProducerOpts()...)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := New(cfg, cl, v, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); cl.Close() })
	return &rig{t: t, brokers: brokers, topic: topic, svc: svc, srv: srv, reg: reg, cl: cl}
}

func token(t testing.TB, sub string, rooms map[string][]schemas.Capability, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Sign(testSecret, "", &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))},
		Rooms:            rooms,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func pubToken(t testing.TB, sub, room string) string {
	return token(t, sub, map[string][]schemas.Capability{room: {schemas.CapPublish}}, time.Hour)
}

// reply is a decoded answer: one of the three body shapes.
type reply struct {
	status     int
	retryAfter string
	raw        []byte
	single     Result
	batch      BatchResponse
	reqErr     *schemas.PublishError
}

// code returns the error code of a refused request or single event.
func (r reply) code() string {
	if r.reqErr != nil {
		return r.reqErr.Code
	}
	if r.single.Error != nil {
		return r.single.Error.Code
	}
	return ""
}

func (r reply) field() string {
	if r.reqErr != nil {
		return r.reqErr.Field
	}
	if r.single.Error != nil {
		return r.single.Error.Field
	}
	return ""
}

func post(t testing.TB, c *http.Client, url, tok string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decodeReply(t, resp.StatusCode, resp.Header.Get("Retry-After"), b)
}

func decodeReply(t testing.TB, status int, retry string, b []byte) reply {
	t.Helper()
	r := reply{status: status, retryAfter: retry, raw: b}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", status, b)
	}
	switch {
	case probe["error"] != nil && probe["status"] == nil:
		var er ErrorResponse
		mustJSON(t, b, &er)
		r.reqErr = er.Error
	case probe["results"] != nil:
		mustJSON(t, b, &r.batch)
	default:
		mustJSON(t, b, &r.single)
	}
	return r
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

func (r *rig) url(room string) string { return r.srv.URL + "/v1/rooms/" + room + "/events" }

// readAll reads the whole topic (read_committed) up to its current end and
// returns the records.
func readAll(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset %s/%d: %v", topic, o.Partition, o.Err)
		}
		want[o.Partition] = o.Offset
		total += o.Offset
	})
	if total == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	got := map[int32]int64{}
	for !reached(got, want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: read %d records, positions %v, want ends %v", topic, len(out), got, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			got[r.Partition] = r.Offset + 1
		})
	}
	return out
}

func reached(got, want map[int32]int64) bool {
	for p, end := range want {
		if got[p] < end {
			return false
		}
	}
	return true
}

// eventIDs decodes every record as a complete event, checks it, and counts
// ids.
func eventIDs(t testing.TB, recs []*kgo.Record) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, r := range recs {
		ev, err := schemas.ParseEvent(r.Value)
		if err != nil {
			t.Fatalf("record at %d/%d is not a valid event: %v: %q", r.Partition, r.Offset, err, r.Value)
		}
		if string(r.Key) != ev.Room {
			t.Fatalf("record key %q, event room %q", r.Key, ev.Room)
		}
		ids[ev.ID]++
	}
	return ids
}

// evt builds a client event body.
func evt(typ, data string, extra ...string) string {
	var b strings.Builder
	b.WriteString(`{"type":"` + typ + `","data":` + data)
	for _, e := range extra {
		b.WriteString("," + e)
	}
	b.WriteString("}")
	return b.String()
}

// counterValue reads a counter without the testutil package.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
