// Package pushers serves Ovation's WebSocket stream (docs/protocol.md):
// it reads the room frames and snapshots that processors write to Kafka,
// keeps a resume window per room, and fans frames out to subscribers,
// each frame encoded once for all of them.
package pushers

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/origin"
)

// Server is one pusher: the /v1/stream handler plus its Kafka readers.
// Create it with New, serve it as an http.Handler, run its loops with Run,
// and stop it with Drain and Close.
type Server struct {
	cfg Config
	log *slog.Logger
	m   *metrics
	hub *hub
	// tokens schedules every connection's refresh hint and expiry close.
	tokens *wheel
	// refusals logs refused connections, messages and tokens, rate-limited.
	refusals *refusalLog

	// ctx ends when Close is called; publishes derive from it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts connection handlers, writer goroutines and publishes.
	wg sync.WaitGroup

	connMu sync.Mutex
	conns  map[*Conn]struct{}
	users  map[string]int

	framesReady atomic.Bool
	snapsReady  atomic.Bool
	draining    atomic.Bool

	origins    *origin.Policy
	upgrader   websocket.Upgrader
	bufPool    sync.Pool
	fetchSlots chan struct{} // bounds Kafka reads for old positions
	states     stateCache    // GET /v1/rooms/{room}/state answers (state.go)
	sse        sseBridge     // GET /v1/sse's in-process WebSocket server (sse.go)
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log, m: newMetrics(cfg.Registerer), conns: map[*Conn]struct{}{}, users: map[string]int{},
		refusals: newRefusalLog(cfg.Log), tokens: newWheel()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.fetchSlots = make(chan struct{}, maxFetches)
	s.hub = newHub(s)
	s.origins, _ = origin.New(cfg.AllowedOrigins) // Validate parsed it
	s.upgrader = websocket.Upgrader{
		// ReadBufferSize 0: gorilla reads through the corkConn's own
		// small reader (hijackWriter, readBufferSize), so the reader
		// can see whether bytes are buffered before it parks.
		// Write buffers are only needed while writing.
		WriteBufferPool: &sync.Pool{},
		// Origin is checked after the upgrade, so browsers see 4003.
		CheckOrigin: func(*http.Request) bool { return true },
		// permessage-deflate when configured and the client offers it.
		EnableCompression: cfg.Compression,
	}
	return s, nil
}

// Node returns the pusher's node name.
func (s *Server) Node() string { return s.cfg.Node }

// Ready reports whether the server has read Kafka up to where it was at
// start and is not draining.
func (s *Server) Ready() bool {
	return s.framesReady.Load() && s.snapsReady.Load() && !s.draining.Load()
}

// Connections returns the number of open connections.
func (s *Server) Connections() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return len(s.conns)
}

// ServeHTTP serves GET /v1/stream.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "expected a WebSocket upgrade: GET /v1/stream with Upgrade: websocket (see docs/protocol.md)", http.StatusBadRequest)
		return
	}
	code, reason := 0, ""
	var claims *auth.Claims
	switch {
	case s.draining.Load():
		code, reason = CloseReconnect, "server draining: reconnect and resume"
	case !s.origins.Allowed(r):
		code, reason = CloseForbiddenOrigin, "origin not allowed"
		s.refusals.warn("websocket refused: origin not allowed", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"))
	default:
		tok := auth.BearerToken(r.Header.Get("Authorization"))
		if tok == "" {
			tok = r.URL.Query().Get("token")
		}
		var err error
		claims, err = s.cfg.Verifier.Verify(tok, r.URL.Query().Get("user"))
		switch {
		case errors.Is(err, auth.ErrExpiredToken):
			code, reason = CloseTokenExpired, "token expired"
		case errors.Is(err, auth.ErrNoToken):
			code, reason = CloseUnauthorized, "no token: send Authorization: Bearer or ?token="
		case err != nil:
			code, reason = CloseUnauthorized, "invalid token"
		}
		if err != nil {
			// The error names the failure, never the token.
			s.refusals.warn("websocket refused: bad token", "remote", r.RemoteAddr, "err", err)
		}
	}
	if code == 0 && !s.register(nil, claims, true) {
		code, reason = CloseTooManyConns, "too many connections for this user"
	}
	ws, err := s.upgrader.Upgrade(hijackWriter{ResponseWriter: w, s: s}, r, nil)
	if err != nil {
		if code == 0 {
			s.unreserve(claims)
		}
		return // gorilla answered with an HTTP error
	}
	if code != 0 {
		s.reject(ws, code, reason)
		return
	}
	c := &Conn{srv: s, ws: ws, nc: ws.NetConn().(*corkConn), user: claims.User(),
		lim: rate.NewLimiter(rate.Limit(s.cfg.InboundRate), s.cfg.InboundBurst)}
	s.register(c, claims, false)
	c.sendRaw("", mustJSON(&wireWelcome{Type: "welcome", Node: s.cfg.Node, User: claims.User(), TS: time.Now().UnixMilli(),
		PingInterval: int(s.cfg.PingInterval / time.Second), MaxRooms: s.cfg.MaxRooms, MaxMessageBytes: s.cfg.MaxMessageBytes}))
	// After the welcome, so a hint due at once (a token near its end)
	// follows it.
	c.setToken(claims, time.Now())
	if s.draining.Load() {
		c.closeWith(CloseReconnect, "server draining: reconnect and resume")
	}
	// The read loop gets a goroutine of its own so this handler returns:
	// net/http's per-connection state (its bufio buffers, the response,
	// the serving goroutine's grown stack) becomes garbage, which roughly
	// halves the memory of an idle connection.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.readLoop()
	}()
}

