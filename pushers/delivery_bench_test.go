package pushers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkDelivery measures the pushers' path from a frame entering a
// room (hub.addFrame, as the frames reader calls it) to the subscribers'
// sockets, on real loopback connections whose clients count the bytes
// without decoding them. quiet: 20 rooms of 10 viewers, each frame one
// chat line in the next room, so every delivery is a write of its own
// (the case the issue-18 profile blames); hot: 1 room of 1,000 viewers.
// Frames go in rounds (one per room) and the next round starts when every
// viewer has the last, so nobody falls behind and nothing is merged. Both
// writer paths run in one process, alternating, so their ratio is from the
// same conditions:
//
//	go test ./pushers -run '^$' -bench BenchmarkDelivery/quiet -benchtime 20000x -count 3
//	go test ./pushers -run '^$' -bench BenchmarkDelivery/hot -benchtime 300x -count 3
//
// cpu-µs/delivery is the process's CPU (pusher and clients) per frame per
// subscriber; the clients' share is the same for both.
func BenchmarkDelivery(b *testing.B) {
	for _, shape := range []struct {
		name           string
		rooms, viewers int
	}{{"quiet", 20, 10}, {"hot", 1, 1000}} {
		for _, shared := range []bool{false, true} {
			name := shape.name + "/" + map[bool]string{false: "writers=goroutine-per-conn", true: "writers=shared"}[shared]
			b.Run(name, func(b *testing.B) { benchDelivery(b, shape.rooms, shape.viewers, shared) })
		}
	}
}

func benchDelivery(b *testing.B, rooms, viewers int, shared bool) {
	{
		{
			old := sharedWriters
			sharedWriters = shared
			defer func() { sharedWriters = old }()
			s, err := New(Config{Node: "bench", Verifier: mustDisabledVerifier(b), Log: quietLog(), MaxConnsPerUser: -1})
			if err != nil {
				b.Fatal(err)
			}
			s.framesReady.Store(true)
			s.snapsReady.Store(true)
			hs := httptest.NewServer(s)
			defer func() { s.Close(); hs.Close() }()
			url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/?user=v"
			counts := make([]*atomic.Int64, rooms*viewers)
			var wg sync.WaitGroup
			for i := range counts {
				ws, _, err := websocket.DefaultDialer.Dial(url+strconv.Itoa(i), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer ws.Close()
				room := "q" + strconv.Itoa(i%rooms)
				ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","id":"s","room":"`+room+`"}`))
				for {
					_, m, err := ws.ReadMessage()
					if err != nil {
						b.Fatal(err)
					}
					if strings.Contains(string(m), `"type":"snapshot"`) {
						break
					}
				}
				n := new(atomic.Int64)
				counts[i] = n
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 4096)
					nc := ws.NetConn()
					for {
						k, err := nc.Read(buf)
						n.Add(int64(k))
						if err != nil {
							return
						}
					}
				}()
			}
			// Frames: one chat line each, ~300 bytes on the wire, in
			// rounds of one per room; the next round starts when every
			// viewer has the last one (quiet rooms: nobody falls behind,
			// nothing is merged).
			frames := make([]*frameMsg, b.N)
			sizes := make([]int64, b.N)
			for i := range frames {
				r := i % rooms
				f := &frameMsg{room: "q" + strconv.Itoa(r), epoch: "e", seq: uint64(i/rooms + 1), recTS: time.Now().UnixMilli()}
				f.wire = mustJSON(&wireFrame{Type: "frame", Room: f.room, Epoch: "e", Seq: f.seq, TS: time.Now().UnixMilli(), Delta: randomDelta(i, 1, 60)})
				frames[i] = f
				sizes[i] = int64(len(f.wire)) + 2
				if len(f.wire) >= 126 {
					sizes[i] += 2
				}
			}
			want := make([]int64, rooms)
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ReportAllocs()
			b.ResetTimer()
			deadline := time.Now().Add(60 * time.Second)
			for i, f := range frames {
				s.hub.addFrame(f)
				want[i%rooms] += sizes[i]
				if i%rooms != rooms-1 && i != len(frames)-1 {
					continue
				}
				for v, n := range counts {
					for n.Load() < want[v%rooms] {
						if time.Now().After(deadline) {
							b.Fatalf("viewer %d got %d of %d bytes", v, n.Load(), want[v%rooms])
						}
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
			deliveries := float64(b.N * viewers)
			b.ReportMetric(float64(cpu.Microseconds())/deliveries, "cpu-µs/delivery")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
			w := counterValue(s.m.writes)
			b.ReportMetric(w/deliveries, "writes/delivery")
		}
	}
}

func mustDisabledVerifier(tb testing.TB) *authVerifier {
	v, err := newDisabledVerifier()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

var _ = io.Discard
var _ http.Handler
