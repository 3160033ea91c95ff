package ingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// generatedID matches a UUIDv7's text up to its random bits: ingest's
// generated ids differ there from one run to the next, and only there.
var generatedID = regexp.MustCompile(`([0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-)[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// FuzzPooledRequests is the differential test of the HTTP path's pooled
// requests, items, ids and bodies: three requests in a row (bodies a, b
// and a again, each with one of two tokens of different users and
// capabilities) get exactly the same answers (status, Retry-After and
// body, generated ids' random bits aside) from a service that reuses one
// request's slabs for the next, poisoning each as it goes back to the
// pool, as from one that gives every request new ones. Anything of a
// request that leaked into the next (a capability, a moderation look, a
// body, an id) or that was read after it went back changes an answer.
// make fuzz runs it for FUZZTIME; go test runs its seeds.
func FuzzPooledRequests(f *testing.F) {
	chat := evt("chat.message", `{"text":"hi","name":"Ann"}`)
	poll := evt("poll.open", `{"poll_id":"p","question":"q?","options":["a","b"]}`)
	for _, s := range [][2]string{
		{`[` + chat + `,` + evt("reaction", `{"emoji":"🔥"}`) + `]`, poll},
		{poll, `[` + chat + `,` + poll + `]`},
		{`[` + evt("qa.upvote", `{"question_id":"q-1"}`, `"id":"x-1"`) + `,` + evt("poll.vote", `{"poll_id":"p","option":2}`) + `]`, chat},
		{`[` + evt("chat.message", `{"text":"a\"b"}`) + `,` + evt("nope", `{}`) + `]`, `[` + chat + `,` + chat + `,` + chat + `]`},
		{evt("poll.vote", `{"poll_id":"p","option":99}`), `[]`},
		{`{"type":"reaction","type":"chat.message","data":{"emoji":"x"}}`, chat},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), false, true)
		f.Add([]byte(s[0]), []byte(s[1]), true, false)
	}
	const topic = "ovation.events"
	brokers := newFake(f, 1, topic).ListenAddrs()
	var logs [2]recordLog
	pooled := newRig(f, brokers, topic, Config{UserRate: -1, ClientRate: -1}, kgo.WithHooks(&logs[0]))
	fresh := newRig(f, brokers, topic, Config{UserRate: -1, ClientRate: -1}, kgo.WithHooks(&logs[1]))
	fresh.svc.noPool = true
	// One clock for both: the ids' time bits and the records' ts agree.
	at := time.Now()
	for _, r := range []*rig{pooled, fresh} {
		r.svc.now = func() time.Time { return at }
	}
	// Do to each recycled buffer what the next request would do.
	pooled.svc.onRecycle = func(b []byte) {
		for i := range b {
			b[i] = 0xff
		}
	}
	toks := [2]string{
		token(f, "host-1", map[string][]schemas.Capability{"show-1": {schemas.CapHost}}, time.Hour),
		token(f, "viewer \"2\"", map[string][]schemas.Capability{"show-1": {schemas.CapPublish}}, time.Hour),
	}
	muxes := [2]*http.ServeMux{http.NewServeMux(), http.NewServeMux()}
	pooled.svc.Register(muxes[0])
	fresh.svc.Register(muxes[1])
	f.Fuzz(func(t *testing.T, a, b []byte, ta, tb bool) {
		pick := func(x bool) string {
			if x {
				return toks[1]
			}
			return toks[0]
		}
		for _, step := range []struct {
			body []byte
			tok  string
		}{{a, pick(ta)}, {b, pick(tb)}, {a, pick(tb)}} {
			var got [2]*httptest.ResponseRecorder
			var recs [2][]byte
			for k, mux := range muxes {
				// kfake now and then fails a produce under the fuzzer's
				// load (kafka_unavailable): that request is sent again.
				for try := 0; try < 3 && (try == 0 || got[k].Code == http.StatusServiceUnavailable); try++ {
					logs[k].take()
					req := httptest.NewRequest(http.MethodPost, "/v1/rooms/show-1/events", bytes.NewReader(step.body))
					req.Header.Set("Authorization", "Bearer "+step.tok)
					req.Header.Set("Content-Type", "application/json")
					got[k] = httptest.NewRecorder()
					mux.ServeHTTP(got[k], req)
					recs[k] = generatedID.ReplaceAll(logs[k].take(), []byte("${1}…"))
				}
			}
			p, q := got[0], got[1]
			pb := generatedID.ReplaceAll(p.Body.Bytes(), []byte("${1}…"))
			qb := generatedID.ReplaceAll(q.Body.Bytes(), []byte("${1}…"))
			if testing.Verbose() {
				t.Logf("%d %s", p.Code, p.Body.Bytes())
			}
			if p.Code != q.Code || p.Header().Get("Retry-After") != q.Header().Get("Retry-After") || !bytes.Equal(pb, qb) {
				t.Fatalf("%q:\npooled: %d %s\nfresh:  %d %s", step.body, p.Code, p.Body.Bytes(), q.Code, q.Body.Bytes())
			}
			if !bytes.Equal(recs[0], recs[1]) {
				t.Fatalf("%q: the records differ:\npooled: %s\nfresh:  %s", step.body, recs[0], recs[1])
			}
		}
	})
}

// recordLog keeps the values of the records a client buffered, one a
// line, in the order they were handed to it (a request hands its records
// over in order, on its own goroutine).
type recordLog struct {
	mu sync.Mutex
	b  []byte
}

func (l *recordLog) OnProduceRecordBuffered(r *kgo.Record) {
	l.mu.Lock()
	l.b = append(append(l.b, r.Value...), '\n')
	l.mu.Unlock()
}

func (l *recordLog) take() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b
	l.b = nil
	return b
}
