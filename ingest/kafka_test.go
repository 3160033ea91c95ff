package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// slowAnswers wraps h: for a request carrying the header X-Test-Slow it
// lets h finish (Kafka has acknowledged by then) and holds the answer back
// for delay, so a client with a shorter timeout gives up on a request that
// did succeed, which is the case idempotency keys exist for.
func slowAnswers(h http.Handler, delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Slow") == "" {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		time.Sleep(delay)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// TestRealKafkaNoLossDuplicatesOnlyOnRetry: 50 concurrent clients publish
// 100,000 events in batches of 100 through the real HTTP handler into real
// Kafka. Every 7th request of each client is answered too late for the
// client's timeout, and the client retries it with the same ids. The topic,
// read back read_committed, must hold every acknowledged id (none lost),
// no id the clients did not send, an id more than once only if its request
// was retried, and each room's events in the order its client sent them.
func TestRealKafkaNoLossDuplicatesOnlyOnRetry(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 6)
	const (
		clients   = 50
		total     = 100_000
		batchSize = 100
		perClient = total / clients / batchSize // requests per client
		slowEvery = 7
	)
	r := newRig(t, brokers, topic, Config{UserRate: -1, ClientRate: -1, ProduceTimeout: 30 * time.Second})
	mux := http.NewServeMux()
	r.svc.Register(mux)
	srv := httptest.NewServer(slowAnswers(mux, 400*time.Millisecond))
	defer srv.Close()

	type outcome struct {
		acked   []string
		retried []string
		timeout int
	}
	results := make([]outcome, clients)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("room-%02d", c)
			tok := pubToken(t, fmt.Sprintf("user-%02d", c), room)
			hc := &http.Client{Transport: srv.Client().Transport}
			out := &results[c]
			for b := 0; b < perClient; b++ {
				ids := make([]string, batchSize)
				var body bytes.Buffer
				body.WriteByte('[')
				for i := range ids {
					ids[i] = fmt.Sprintf("c%02d-%05d", c, b*batchSize+i)
					if i > 0 {
						body.WriteByte(',')
					}
					fmt.Fprintf(&body, `{"id":"%s","type":"reaction","data":{"emoji":"👏"}}`, ids[i])
				}
				body.WriteByte(']')
				slow := b%slowEvery == slowEvery-1
				for attempt := 0; ; attempt++ {
					if attempt > 0 {
						out.retried = append(out.retried, ids...)
					}
					if attempt == 5 {
						errc <- fmt.Errorf("client %d batch %d: gave up after 5 attempts", c, b)
						return
					}
					rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
					if slow && attempt == 0 {
						rcancel()
						rctx, rcancel = context.WithTimeout(ctx, 150*time.Millisecond)
					}
					req, _ := http.NewRequestWithContext(rctx, http.MethodPost, srv.URL+"/v1/rooms/"+room+"/events", bytes.NewReader(body.Bytes()))
					req.Header.Set("Authorization", "Bearer "+tok)
					if slow && attempt == 0 {
						req.Header.Set("X-Test-Slow", "1")
					}
					resp, err := hc.Do(req)
					if err != nil {
						rcancel()
						if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline") {
							out.timeout++
							continue // retry the same ids
						}
						errc <- fmt.Errorf("client %d batch %d: %v", c, b, err)
						return
					}
					var br BatchResponse
					var buf bytes.Buffer
					_, rerr := buf.ReadFrom(resp.Body)
					resp.Body.Close()
					rcancel()
					if rerr != nil {
						out.timeout++
						continue
					}
					if resp.StatusCode != 200 {
						errc <- fmt.Errorf("client %d batch %d: status %d: %s", c, b, resp.StatusCode, buf.Bytes())
						return
					}
					mustJSON(t, buf.Bytes(), &br)
					if br.Accepted != batchSize || len(br.Results) != batchSize {
						errc <- fmt.Errorf("client %d batch %d: %s", c, b, buf.Bytes())
						return
					}
					for i, res := range br.Results {
						if res.Status != "accepted" || res.ID != ids[i] {
							errc <- fmt.Errorf("client %d batch %d result %d: %+v", c, b, i, res)
							return
						}
					}
					out.acked = append(out.acked, ids...)
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	elapsed := time.Since(start)

	acked := map[string]bool{}
	retried := map[string]int{} // id → times it was sent again
	timeouts := 0
	for _, o := range results {
		for _, id := range o.acked {
			acked[id] = true
		}
		for _, id := range o.retried {
			retried[id]++
		}
		timeouts += o.timeout
	}
	if len(acked) != total {
		t.Fatalf("%d distinct ids acknowledged, want %d", len(acked), total)
	}
	if timeouts == 0 || len(retried) == 0 {
		t.Fatalf("no request timed out (%d) or was retried (%d): the test did not exercise retries", timeouts, len(retried))
	}

	recs := readAll(t, brokers, topic)
	ids := eventIDs(t, recs)
	dups := 0
	for id := range acked {
		if ids[id] == 0 {
			t.Errorf("acknowledged id %s is not in the topic", id)
		}
	}
	for id, n := range ids {
		switch {
		case !acked[id]:
			t.Errorf("id %s is in the topic but no client sent it", id)
		case n > 1 && retried[id] == 0:
			t.Errorf("id %s is in the topic %d times but was never retried", id, n)
		case n > 1+retried[id]:
			t.Errorf("id %s is in the topic %d times; it was sent %d times", id, n, 1+retried[id])
		case n > 1:
			dups += n - 1
		}
	}
	// Per room (one client each, one partition), the first copy of each id
	// comes in the order the client sent them.
	last := map[string]int{}
	seen := map[string]bool{}
	for _, rec := range recs {
		ev, _ := schemas.ParseEvent(rec.Value)
		if seen[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		seq, _ := strconv.Atoi(ev.ID[4:])
		if prev, ok := last[ev.Room]; ok && seq != prev+1 {
			t.Errorf("room %s: %s follows seq %d", ev.Room, ev.ID, prev)
		}
		last[ev.Room] = seq
		if want := "user-" + ev.ID[1:3]; ev.User != want || ev.Room != "room-"+ev.ID[1:3] {
			t.Errorf("event %s has user %s room %s, want %s", ev.ID, ev.User, ev.Room, want)
		}
	}
	t.Logf("%d events acknowledged in %v (%.0f events/s) by %d clients; %d requests timed out on the client and were retried, "+
		"covering %d ids; %d duplicate records in the topic from those retries; %d records in the topic",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), clients, timeouts, len(retried), dups, len(recs))
	if len(recs) != total+dups {
		t.Fatalf("%d records, want %d distinct + %d duplicates", len(recs), total, dups)
	}
}
