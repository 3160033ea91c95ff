package ingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ovation-live/ovation/schemas"
)

// checkMetrics scrapes reg as Prometheus would and fails unless /metrics
// answers 200 with text that parses, and every label of ingest's series
// holds a value of its closed set.
func checkMetrics(t testing.TB, reg *prometheus.Registry) {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", rec.Code, rec.Body.Bytes())
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("/metrics is not well-formed: %v", err)
	}
	types := []string{"invalid"}
	for _, ty := range schemas.Types {
		types = append(types, string(ty))
	}
	results := append([]string{"ok", "partial"}, Codes...)
	allowed := map[string][]string{"type": types, "reason": Codes, "result": results, "transport": {transportHTTP, transportWS}}
	n := 0
	for name, f := range families {
		if !strings.HasPrefix(name, "ovation_ingest_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				n++
				v := l.GetValue()
				if !utf8.ValidString(v) || !slices.Contains(allowed[l.GetName()], v) {
					t.Fatalf("%s{%s=%q}: not a value of the label's set", name, l.GetName(), v)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no labelled ingest series in /metrics")
	}
}

// TestLabelsOutliveTheRequestBuffer publishes events of every kind over
// HTTP, whose strings are decoded without copying out of a pooled buffer,
// then overwrites that buffer as the next request would: every label must
// still read as it was written. (typeLabel used to return the decoded
// type itself, so the series' label changed under it and /metrics
// answered 500 once it held invalid UTF-8.)
func TestLabelsOutliveTheRequestBuffer(t *testing.T) {
	const topic = "ovation.events"
	r := newRig(t, newFake(t, 1, topic).ListenAddrs(), topic, Config{})
	tok := token(t, "alice", map[string][]schemas.Capability{"show-1": {schemas.CapHost}}, 3600e9)
	mux := http.NewServeMux()
	r.svc.Register(mux)
	// Do to each recycled buffer what the next request would do.
	r.svc.onRecycle = func(b []byte) {
		for i := range b {
			b[i] = 0xff
		}
	}
	bodies := []string{
		evt("reaction", `{"emoji":"🔥"}`),                                    // accepted
		evt("poll.vote", `{"poll_id":"p","option":99}`),                     // refused: invalid_event
		`[` + evt("qa.ask", `{"text":"?"}`) + `,` + evt("nope", `{}`) + `]`, // partial
		evt("presence", `{"node":"n","viewers":1}`),                         // forbidden
	}
	for _, b := range bodies {
		req := httptest.NewRequest(http.MethodPost, "/v1/rooms/show-1/events", strings.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", b, rec.Code, rec.Body.Bytes())
		}
	}
	checkMetrics(t, r.reg)
	// The accepted and refused series carry the exact types published.
	want := map[string]float64{"reaction": 1, "qa.ask": 1}
	for ty, n := range want {
		if got := counterValue(t, r.svc.m.accepted.WithLabelValues(ty)); got != n {
			t.Errorf("accepted{type=%q} = %v, want %v", ty, got, n)
		}
	}
	for _, c := range []struct{ ty, code string }{{"poll.vote", CodeInvalidEvent}, {"invalid", CodeInvalidEvent}, {"presence", CodeForbidden}} {
		if got := counterValue(t, r.svc.m.rejected.WithLabelValues(c.ty, c.code)); got != 1 {
			t.Errorf("rejected{type=%q,reason=%q} = %v, want 1", c.ty, c.code, got)
		}
	}
}

// FuzzMetricsUnderRandomBodies publishes arbitrary bodies over HTTP and
// scrapes /metrics after each: it must answer 200 with well-formed text
// whose labels keep their closed sets, whatever was published before.
// make fuzz runs it for FUZZTIME (60 s); go test runs its seeds.
func FuzzMetricsUnderRandomBodies(f *testing.F) {
	for _, s := range []string{
		evt("reaction", `{"emoji":"🔥"}`),
		evt("chat.message", `{"text":"hi"}`),
		`[` + evt("qa.ask", `{"text":"?"}`) + `,` + evt("x32371\\", `{}`) + `]`,
		evt("poll.vote", `{"poll_id":"p","option":1}`),
		"{\"type\":\"\xff\xfe\",\"data\":{}}",
		`{"type":"reaction","type":"chat.message","data":{"emoji":"x"}}`,
		strings.Repeat("[", 4096), `[]`, `{}`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	const topic = "ovation.events"
	r := newRig(f, newFake(f, 1, topic).ListenAddrs(), topic, Config{})
	tok := token(f, "alice", map[string][]schemas.Capability{"show-1": {schemas.CapHost}}, 3600e9)
	mux := http.NewServeMux()
	r.svc.Register(mux)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/rooms/show-1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%d %s", rec.Code, rec.Body.Bytes())
		}
		checkMetrics(t, r.reg)
	})
}
