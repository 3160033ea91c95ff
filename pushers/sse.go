package pushers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// GET /v1/sse (docs/protocol.md, "Server-sent events"): the stream for
// networks that refuse WebSocket upgrades. Each SSE request is bridged,
// inside the process, to one WebSocket connection of this same pusher
// over a net.Pipe: the same token check, origin check, per-user limit,
// subscribe and resume rules, queue, merging and slow-client closes, with
// no second implementation of any of them. Every server message is
// relayed as one SSE event whose data is the message's JSON; snapshot and
// frame events carry an id holding every room's position, so a browser's
// EventSource resumes by itself (Last-Event-ID) on any pusher.

// sseHeartbeat is how often the stream gets a ping event, so proxies do
// not time it out and clients can tell a live stream from a dead one.
const sseHeartbeat = 15 * time.Second

// sseWriteTimeout bounds one write to an SSE client; a client that does
// not read for this long is dropped (as a WebSocket's write timeout does).
const sseWriteTimeout = 10 * time.Second

// pipeListener hands the SSE bridge's pipe ends to an http.Server that
// serves the pusher's WebSocket handler.
type pipeListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.closed.Do(func() { close(l.done) }); return nil }

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "sse-bridge" }

// sseBridge is the in-process server the SSE handler dials.
type sseBridge struct {
	once sync.Once
	l    *pipeListener
	srv  *http.Server
}

func (s *Server) bridge() *pipeListener {
	s.sse.once.Do(func() {
		s.sse.l = &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
		s.sse.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
		go s.sse.srv.Serve(s.sse.l)
		context.AfterFunc(s.ctx, func() { s.sse.srv.Close() })
	})
	return s.sse.l
}

// SSEHandler serves GET /v1/sse.
func (s *Server) SSEHandler() http.Handler { return http.HandlerFunc(s.serveSSE) }

// ssePositions parses positions as they travel in an event id, the
// Last-Event-ID header and the positions query parameter: a URL query
// string, room=epoch+seq per room ("show-42=e7+1203&lobby=+0").
func ssePositions(v string) (map[string]roomPos, error) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, fmt.Errorf("positions: %v", err)
	}
	out := make(map[string]roomPos, len(q))
	for room, vs := range q {
		if err := schemas.CheckStream(room); err != nil {
			return nil, fmt.Errorf("positions: room: %v", err)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("positions: room %s given %d times", room, len(vs))
		}
		i := strings.LastIndexByte(vs[0], ' ')
		if i < 0 {
			return nil, fmt.Errorf("positions: room %s: want epoch and seq separated by a space", room)
		}
		seq, err := strconv.ParseUint(vs[0][i+1:], 10, 64)
		if err != nil || len(vs[0][:i]) > 128 {
			return nil, fmt.Errorf("positions: room %s: bad epoch or seq", room)
		}
		out[room] = roomPos{epoch: vs[0][:i], seq: seq}
	}
	return out, nil
}

type roomPos struct {
	epoch string
	seq   uint64
	known bool
}

// sseID encodes every room's known position (rooms sorted, so the id is
// stable).
func sseID(pos map[string]*roomPos) string {
	rooms := make([]string, 0, len(pos))
	for r, p := range pos {
		if p.known {
			rooms = append(rooms, r)
		}
	}
	sort.Strings(rooms)
	var b strings.Builder
	for i, r := range rooms {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(r))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(pos[r].epoch + " " + strconv.FormatUint(pos[r].seq, 10)))
	}
	return b.String()
}

func sseRefuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(mustJSON(map[string]any{"error": map[string]string{"code": code, "message": msg}}))
}

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var rooms []string
	for _, room := range strings.Split(q.Get("rooms"), ",") {
		if room == "" {
			continue
		}
		if err := schemas.CheckStream(room); err != nil {
			sseRefuse(w, http.StatusBadRequest, CodeBadRequest, "rooms: "+err.Error())
			return
		}
		rooms = append(rooms, room)
	}
	if len(rooms) == 0 || len(rooms) > s.cfg.MaxRooms {
		sseRefuse(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("rooms: give 1 to %d comma-separated room ids", s.cfg.MaxRooms))
		return
	}
	from := q.Get("positions")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from = id // the browser's own resume wins
	}
	given, err := ssePositions(from)
	if err != nil {
		sseRefuse(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	rc := http.NewResponseController(w)

	// The bridged WebSocket: the same handshake a browser would make.
	c1, c2 := net.Pipe()
	select {
	case s.bridge().ch <- c2:
	case <-r.Context().Done():
		c1.Close()
		c2.Close()
		return
	}
	u := url.URL{Scheme: "ws", Host: r.Host, Path: "/v1/stream"}
	wq := url.Values{}
	for _, k := range []string{"token", "user"} {
		if v := q.Get(k); v != "" {
			wq.Set(k, v)
		}
	}
	u.RawQuery = wq.Encode()
	hdr := http.Header{}
	for _, k := range []string{"Authorization", "Origin", "X-Forwarded-Proto"} {
		if v := r.Header.Get(k); v != "" {
			hdr.Set(k, v)
		}
	}
	if r.TLS != nil && hdr.Get("X-Forwarded-Proto") == "" {
		hdr.Set("X-Forwarded-Proto", "https")
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: func(context.Context, string, string) (net.Conn, error) { return c1, nil }}
	ws, _, err := d.DialContext(r.Context(), u.String(), hdr)
	if err != nil {
		c1.Close()
		sseRefuse(w, http.StatusServiceUnavailable, CodeUnavailable, "the stream is not available: "+err.Error())
		return
	}
	defer ws.Close()
	stop := context.AfterFunc(r.Context(), func() { ws.Close() })
	defer stop()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	var wmu sync.Mutex
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	// Tell the client how long to wait before reconnecting.
	if write([]byte("retry: 1000\n\n")) != nil {
		return
	}
	hbDone := make(chan struct{})
	defer close(hbDone)
	go func() {
		t := time.NewTicker(sseHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
				if write([]byte("event: ping\ndata: {}\n\n")) != nil {
					ws.Close()
					return
				}
			}
		}
	}()

	pos := map[string]*roomPos{}
	var subs [][]byte
	for i, room := range rooms {
		p := &roomPos{}
		sub := map[string]any{"op": "subscribe", "id": "sse" + strconv.Itoa(i), "room": room}
		if g, ok := given[room]; ok {
			p.epoch, p.seq, p.known = g.epoch, g.seq, true
			sub["epoch"], sub["seq"] = g.epoch, g.seq
		}
		pos[room] = p
		b, _ := json.Marshal(sub)
		subs = append(subs, b)
	}
	// A pipe has no buffer: the subscribes go out while this goroutine
	// reads, or a refusal's close frame and they would wait on each other.
	go func() {
		for _, b := range subs {
			if ws.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		}
	}()
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			// The pusher closed the bridged socket: pass its code on,
			// so the client acts on it exactly as on a WebSocket.
			var ce *websocket.CloseError
			code, reason := websocket.CloseAbnormalClosure, "connection lost"
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Text
			}
			if r.Context().Err() == nil {
				write(fmt.Appendf(nil, "event: close\ndata: %s\n\n", mustJSON(map[string]any{"code": code, "reason": reason})))
			}
			return
		}
		var m struct {
			Type  string `json:"type"`
			Room  string `json:"room"`
			Epoch string `json:"epoch"`
			Seq   uint64 `json:"seq"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		var out []byte
		if p := pos[m.Room]; p != nil && (m.Type == "snapshot" || m.Type == "frame") {
			p.epoch, p.seq, p.known = m.Epoch, m.Seq, true
			out = append(out, "id: "...)
			out = append(out, sseID(pos)...)
			out = append(out, '\n')
		}
		for _, line := range strings.Split(string(b), "\n") { // compact JSON: one line
			out = append(out, "data: "...)
			out = append(out, line...)
			out = append(out, '\n')
		}
		out = append(out, '\n')
		if write(out) != nil {
			return
		}
	}
}
