package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// viewerStats are the counters every viewer adds to. Read them with load;
// the sampler turns them into rates.
type viewerStats struct {
	connected atomic.Int64 // welcome received
	ready     atomic.Int64 // subscribed and snapshot received
	dialFail  atomic.Int64
	messages  atomic.Int64 // frame messages delivered
	seqs      atomic.Int64 // frame seqs covered (a merged frame covers several)
	merged    atomic.Int64 // frames with from_seq
	gaps      atomic.Int64 // a frame that did not continue the position
	dups      atomic.Int64 // a frame at or before the position
	resets    atomic.Int64 // snapshots after the first (server-side resets)
	errors    atomic.Int64 // error messages
	closed    atomic.Int64 // connections the server closed during the run
	bytes     atomic.Int64 // message payloads, as the client reads them
	wire      atomic.Int64 // bytes off the sockets (framing, compression)
	closeMu   sync.Mutex
	closes    map[int]int // close code → count
	firstErr  atomic.Value
}

func (s *viewerStats) noteClose(code int) {
	s.closed.Add(1)
	s.closeMu.Lock()
	if s.closes == nil {
		s.closes = map[int]int{}
	}
	s.closes[code]++
	s.closeMu.Unlock()
}

// viewers is a set of WebSocket clients speaking docs/protocol.md, each
// subscribed to one room. The set owns its connections: close ends every
// reader goroutine and waits for them.
type viewers struct {
	url     string // ws://host/v1/stream
	token   string
	rooms   []string
	srcs    []net.IP
	delta   *recorder // frame ts → receive time
	chat    *recorder // chat line ts → receive time
	stats   *viewerStats
	timeout time.Duration
	// compression: offer permessage-deflate.
	compression bool

	mu    sync.Mutex
	conns []*websocket.Conn
	wg    sync.WaitGroup
}

func newViewers(streamURL, token string, rooms []string, srcs []net.IP, delta, chat *recorder) *viewers {
	return &viewers{url: streamURL, token: token, rooms: rooms, srcs: srcs, delta: delta, chat: chat,
		stats: &viewerStats{}, timeout: 15 * time.Second}
}

// open dials n viewers (viewer i joins room i mod len(rooms)), at most
// parallel handshakes at once so the listener's accept backlog is not
// overrun, and returns once each is subscribed or failed. Viewer ids start
// at first, so several sets never share a user id.
func (v *viewers) open(ctx context.Context, first, n, parallel int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i := first; i < first+n; i++ {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := v.dialOne(gctx, i); err != nil {
				v.stats.dialFail.Add(1)
				v.stats.firstErr.CompareAndSwap(nil, err.Error())
			}
			return nil
		})
	}
	g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if f := v.stats.dialFail.Load(); f > 0 {
		e, _ := v.stats.firstErr.Load().(string)
		return fmt.Errorf("%w: %d of %d viewers failed; first: %s", ErrViewers, f, n, e)
	}
	return nil
}