// reject sends one close frame and drops the connection, after reading
// briefly so the close is not lost to a TCP reset.
func (s *Server) reject(ws *websocket.Conn, code int, reason string) {
	s.m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	ws.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			break
		}
	}
	ws.Close()
}

// register reserves a user's connection slot (c == nil) or adds c to the
// connection set once reserved.
func (s *Server) register(c *Conn, claims *auth.Claims, reserve bool) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if reserve {
		if s.cfg.Verifier.Disabled() || s.cfg.MaxConnsPerUser < 0 {
			return true
		}
		if s.users[claims.User()] >= s.cfg.MaxConnsPerUser {
			return false
		}
		s.users[claims.User()]++
		return true
	}
	s.conns[c] = struct{}{}
	s.m.connections.Inc()
	return true
}

func (s *Server) unreserve(claims *auth.Claims) {
	if claims == nil || s.cfg.Verifier.Disabled() || s.cfg.MaxConnsPerUser < 0 {
		return
	}
	s.connMu.Lock()
	if s.users[claims.User()]--; s.users[claims.User()] <= 0 {
		delete(s.users, claims.User())
	}
	s.connMu.Unlock()
}

func (s *Server) unregister(c *Conn) {
	s.connMu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.m.connections.Dec()
	}
	s.connMu.Unlock()
	s.unreserve(c.claims.Load())
}

