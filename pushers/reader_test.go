package pushers

import (
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// maskedFrame is one client frame (FIN, opcode op, masked) of payload p.
func maskedFrame(op byte, p []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	b := []byte{0x80 | op}
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	default:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	}
	b = append(b, key[:]...)
	for i, c := range p {
		b = append(b, c^key[i%4])
	}
	return b
}

// TestPongsKeepIdleConnectionOpen: the pusher pings every PingInterval (at
// most once a second) and closes a connection silent for twice that. A client answering with
// empty pongs (taken off the socket by the idle reader, waitReadable),
// one answering with pongs that carry a payload (read by gorilla), and one
// whose pong arrives in the same segment as a request all stay open and
// keep being served; a client that never answers is closed.
func TestPongsKeepIdleConnectionOpen(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	s := startServer(t, brokers, topics, func(c *Config) { c.PingInterval = 1500 * time.Millisecond })
	hdr := http.Header{"Authorization": {"Bearer " + allRooms(t, "pinged")}}
	dial := func() *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(s.url, hdr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	type got struct {
		pings int
		msgs  []string
		err   error
	}
	// reader reads until the connection ends, answering pings with pong(payload).
	reader := func(ws *websocket.Conn, payload string, raw bool) chan got {
		ch := make(chan got, 1)
		var g got
		ws.SetPingHandler(func(string) error {
			g.pings++
			if raw {
				// The pong and a request in one write: one segment.
				req := maskedFrame(websocket.TextMessage, []byte(`{"op":"ping","id":"after-pong"}`))
				_, err := ws.NetConn().Write(append(maskedFrame(websocket.PongMessage, nil), req...))
				return err
			}
			return ws.WriteControl(websocket.PongMessage, []byte(payload), time.Now().Add(time.Second))
		})
		go func() {
			for {
				_, m, err := ws.ReadMessage()
				if err != nil {
					g.err = err
					ch <- g
					return
				}
				g.msgs = append(g.msgs, string(m))
			}
		}()
		return ch
	}
	empty, withPayload, sameSegment, silent := dial(), dial(), dial(), dial()
	chEmpty := reader(empty, "", false)
	chPayload := reader(withPayload, "keepalive", false)
	chSame := reader(sameSegment, "", true)
	// silent never reads: its pings are never answered.
	time.Sleep(4500 * time.Millisecond) // 2 pings (the sweep runs every second: one every 2 s), 1.5 read deadlines (3 s)
	for _, ws := range []*websocket.Conn{empty, withPayload} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":"still-here"}`)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, ws := range []*websocket.Conn{empty, withPayload, sameSegment} {
		ws.Close()
	}
	for name, ch := range map[string]chan got{"empty pongs": chEmpty, "pongs with payload": chPayload, "pong and request in one segment": chSame} {
		g := <-ch
		var ce *websocket.CloseError
		if errors.As(g.err, &ce) {
			t.Errorf("%s: the pusher closed the connection: %v", name, g.err)
		}
		if g.pings < 2 {
			t.Errorf("%s: %d pings in 4.5 s at 1.5 s", name, g.pings)
		}
		want := `"id":"still-here"`
		if name == "pong and request in one segment" {
			want = `"id":"after-pong"`
		}
		n := 0
		for _, m := range g.msgs {
			if strings.Contains(m, `"type":"pong"`) && strings.Contains(m, want) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: no answer to the request after the pongs; got %d messages", name, len(g.msgs))
		}
		if name == "pong and request in one segment" && n < g.pings {
			t.Errorf("%s: %d answers to %d requests sent with the pongs", name, n, g.pings)
		}
	}
	silent.SetReadDeadline(time.Now().Add(3 * time.Second)) // closed 3 s after it connected, without a pong
	for {
		if _, _, err := silent.ReadMessage(); err != nil {
			if os.IsTimeout(err) {
				t.Fatal("a client that never answers pings is still open after 7.5 s")
			}
			break
		}
	}
}

// TestIdleConnMemory opens 10,000 subscribed connections (fewer when the
// open-file limit is lower) to a pusher in a child process, lets the
// pusher ping them all once (the clients answer with empty pongs), and
// checks what each idle connection holds in the Go runtime: at most
// 2.5 KiB of goroutine stack (one reader parked shallow, no writer) and
// 7 KiB of heap and stack together (RSS adds the allocator's slack, about
// 3 KiB: `ovation bench` reports RSS per connection). About 7 s.
func TestIdleConnMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 sockets")
	}
	raiseNoFile()
	var r syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	n := 10000
	if r.Cur < 2*uint64(n)+200 {
		// Both ends of every socket are in this process and the child.
		n = int(r.Cur-200) / 2
		t.Logf("RLIMIT_NOFILE is %d: %d connections", r.Cur, n)
	}
	p := startBenchChild(t, "ours")
	before := p.mem(t)
	bc := dialBench(t, p, n, true)
	defer bc.close()
	time.Sleep(time.Second)
	resp, err := http.Get("http://" + p.addr + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(time.Second)
	after := p.mem(t)
	heap := float64(after.Heap-before.Heap) / float64(n)
	stack := float64(after.Stack-before.Stack) / float64(n)
	t.Logf("%d idle connections: per connection heap %.0f B, stack %.0f B, goroutines %.2f", n, heap, stack, float64(after.Goroutines-before.Goroutines)/float64(n))
	if after.Conns != n {
		t.Fatalf("the pusher holds %d connections, want %d", after.Conns, n)
	}
	// The child is this test binary: under -race (make test) its
	// instrumented reader parks on a deeper stack (4 KiB measured), so the
	// bounds double there; without -race they are the claim itself.
	stackMax, totalMax := 2.5*1024, 7.0*1024
	if raceDetector {
		stackMax, totalMax = 2*stackMax, 2*totalMax
	}
	if stack > stackMax {
		t.Errorf("goroutine stack per idle connection %.0f B, want <= %.1f KiB", stack, stackMax/1024)
	}
	if heap+stack > totalMax {
		t.Errorf("heap and stack per idle connection %.0f B, want <= %.1f KiB", heap+stack, totalMax/1024)
	}
}
