// Package httpserver serves the HTTP port of every Ovation role with the
// same bounds: timeouts for reading a request's headers, for reading the
// whole request (body included), for writing the answer and for idle
// keep-alive connections; a header size limit; and a cap on the
// connections one client address may hold open, HTTP and WebSocket alike.
// Without them a client could hold a connection (and a goroutine and a
// descriptor) forever by sending a body slowly, or open connections until
// the process runs out of descriptors.
//
// Hijacked connections (WebSockets) manage their own deadlines: gorilla's
// Upgrade clears the deadlines the server set, and the pushers set a read
// deadline per message and a write deadline per write, so the server's
// read and write timeouts never cut a healthy socket. They still count
// against the per-address cap until they close.
package httpserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// Config bounds a role's HTTP server. The zero value of every field means
// its default.
type Config struct {
	// ReadHeaderTimeout bounds reading a request's headers; 0 means 10 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body, from
	// its first byte: the body read deadline. A body still arriving then
	// fails to read, the handler answers, and the connection is closed.
	// 0 means 30 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the answer, counted from the end of the
	// request's headers, so it must also cover the handler's work (an
	// ingest publish waits up to its produce timeout); 0 means 60 s.
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection's wait for its next
	// request; 0 means 120 s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers; 0 means 64 KiB (room
	// for a 16 KiB token).
	MaxHeaderBytes int
	// MaxConnsPerAddr bounds the connections one client IP may hold open
	// (HTTP keep-alive and WebSocket alike); a connection over it is
	// answered 429 and closed. 0 means 1,000; negative means no cap
	// (behind a proxy every client has the proxy's address).
	MaxConnsPerAddr int
}

// Defaults of Config's zero values.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConnsPerAddr   = 1000
)

// WithDefaults returns c with zero values replaced by their defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	return c
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0:
		return errors.New("http timeouts must be positive")
	case c.ReadHeaderTimeout > c.ReadTimeout:
		return fmt.Errorf("--http-read-header-timeout %v is over --http-read-timeout %v", c.ReadHeaderTimeout, c.ReadTimeout)
	case c.MaxHeaderBytes < 4<<10:
		return fmt.Errorf("--http-max-header-bytes %d: want at least 4096", c.MaxHeaderBytes)
	}
	return nil
}

// RegisterFlags adds the --http-* flags that set c to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.ReadHeaderTimeout, "http-read-header-timeout", DefaultReadHeaderTimeout, "HTTP: most time to read a request's headers")
	fs.DurationVar(&c.ReadTimeout, "http-read-timeout", DefaultReadTimeout, "HTTP: most time to read a whole request, body included (slower bodies are cut off and the connection closed)")
	fs.DurationVar(&c.WriteTimeout, "http-write-timeout", DefaultWriteTimeout, "HTTP: most time from a request's headers to the end of its answer (WebSockets set their own deadlines)")
	fs.DurationVar(&c.IdleTimeout, "http-idle-timeout", DefaultIdleTimeout, "HTTP: how long an idle keep-alive connection stays open")
	fs.IntVar(&c.MaxHeaderBytes, "http-max-header-bytes", DefaultMaxHeaderBytes, "HTTP: most bytes of request headers")
	fs.IntVar(&c.MaxConnsPerAddr, "http-max-conns-per-addr", DefaultMaxConnsPerAddr, "HTTP: most connections (HTTP and WebSocket) one client IP may hold open; negative: no cap (behind a proxy)")
}

// Server is an http.Server with c's bounds on a listener that caps
// connections per address. Start it with Serve.
type Server struct {
	srv *http.Server
	ln  *capListener
	log *slog.Logger
}

// New returns a Server for h on ln with cfg's bounds.
func New(ln net.Listener, h http.Handler, cfg Config, log *slog.Logger) *Server {
	cfg = cfg.WithDefaults()
	cl := &capListener{Listener: ln, max: cfg.MaxConnsPerAddr, open: map[string]int{}, log: log,
		logLim: rate.NewLimiter(1, 5)}
	return &Server{
		ln:  cl,
		log: log,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			// net/http's own messages (bad TLS, accept errors) are for
			// debugging; they can be as many as the requests.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
}

// Open returns how many connections are open (accepted and not yet
// closed, hijacked ones included).
func (s *Server) Open() int { return int(s.ln.total.Load()) }

// Serve serves until ctx ends, then shuts down: it stops accepting, lets
// in-flight requests finish within grace, then closes what is left.
// Hijacked connections are their owners' to close. It returns once the
// listener is closed and handlers are done.
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server on %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	<-errc
	return nil
}

// ListenAndServe listens on addr and serves h there with cfg's bounds
// until ctx ends (see Server.Serve): the one way every role serves HTTP.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, cfg Config, log *slog.Logger, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	log.Info("http listening", "addr", ln.Addr().String())
	return New(ln, h, cfg, log).Serve(ctx, grace)
}

// capListener counts open connections per client IP and refuses those
// over the cap as they are accepted. Its map holds only addresses with a
// connection open, so it is bounded by the connections themselves.
type capListener struct {
	net.Listener
	max    int
	log    *slog.Logger
	logLim *rate.Limiter // refusal log lines
	total  atomic.Int64

	mu      sync.Mutex
	open    map[string]int
	refused int64 // since the last log line
}

// tooMany is the answer to a connection over the cap. It is written before
// the request is read; HTTP/1.1 clients read it as the answer to theirs.
var tooMany = func() []byte {
	body := `{"error":{"code":"too_many_connections","message":"this address holds too many open connections; close some"}}` + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		l.mu.Lock()
		if l.max > 0 && l.open[ip] >= l.max {
			l.refused++
			refused := l.refused
			logIt := l.logLim.Allow()
			if logIt {
				l.refused = 0
			}
			l.mu.Unlock()
			if logIt {
				l.log.Warn("http connection refused: the address is at its connection cap", "remote", ip, "cap", l.max, "refused", refused)
			}
			// A fresh socket's send buffer is empty: this write does not
			// wait, and the deadline makes sure of it.
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write(tooMany)
			c.Close()
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		l.total.Add(1)
		return &trackedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *capListener) release(ip string) {
	l.total.Add(-1)
	l.mu.Lock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
	l.mu.Unlock()
}

// trackedConn gives its slot back when it is closed, however often.
type trackedConn struct {
	net.Conn
	l    *capListener
	ip   string
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// SyscallConn passes on the socket of a TCP connection, so wrapping does
// not hide it from the pushers (they wait on it and write to it without
// blocking).
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("httpserver: not a socket")
}

// SetWriteBuffer sets the socket's send buffer when it is a TCP socket, so
// wrapping does not hide it from the pushers.
func (c *trackedConn) SetWriteBuffer(n int) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetWriteBuffer(n)
	}
	return nil
}