func (s *Server) allConns() []*Conn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Drain is the lame-duck phase: readiness fails, new connections are
// closed with 4012 at once, and open ones are closed with 4012 spread
// evenly over Config.DrainWindow, in random order, so their reconnects do
// not arrive at once. It returns when every connection is gone or ctx ends.
func (s *Server) Drain(ctx context.Context) {
	s.draining.Store(true)
	conns := s.allConns()
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	s.log.Info("draining", "connections", len(conns), "window", s.cfg.DrainWindow)
	start := time.Now()
	for i, c := range conns {
		at := start.Add(time.Duration(int64(s.cfg.DrainWindow) * int64(i) / int64(len(conns))))
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		c.closeWith(CloseReconnect, "server draining: reconnect and resume")
	}
	for s.Connections() > 0 && ctx.Err() == nil {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// Close drops every connection at once and waits for the server's
// connection goroutines. Run's loops stop with Run's context.
func (s *Server) Close() {
	s.draining.Store(true)
	s.cancel()
	for _, c := range s.allConns() {
		c.nc.Close()
	}
	s.wg.Wait()
}

// hijackWriter hands gorilla a corkConn instead of the raw connection, so
// the writer can put several WebSocket messages into one socket write.
type hijackWriter struct {
	http.ResponseWriter
	s *Server
}

func (h hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("pushers: response writer cannot hijack")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Not *net.TCPConn only: the role's listener wraps its connections
	// (internal/httpserver counts them per address) and passes this on.
	if tc, ok := nc.(interface{ SetWriteBuffer(int) error }); ok && h.s.cfg.SocketWriteBuffer > 0 {
		tc.SetWriteBuffer(h.s.cfg.SocketWriteBuffer)
	}
	cc := &corkConn{Conn: nc, pool: &h.s.bufPool}
	if brw.Reader.Buffered() > 0 {
		// The client sent data before the handshake finished: gorilla
		// refuses it on seeing the buffered bytes.
		return cc, brw, nil
	}
	cc.rc = rawConnOf(nc)
	// A reader of our own, smaller than net/http's 4 KiB: client messages
	// are small, larger ones are read through it. gorilla reuses a
	// hijacked reader larger than 256 bytes when ReadBufferSize is 0.
	cc.br = bufio.NewReaderSize(cc, readBufferSize)
	return cc, &bufio.ReadWriter{Reader: cc.br, Writer: brw.Writer}, nil
}

// readBufferSize is each connection's read buffer (gorilla's reader).
const readBufferSize = 512

// corkMax bounds the bytes collected before a corked write goes out, and
// the batches the shared writers take (writeTurn).
const corkMax = 64 << 10

// corkConn collects writes between cork and flush into one buffer, so a
// batch of messages costs one syscall. Outside cork it writes through.
// mu serialises the writer with gorilla's control-frame writes from the
// reader goroutine.
//
// Write deadlines: gorilla sets one before every frame it writes; here
// that only records it, and it reaches the socket before a write that may
// block (applyDeadline), once per batch. The shared writers never block:
// they write what the socket takes now (flushNB) and pass the rest to a
// goroutine of the connection's that blocks with the deadline.
type corkConn struct {
	net.Conn
	// br is gorilla's reader of this connection, when it is ours
	// (hijackWriter): the read loop waits for the socket only when br
	// holds nothing (waitReadable).
	br *bufio.Reader
	// rc is the socket, for waiting and non-blocking writes; nil when
	// the connection is not a plain socket (the SSE bridge's pipe).
	rc     syscall.RawConn
	pool   *sync.Pool
	mu     sync.Mutex
	corked bool
	nb     bool // corked for flushNB: keep everything, write nothing
	buf    *[]byte
	// deadline is what gorilla asked for; applied what the socket has.
	deadline, applied time.Time
}

// SetWriteDeadline records t for the next write that may block.
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// applyDeadline gives the socket the recorded deadline. c.mu is held.
func (c *corkConn) applyDeadline() error {
	if c.deadline.Equal(c.applied) {
		return nil
	}
	c.applied = c.deadline
	return c.Conn.SetWriteDeadline(c.deadline)
}

// writeBlocking writes b to the socket with the recorded deadline, which it
// then clears when non-blocking writes use the socket too (an expired
// deadline would fail them). c.mu is held.
func (c *corkConn) writeBlocking(b []byte) (int, error) {
	if err := c.applyDeadline(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	if c.rc != nil && !c.applied.IsZero() {
		c.deadline, c.applied = time.Time{}, time.Time{}
		c.Conn.SetWriteDeadline(time.Time{})
	}
	return n, err
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.writeBlocking(p)
	}
	b := *c.buf
	if c.nb {
		*c.buf = append(b, p...)
		return len(p), nil
	}
	if len(b)+len(p) > corkMax && len(b) > 0 {
		if _, err := c.writeBlocking(b); err != nil {
			return 0, err
		}
		b = b[:0]
	}
	if len(p) >= corkMax {
		*c.buf = b
		return c.writeBlocking(p)
	}
	*c.buf = append(b, p...)
	return len(p), nil
}

func (c *corkConn) cork(nb bool) {
	c.mu.Lock()
	c.corkLocked(nb)
}

// tryCorkNB corks for flushNB unless a write holds the connection (the
// reader answering a ping or a close, blocked on a full socket): a shared
// writer must not wait for it. Once corked, such writes only append.
func (c *corkConn) tryCorkNB() bool {
	if !c.mu.TryLock() {
		return false
	}
	c.corkLocked(true)
	return true
}

// corkLocked corks; c.mu is held and released.
func (c *corkConn) corkLocked(nb bool) {
	c.corked, c.nb = true, nb
	if v, ok := c.pool.Get().(*[]byte); ok {
		c.buf = v
	} else {
		b := make([]byte, 0, 4096)
		c.buf = &b
	}
	c.mu.Unlock()
}

// release returns a cork buffer to the pool. c.mu is held.
func (c *corkConn) release(bp *[]byte) {
	*bp = (*bp)[:0]
	if cap(*bp) <= corkMax*2 {
		c.pool.Put(bp)
	}
}

func (c *corkConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if b := *c.buf; len(b) > 0 {
		_, err = c.writeBlocking(b)
	}
	c.release(c.buf)
	c.buf, c.corked, c.nb = nil, false, false
	return err
}

// unsent is what flushNB could not write without blocking: (*buf)[off:].
type unsent struct {
	buf *[]byte
	off int
}

// flushNB writes what was collected since cork(true) as far as the socket
// takes it without blocking, and returns the rest (nil when all went).
func (c *corkConn) flushNB() (*unsent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bp := c.buf
	b := *bp
	c.buf, c.corked, c.nb = nil, false, false
	n := 0
	var err error
	if len(b) > 0 {
		n, err = writeNB(c.rc, b)
	}
	if err == nil && n < len(b) {
		return &unsent{buf: bp, off: n}, nil
	}
	c.release(bp)
	return nil, err
}

// writeUnsent writes what flushNB left, blocking up to deadline.
func (c *corkConn) writeUnsent(u *unsent, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = deadline
	_, err := c.writeBlocking((*u.buf)[u.off:])
	c.release(u.buf)
	return err
}
