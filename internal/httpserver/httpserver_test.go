package httpserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start serves h with cfg on a loopback port until the test ends.
func start(t *testing.T, h http.Handler, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(ln, h, cfg, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, ln.Addr().String()
}

// readsBody is a handler like ingest's: it reads the whole body, then
// answers.
var readsBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
})

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestSlowBodies opens 3,000 connections that each send the headers of a
// chunked POST and half a body, then stall. Every one must be closed by
// the server within the read timeout (plus a margin for this loaded
// machine), and once the clients close their ends the process's
// descriptors are back where they started. (Only ReadHeaderTimeout was
// set before: such connections stayed open indefinitely.) It takes about
// the read timeout plus the time to dial 3,000 connections.
func TestSlowBodies(t *testing.T) {
	const (
		conns   = 3000
		timeout = 2 * time.Second
		margin  = 2 * time.Second
	)
	base := openFDs(t)
	s, addr := start(t, readsBody, Config{ReadHeaderTimeout: time.Second, ReadTimeout: timeout, MaxConnsPerAddr: -1})
	type slow struct {
		c       net.Conn
		started time.Time
	}
	all := make([]slow, conns)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var dialErr error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < conns; i += 8 {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					_, err = fmt.Fprintf(c, "POST /v1/rooms/r/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n[{\"type\":\"re")
				}
				if err != nil {
					mu.Lock()
					dialErr = err
					mu.Unlock()
					return
				}
				all[i] = slow{c, time.Now()}
			}
		}()
	}
	wg.Wait()
	if dialErr != nil {
		t.Fatalf("dial: %v", dialErr)
	}
	opened := time.Now()
	if n := s.Open(); n < conns/2 {
		t.Logf("%d of %d connections open at the server after dialing (the rest already timed out)", n, conns)
	}
	// Each connection is answered (400, its body could not be read) and
	// closed by its own start + the read timeout.
	var latest time.Duration
	for i, sl := range all {
		sl.c.SetReadDeadline(sl.started.Add(timeout + margin))
		b, err := io.ReadAll(sl.c)
		if err != nil {
			t.Fatalf("connection %d still open %v after it started (read timeout %v): %v", i, time.Since(sl.started), timeout, err)
		}
		if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
			t.Fatalf("connection %d was answered %q", i, b)
		}
		latest = max(latest, time.Since(sl.started))
		sl.c.Close()
	}
	t.Logf("%d slow bodies: dialed in %v; the last was found closed %v after its start (read timeout %v; read in order, so this is an upper bound)", conns, opened.Sub(all[0].started), latest, timeout)
	deadline := time.Now().Add(5 * time.Second)
	for s.Open() != 0 || openFDs(t) > base+2 {
		if time.Now().After(deadline) {
			t.Fatalf("after the slow bodies: %d connections open at the server, %d descriptors (baseline %d)", s.Open(), openFDs(t), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnCapPerAddr: one address may hold MaxConnsPerAddr connections,
// HTTP keep-alive and WebSocket counted together; the next is answered
// 429 too_many_connections and closed; closing one frees its slot.
func TestConnCapPerAddr(t *testing.T) {
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			mt, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			ws.WriteMessage(mt, b)
		}
	})
	mux.Handle("/", readsBody)
	s, addr := start(t, mux, Config{MaxConnsPerAddr: 3})
	get := func(c net.Conn) string {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return resp.Status
	}
	waitOpen := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.Open() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections open at the server, want %d", s.Open(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Two keep-alive HTTP connections and one WebSocket.
	var keep []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if st := get(c); st != "200 OK" {
			t.Fatalf("connection %d: %s", i, st)
		}
		keep = append(keep, c)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	waitOpen(3)
	// The fourth, HTTP or WebSocket, is refused.
	c4, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if st := get(c4); st != "429 Too Many Requests" {
		t.Errorf("fourth HTTP connection: %s, want 429", st)
	}
	c4.Close()
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Errorf("fourth connection, a WebSocket: %v %v, want a 429 answer", err, resp)
	}
	if resp != nil {
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"code":"too_many_connections"`) {
			t.Errorf("429 body %q", b)
		}
	}
	// Closing one frees a slot.
	keep[0].Close()
	waitOpen(2)
	c5, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c5.Close()
	if st := get(c5); st != "200 OK" {
		t.Errorf("after a close: %s, want 200", st)
	}
	// The WebSocket still works.
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != "hi" {
		t.Fatalf("echo: %q %v", b, err)
	}
}

// TestWebSocketOutlivesTimeouts: a WebSocket is a hijacked connection,
// whose deadlines are its handler's (gorilla clears the server's at
// upgrade). One that stays open well past the read, write and idle
// timeouts keeps working.
func TestWebSocketOutlivesTimeouts(t *testing.T) {
	up := websocket.Upgrader{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			mt, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			ws.WriteMessage(mt, b)
		}
	})
	const short = 300 * time.Millisecond
	_, addr := start(t, h, Config{ReadHeaderTimeout: short, ReadTimeout: short, WriteTimeout: short, IdleTimeout: short})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for i := 0; i < 3; i++ {
		time.Sleep(2 * short)
		msg := fmt.Sprintf("still here %d", i)
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatalf("write after %v: %v", time.Duration(2*(i+1))*short, err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, b, err := ws.ReadMessage(); err != nil || string(b) != msg {
			t.Fatalf("echo after %v: %q %v", time.Duration(2*(i+1))*short, b, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, c := range []Config{
		{ReadTimeout: -1},
		{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Second},
		{MaxHeaderBytes: 100},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
}