func (v *viewers) dialOne(ctx context.Context, i int) error {
	u, err := url.Parse(v.url)
	if err != nil {
		return err
	}
	q := u.Query()
	if v.token == "" {
		q.Set("user", "viewer-"+strconv.Itoa(i))
	}
	u.RawQuery = q.Encode()
	hdr := http.Header{}
	if v.token != "" {
		hdr.Set("Authorization", "Bearer "+v.token)
	}
	d := websocket.Dialer{
		HandshakeTimeout: v.timeout,
		ReadBufferSize:   2048,
		WriteBufferSize:  512,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialerFrom(v.srcs, i).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return wireCounter{c, &v.stats.wire}, nil
		},
		EnableCompression: v.compression,
	}
	dctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	c, resp, err := d.DialContext(dctx, u.String(), hdr)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s answered 404", ErrNotWired, v.url)
		}
		return fmt.Errorf("dial %s: %w", v.url, err)
	}
	room := v.rooms[i%len(v.rooms)]
	c.SetReadDeadline(time.Now().Add(v.timeout))
	// welcome
	_, msg, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return fmt.Errorf("read welcome: %w", err)
	}
	var f msgFields
	if !scanMessage(msg, &f) || string(f.typ) != "welcome" {
		c.Close()
		return fmt.Errorf("first message is not welcome: %.200s", msg)
	}
	v.stats.connected.Add(1)
	sub := `{"op":"subscribe","id":"s","room":"` + room + `"}`
	if err := c.WriteMessage(websocket.TextMessage, []byte(sub)); err != nil {
		c.Close()
		return fmt.Errorf("subscribe: %w", err)
	}
	// subscribed, then snapshot (frames of the room may not come before it).
	var epoch string
	var seq uint64
	for got := false; !got; {
		_, msg, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return fmt.Errorf("wait for snapshot of %s: %w", room, err)
		}
		if !scanMessage(msg, &f) {
			c.Close()
			return fmt.Errorf("bad message %.200s", msg)
		}
		switch string(f.typ) {
		case "snapshot":
			epoch, seq, got = string(f.epoch), f.seq, true
		case "error":
			c.Close()
			return fmt.Errorf("subscribe %s: error %s: %.200s", room, f.code, msg)
		}
	}
	c.SetReadDeadline(time.Time{})
	v.stats.ready.Add(1)
	v.mu.Lock()
	v.conns = append(v.conns, c)
	v.mu.Unlock()
	v.wg.Add(1)
	go v.read(c, i, epoch, seq)
	return nil
}

// read consumes one viewer's messages until the connection closes.
func (v *viewers) read(c *websocket.Conn, i int, epoch string, seq uint64) {
	defer v.wg.Done()
	var f msgFields
	var chatTS []int64
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				v.stats.noteClose(ce.Code)
			} else if !errors.Is(err, net.ErrClosed) {
				v.stats.noteClose(websocket.CloseAbnormalClosure)
			}
			return
		}
		now := time.Now().UnixMicro()
		v.stats.bytes.Add(int64(len(msg)))
		if !scanMessage(msg, &f) {
			v.stats.errors.Add(1)
			continue
		}
		switch string(f.typ) {
		case "frame":
			from := f.fromSeq
			if from == 0 {
				from = f.seq
			} else {
				v.stats.merged.Add(1)
			}
			switch {
			case (epoch == "" && seq == 0 && from == 1) || (string(f.epoch) == epoch && from == seq+1):
			case string(f.epoch) == epoch && f.seq <= seq:
				v.stats.dups.Add(1)
				continue
			default:
				v.stats.gaps.Add(1)
			}
			if string(f.epoch) != epoch {
				epoch = string(f.epoch)
			}
			seq = f.seq
			v.stats.messages.Add(1)
			v.stats.seqs.Add(int64(f.seq - from + 1))
			if f.ts > 0 {
				v.delta.record(i, now-f.ts*1000)
			}
			chatTS = chatTimestamps(f.delta, chatTS[:0])
			for _, ts := range chatTS {
				v.chat.record(i, now-ts*1000)
			}
		case "snapshot":
			v.stats.resets.Add(1)
			epoch, seq = string(f.epoch), f.seq
		case "error":
			v.stats.errors.Add(1)
		}
	}
}

// count is how many viewers are subscribed and reading.
func (v *viewers) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.conns)
}

// close closes every connection and waits for the readers.
func (v *viewers) close() {
	v.mu.Lock()
	conns := v.conns
	v.conns = nil
	v.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	v.wg.Wait()
}

// dialerFrom returns a dialer whose source address is one of srcs, picked
// by i, so that many connections to one port do not exhaust the ephemeral
// ports of a single source address.
func dialerFrom(srcs []net.IP, i int) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	if len(srcs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: srcs[i%len(srcs)]}
	}
	return d
}

// sourceIPs returns n loopback source addresses 127.0.0.2, 127.0.0.3, …
// (Linux routes all of 127/8 to lo), or none when n is 0.
func sourceIPs(n int) []net.IP {
	var out []net.IP
	for k := 0; k < n; k++ {
		out = append(out, net.IPv4(127, byte((k+2)>>16), byte((k+2)>>8), byte(k+2)))
	}
	return out
}

// wireCounter counts the bytes read off a connection: what crossed the
// wire, WebSocket framing and compression included.
type wireCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c wireCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
