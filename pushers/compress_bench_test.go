package pushers

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ovation-live/ovation/schemas"
)

// countConn counts the bytes read from a connection: the wire bytes a
// client receives, WebSocket framing included.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// compressPair is a server-side socket to a client that reads and
// discards the raw bytes (it does not decode them), counting them; compress negotiates
// permessage-deflate on both sides.
func compressPair(tb testing.TB, compress bool) (*websocket.Conn, *atomic.Int64, func()) {
	up := websocket.Upgrader{EnableCompression: compress, CheckOrigin: func(*http.Request) bool { return true }}
	conns := make(chan *websocket.Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			tb.Error(err)
			return
		}
		c.EnableWriteCompression(compress)
		conns <- c
	}))
	var n atomic.Int64
	d := websocket.Dialer{EnableCompression: compress, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return countConn{c, &n}, err
	}}
	cc, resp, err := d.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if got := strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate"); got != compress {
		tb.Fatalf("permessage-deflate negotiated %v, want %v", got, compress)
	}
	done := make(chan struct{})
	go func() {
		// Raw bytes, not messages: the client's decompression is not
		// the pusher's CPU, and must not be counted as such.
		defer close(done)
		io.Copy(io.Discard, cc.NetConn())
	}()
	sc := <-conns
	return sc, &n, func() { sc.Close(); cc.Close(); <-done; hs.Close() }
}

// benchFrames are frames as pushers send them: a live room's reactions,
// viewers and totals, with 0, 1 or 3 chat lines of 40 bytes.
func benchFrames(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		d := randomDelta(i, []int{0, 0, 1, 3}[i%4], 40)
		out[i] = mustJSON(&wireFrame{Type: "frame", Room: "show-42", Epoch: "0193f6a2c3d84e1f", Seq: uint64(1000 + i), TS: time.Now().UnixMilli(), Delta: d})
	}
	return out
}

// BenchmarkFrameCompression measures what permessage-deflate does to the
// frames pushers send: wire bytes per frame and the pusher's CPU per frame
// (one PreparedMessage per frame, as the hub builds it, written to
// subscribers; the compressed form is built once per frame and shared).
// docs/benchmarks.md has the numbers and the decision they led to.
func BenchmarkFrameCompression(b *testing.B) {
	frames := benchFrames(256)
	var raw int
	for _, f := range frames {
		raw += len(f)
	}
	for _, subs := range []int{1, 100} {
		for _, compress := range []bool{false, true} {
			b.Run(fmt.Sprintf("subs=%d/deflate=%v", subs, compress), func(b *testing.B) {
				conns := make([]*websocket.Conn, subs)
				counts := make([]*atomic.Int64, subs)
				for i := range conns {
					c, n, stop := compressPair(b, compress)
					defer stop()
					conns[i], counts[i] = c, n
				}
				var wire0 int64
				for _, n := range counts {
					wire0 += n.Load()
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					pm, err := websocket.NewPreparedMessage(websocket.TextMessage, frames[i%len(frames)])
					if err != nil {
						b.Fatal(err)
					}
					for _, c := range conns {
						if err := c.WritePreparedMessage(pm); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				time.Sleep(50 * time.Millisecond) // let the readers drain
				var wire int64
				for _, n := range counts {
					wire += n.Load()
				}
				b.ReportMetric(float64(wire-wire0)/float64(b.N)/float64(subs), "wire-B/frame")
				b.ReportMetric(float64(raw)/float64(len(frames)), "json-B/frame")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
			})
		}
	}
}

// TestCompressionNegotiated: with Config.Compression a client that offers
// permessage-deflate gets it and receives frames it can read; a client
// that does not offer it gets plain frames; without Config.Compression
// nobody gets it.
func TestCompressionNegotiated(t *testing.T) {
	brokers, topics := fakeKafka(t, 1)
	p := newProc(t, brokers, topics)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 {
		if err := p.tick(ctx, map[string]*schemas.Delta{"r1": randomDelta(i, 2, 200)}); err != nil {
			t.Fatal(err)
		}
	}
	_, seq, want := p.room("r1")
	for _, on := range []bool{false, true} {
		ts := startServer(t, brokers, topics, func(c *Config) { c.Compression = on })
		for _, offer := range []bool{false, true} {
			d := &websocket.Dialer{EnableCompression: offer}
			c, resp, err := dialWith(d, ts.url, allRooms(t, "u"), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
			if got != (on && offer) {
				t.Fatalf("server compression %v, client offers %v: negotiated %v", on, offer, got)
			}
			if err := c.subscribe("r1"); err != nil {
				t.Fatal(err)
			}
			c.waitFor(t, 10*time.Second, "r1 at the last seq", func(c *tclient) bool {
				r := c.rooms["r1"]
				return r != nil && r.seq == seq
			})
			_, _, st, _ := c.position("r1")
			if stateJSON(st) != stateJSON(want) {
				t.Fatalf("compression %v/%v: state differs", on, offer)
			}
			c.close()
		}
	}
}
