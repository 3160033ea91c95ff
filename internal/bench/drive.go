package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// driveStats are the driver's counters.
type driveStats struct {
	sent     atomic.Int64 // events handed to the pipeline
	accepted atomic.Int64 // events the pipeline acknowledged
	rejected atomic.Int64 // events refused (rate limits, backpressure, …)
	failed   atomic.Int64 // events whose request failed as a whole
	mu       sync.Mutex
	codes    map[string]int64 // refusal code → events
}

func (s *driveStats) refuse(code string, n int64) {
	s.rejected.Add(n)
	s.mu.Lock()
	if s.codes == nil {
		s.codes = map[string]int64{}
	}
	s.codes[code] += n
	s.mu.Unlock()
}

// eventGen makes the benchmark's events: reactions, with every chatEvery-th
// event a chat message. Ids are unique in a run, so a retried or duplicated
// event would show up as a count mismatch.
type eventGen struct {
	run       string
	chatEvery int64
	n         atomic.Int64
}

// appendBody appends one client event body (ingest fills v, user, room, ts).
func (g *eventGen) appendBody(b []byte) []byte {
	n := g.n.Add(1)
	b = append(b, `{"id":"`...)
	b = append(b, g.run...)
	b = append(b, '-')
	b = strconv.AppendInt(b, n, 36)
	if g.chatEvery > 0 && n%g.chatEvery == 0 {
		b = append(b, `","type":"chat.message","data":{"text":"bench chat line `...)
		b = strconv.AppendInt(b, n, 10)
		return append(b, `"}}`...)
	}
	return append(b, `","type":"reaction","data":{"emoji":"👏"}}`...)
}

// appendEnvelope appends a full v1 envelope, as a trusted Kafka producer
// writes it (with its own ts, since no ingest stamps it).
func (g *eventGen) appendEnvelope(b []byte, room, user string, ts int64) []byte {
	n := g.n.Add(1)
	b = append(b, `{"v":1,"id":"`...)
	b = append(b, g.run...)
	b = append(b, '-')
	b = strconv.AppendInt(b, n, 36)
	b = append(b, `","room":"`...)
	b = append(b, room...)
	b = append(b, `","user":"`...)
	b = append(b, user...)
	b = append(b, `","ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	if g.chatEvery > 0 && n%g.chatEvery == 0 {
		b = append(b, `,"type":"chat.message","data":{"text":"bench chat line `...)
		b = strconv.AppendInt(b, n, 10)
		return append(b, `"}}`...)
	}
	return append(b, `,"type":"reaction","data":{"emoji":"👏"}}`...)
}

// driveConfig is what every driver needs.
type driveConfig struct {
	rate     float64 // events/s; 0 = as fast as possible
	batch    int
	workers  int
	users    int
	rooms    []string
	srcs     []net.IP
	gen      *eventGen
	stats    *driveStats
	ack      *recorder // request → acknowledgement latency
	token    string
	httpURL  string // http://host:port
	wsURL    string
	brokers  []string
	topic    string
	pubConns int
}

func (c *driveConfig) limiter() *rate.Limiter {
	if c.rate <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	// One token per event, a burst of a few batches: the offered load is
	// smooth at one-second scale, as a real audience is.
	return rate.NewLimiter(rate.Limit(c.rate), max(c.batch*4, int(c.rate/20)))
}

// driveHTTP posts batches of c.batch events to POST /v1/rooms/{room}/events
// from c.workers goroutines until ctx ends. Each batch goes to one room and
// one user, both rotating, so per-user limits are spread as an audience
// spreads them.
func driveHTTP(ctx context.Context, c *driveConfig) error {
	lim := c.limiter()
	ntr := max(1, len(c.srcs))
	clients := make([]*http.Client, ntr)
	for k := range clients {
		d := dialerFrom(c.srcs, k)
		d.KeepAlive = 30 * time.Second
		tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: c.workers/ntr + 2,
			DisableCompression: true, IdleConnTimeout: 30 * time.Second}
		clients[k] = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	defer func() {
		for _, cl := range clients {
			cl.CloseIdleConnections()
		}
	}()
	var seq atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < c.workers; w++ {
		g.Go(func() error {
			var body []byte
			var resp struct {
				Accepted int `json:"accepted"`
				Rejected int `json:"rejected"`
				Results  []struct {
					Error *struct {
						Code string `json:"code"`
					} `json:"error"`
				} `json:"results"`
			}
			for gctx.Err() == nil {
				if err := lim.WaitN(gctx, c.batch); err != nil {
					return nil
				}
				k := seq.Add(1)
				// Requests rotate over the source addresses, so that every
				// address carries an equal share whatever the worker count.
				cl := clients[int(k)%ntr]
				room := c.rooms[int(k)%len(c.rooms)]
				user := "pub-" + strconv.Itoa(int(k)%c.users)
				body = append(body[:0], '[')
				for i := 0; i < c.batch; i++ {
					if i > 0 {
						body = append(body, ',')
					}
					body = c.gen.appendBody(body)
				}
				body = append(body, ']')
				u := c.httpURL + "/v1/rooms/" + url.PathEscape(room) + "/events"
				if c.token == "" {
					u += "?user=" + user
				}
				req, _ := http.NewRequestWithContext(context.WithoutCancel(gctx), http.MethodPost, u, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				start := time.Now()
				c.stats.sent.Add(int64(c.batch))
				r, err := cl.Do(req)
				if err != nil {
					c.stats.failed.Add(int64(c.batch))
					continue
				}
				b, err := io.ReadAll(r.Body)
				r.Body.Close()
				c.ack.record(w, time.Since(start).Microseconds())
				if err != nil {
					c.stats.failed.Add(int64(c.batch))
					continue
				}
				resp.Results = resp.Results[:0]
				if err := json.Unmarshal(b, &resp); err != nil || (resp.Accepted+resp.Rejected == 0) {
					// Refused as a whole: {"error":{…}}.
					var e struct {
						Error struct {
							Code string `json:"code"`
						} `json:"error"`
					}
					json.Unmarshal(b, &e)
					c.stats.refuse(e.Error.Code+" (HTTP "+strconv.Itoa(r.StatusCode)+")", int64(c.batch))
					continue
				}
				c.stats.accepted.Add(int64(resp.Accepted))
				if resp.Rejected > 0 {
					for _, res := range resp.Results {
						if res.Error != nil {
							c.stats.refuse(res.Error.Code, 1)
						}
					}
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// driveWS publishes events one by one over c.pubConns WebSocket
// connections (the protocol's publish op), each within the pusher's
// inbound limit of 50 messages/s, with up to 32 publishes in flight.
func driveWS(ctx context.Context, c *driveConfig) error {
	perConn := 40.0
	if c.rate > 0 {
		perConn = min(perConn, c.rate/float64(c.pubConns))
	}
	g, gctx := errgroup.WithContext(ctx)
	for p := 0; p < c.pubConns; p++ {
		g.Go(func() error { return publishConn(gctx, c, p, rate.NewLimiter(rate.Limit(perConn), 2)) })
	}
	return g.Wait()
}

func publishConn(ctx context.Context, c *driveConfig, p int, lim *rate.Limiter) error {
	u, _ := url.Parse(c.wsURL)
	q := u.Query()
	if c.token == "" {
		q.Set("user", "pub-"+strconv.Itoa(p))
	}
	u.RawQuery = q.Encode()
	hdr := http.Header{}
	if c.token != "" {
		hdr.Set("Authorization", "Bearer "+c.token)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: dialerFrom(c.srcs, p).DialContext}
	conn, _, err := d.DialContext(ctx, u.String(), hdr)
	if err != nil {
		return fmt.Errorf("publisher %d: %w", p, err)
	}
	room := c.rooms[p%len(c.rooms)]
	inflight := make(chan time.Time, 32)
	done := make(chan struct{})
	go func() {
		// Reader: acks and errors, in any order (matched by count: the
		// latency is of the oldest outstanding publish, close enough at
		// 40/s per connection).
		defer close(done)
		var f msgFields
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if !scanMessage(msg, &f) {
				continue
			}
			switch string(f.typ) {
			case "ack":
				c.stats.accepted.Add(1)
			case "error":
				c.stats.refuse(string(f.code), 1)
			default:
				continue
			}
			select {
			case t := <-inflight:
				c.ack.record(p, time.Since(t).Microseconds())
			default:
			}
		}
	}()
	var b []byte
	for ctx.Err() == nil {
		if lim.Wait(ctx) != nil {
			break
		}
		select {
		case inflight <- time.Now():
		case <-ctx.Done():
		case <-done:
			return nil
		}
		b = append(b[:0], `{"op":"publish","id":"p","room":"`...)
		b = append(b, room...)
		b = append(b, `","event":`...)
		b = c.gen.appendBody(b)
		b = append(b, '}')
		c.stats.sent.Add(1)
		if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
			c.stats.failed.Add(1)
			break
		}
	}
	// Let the last acks arrive, then close.
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	<-done
	return nil
}

// driveKafka writes envelopes straight into the events topic with
// franz-go, as a trusted backend producer does.
func driveKafka(ctx context.Context, c *driveConfig) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.DefaultProduceTopic(c.topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(50_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	lim := c.limiter()
	var k int
	var b []byte
	for ctx.Err() == nil {
		if lim.WaitN(ctx, c.batch) != nil {
			break
		}
		k++
		room := c.rooms[k%len(c.rooms)]
		user := "pub-" + strconv.Itoa(k%c.users)
		now := time.Now().UnixMilli()
		for i := 0; i < c.batch; i++ {
			b = c.gen.appendEnvelope(b[:0], room, user, now)
			rec := &kgo.Record{Key: []byte(room), Value: append([]byte(nil), b...)}
			start := time.Now()
			c.stats.sent.Add(1)
			cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
				if err != nil {
					c.stats.failed.Add(1)
					return
				}
				c.stats.accepted.Add(1)
				c.ack.record(0, time.Since(start).Microseconds())
			})
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return cl.Flush(fctx)
}
