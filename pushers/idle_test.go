package pushers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ovation-live/ovation/schemas"
)

// roomCounts returns the rooms in memory and the evicted rooms indexed.
func (h *hub) roomCounts() (live, idle int) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		live += len(sh.rooms)
		idle += len(sh.idle)
		sh.mu.Unlock()
	}
	return live, idle
}

// TestIdleRoomEvictedAndRestored: a room with history, once nobody
// watches it and its window emptied, leaves memory after RoomIdle and
// keeps only its snapshot's location; the next subscriber gets the exact
// state read back from Kafka, a client that was up to date resumes with
// recovered:true, and new frames flow to both.
func TestIdleRoomEvictedAndRestored(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	s := startServer(t, brokers, topics, func(c *Config) {
		c.Window = 300 * time.Millisecond
		c.RoomIdle = 500 * time.Millisecond
	})
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	room := fmt.Sprintf("idle-%d", time.Now().UnixNano()%1e9)
	for k := 1; k <= 5; k++ {
		if err := p.tick(ctx, map[string]*schemas.Delta{room: randomDelta(k, 2, 30)}); err != nil {
			t.Fatal(err)
		}
	}
	c, _, err := dialClient(s.url, allRooms(t, "watcher"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.subscribe(room)
	c.waitFor(t, 10*time.Second, "state at 5", func(c *tclient) bool { r := c.rooms[room]; return r != nil && r.hadState && r.seq == 5 })
	epoch, seq, st, _ := c.position(room)
	c.send(fmt.Sprintf(`{"op":"unsubscribe","room":%q}`, room))
	c.waitFor(t, 5*time.Second, "unsubscribed", func(c *tclient) bool { return c.rooms[room] == nil })

	deadline := time.Now().Add(15 * time.Second)
	for {
		sh := &s.hub.shards[shardOf(room)]
		sh.mu.Lock()
		_, inMem := sh.rooms[room]
		loc, evicted := sh.idle[room]
		sh.mu.Unlock()
		if !inMem && evicted {
			if loc.epoch != "e1" || loc.seq != 5 {
				t.Fatalf("evicted room keeps snapshot (%s,%d), want (e1,5)", loc.epoch, loc.seq)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room not evicted: in memory %v, indexed %v", inMem, evicted)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A new subscriber: the exact state, from Kafka.
	fresh, _, err := dialClient(s.url, allRooms(t, "fresh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.close()
	fresh.subscribe(room)
	_, _, want := p.room(room)
	fresh.waitFor(t, 10*time.Second, "restored state", func(c *tclient) bool { r := c.rooms[room]; return r != nil && r.hadState && r.seq == 5 })
	fresh.mu.Lock()
	if got := stateJSON(fresh.rooms[room].state); got != stateJSON(want) || len(fresh.violations) > 0 {
		fresh.mu.Unlock()
		t.Fatalf("restored state differs (violations %v)\n got %s\nwant %s", fresh.violations, got, stateJSON(want))
	}
	fresh.mu.Unlock()

	// The old client resumes where it was: nothing missed, recovered.
	back, _, err := dialClient(s.url, allRooms(t, "back"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer back.close()
	back.resume(room, epoch, seq, st)
	back.waitFor(t, 10*time.Second, "resumed", func(c *tclient) bool { r := c.rooms[room]; return r != nil && r.subscribed == 1 })

	if err := p.tick(ctx, map[string]*schemas.Delta{room: randomDelta(6, 1, 10)}); err != nil {
		t.Fatal(err)
	}
	_, _, want = p.room(room)
	for _, cl := range []*tclient{fresh, back} {
		cl.waitFor(t, 10*time.Second, "frame 6", func(c *tclient) bool { return c.rooms[room].seq == 6 })
		cl.mu.Lock()
		r := cl.rooms[room]
		if got := stateJSON(r.state); got != stateJSON(want) || len(cl.violations) > 0 {
			cl.mu.Unlock()
			t.Fatalf("after frame 6: violations %v\n got %s\nwant %s", cl.violations, got, stateJSON(want))
		}
		cl.mu.Unlock()
	}
	back.mu.Lock()
	if r := back.rooms[room]; r.recovered != 1 || r.resets != 0 {
		t.Errorf("resume of an evicted room: recovered %d resets %d, want 1 and 0", r.recovered, r.resets)
	}
	back.mu.Unlock()
	if live, idle := s.hub.roomCounts(); idle != 0 || live < 1 {
		t.Errorf("after the restore: %d rooms in memory, %d indexed; want the room back in memory", live, idle)
	}
}

// memNow returns the live heap (after two GCs) and the process RSS, both
// in bytes, with freed memory returned to the OS first.
func memNow(t testing.TB) (heap, rss uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	return ms.HeapAlloc, rss
}

// TestManyMadeUpRoomsReleased: a pusher serving 300 real rooms (frames
// and snapshots in memory) takes 200 connections that subscribe to 500
// made-up rooms each (100,000 rooms) over loopback and then drop. Once
// the idle sweep ran, the pusher holds none of them: the live heap is
// back within 20% of where it started and at most 4 bytes per made-up
// room over it, and (without -race, whose shadow memory is never
// returned) the process's RSS gave back at least 80% of what it grew.
// No presence report is made for rooms that do not exist. It takes about
// 10 s, 25-40 s with -race on a loaded 2-core machine; a 90 s bound
// stops it.
func TestManyMadeUpRoomsReleased(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 rooms; skipped with -short")
	}
	const conns, perConn = 200, 500
	brokers, topics := testKafka(t, 2)
	s := startServer(t, brokers, topics, func(c *Config) {
		c.MaxRooms = perConn
		c.InboundBurst = 2 * perConn
		c.MaxConnsPerUser = -1
		c.RoomIdle = time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tok := allRooms(t, "crowd")
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	// The rooms the pusher really serves: 10 frames each, snapshots.
	p := newProc(t, brokers, topics)
	served := map[string]*schemas.Delta{}
	for k := 1; k <= 10; k++ {
		for i := range 300 {
			served[fmt.Sprintf("real-%d", i)] = randomDelta(k, 2, 40)
		}
		if err := p.tick(ctx, served); err != nil {
			t.Fatal(err)
		}
	}
	for {
		if r := s.hub.get("real-299"); func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.last == 10 && r.snap != nil && r.snap.seq == 10
		}() {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the pusher did not read the real rooms")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A warm-up round (one connection, its rooms released) first, so the
	// baseline is a pusher that has served before: code pages, pools and
	// runtime structures in, as in production.
	drop(crowd(ctx, t, s, hdr, 1, perConn))
	waitReleased(ctx, t, s, 300)
	baseHeap, baseRSS := memNow(t)
	baseLive, _ := s.hub.roomCounts()
	presence0 := testutil.ToFloat64(s.m.presence)

	start := time.Now()
	wss := crowd(ctx, t, s, hdr, conns, perConn)
	live, _ := s.hub.roomCounts()
	peakHeap, peakRSS := memNow(t)
	t.Logf("%d rooms subscribed over %d connections in %v; heap %d MiB → %d MiB, RSS %d MiB → %d MiB",
		live-baseLive, conns, time.Since(start).Round(time.Millisecond), baseHeap>>20, peakHeap>>20, baseRSS>>20, peakRSS>>20)
	if live-baseLive != conns*perConn {
		t.Fatalf("%d rooms in memory, want %d", live-baseLive, conns*perConn)
	}
	drop(wss)
	dropped := time.Now()
	waitReleased(ctx, t, s, baseLive)
	released := time.Since(dropped)
	heap, rss := memNow(t)
	t.Logf("released in %v; heap %d KiB (start %d KiB, %+.1f%%), RSS %d MiB (start %d MiB, %+.1f%%)",
		released.Round(time.Millisecond), heap>>10, baseHeap>>10, pct(heap, baseHeap), rss>>20, baseRSS>>20, pct(rss, baseRSS))
	if float64(heap) > 1.2*float64(baseHeap) {
		t.Errorf("heap %d B is more than 20%% over the %d B it started at", heap, baseHeap)
	}
	// What stays is per connection, not per room: Go keeps the
	// descriptors of exited goroutines for reuse (two per connection on
	// each side here), a few hundred bytes each.
	if per := (float64(heap) - float64(baseHeap)) / (conns * perConn); per > 4 {
		t.Errorf("%.1f bytes of heap kept per made-up room", per)
	}
	if grew := float64(peakRSS) - float64(baseRSS); !raceDetector && float64(rss)-float64(baseRSS) > 0.2*grew {
		t.Errorf("RSS %d MiB kept more than 20%% of the %d MiB it grew (start %d MiB)", rss>>20, int(grew)>>20, baseRSS>>20)
	}
	if n := testutil.ToFloat64(s.m.presence) - presence0; n != 0 {
		t.Errorf("%v presence reports for made-up rooms", n)
	}
}

// crowd opens conns connections that subscribe to perConn made-up rooms
// each and waits for every subscribed reply.
func crowd(ctx context.Context, t *testing.T, s *testServer, hdr http.Header, conns, perConn int) []*websocket.Conn {
	t.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	wss := make([]*websocket.Conn, conns)
	for i := range conns {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, s.url, hdr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		wss[i] = ws
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for k := range perConn {
				b.Reset()
				fmt.Fprintf(&b, `{"op":"subscribe","id":"%d","room":"made-up-%d-%d"}`, k, i, k)
				if err := ws.WriteMessage(websocket.TextMessage, []byte(b.String())); err != nil {
					errc <- err
					return
				}
			}
			// Each subscribe is answered by subscribed and a snapshot.
			// The connection is read until it is dropped, so it answers
			// the server's pings however long the run takes.
			got := 0
			defer func() {
				go func() {
					for {
						if _, _, err := ws.ReadMessage(); err != nil {
							return
						}
					}
				}()
			}()
			for got < perConn {
				ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, msg, err := ws.ReadMessage()
				if err != nil {
					errc <- fmt.Errorf("conn %d after %d subscribed: %w", i, got, err)
					return
				}
				if strings.HasPrefix(string(msg), `{"type":"subscribed"`) {
					got++
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	return wss
}

// drop closes connections without unsubscribing.
func drop(wss []*websocket.Conn) {
	for _, ws := range wss {
		ws.Close()
	}
}

// waitReleased waits until the pusher holds live rooms, none evicted, and
// no connection.
func waitReleased(ctx context.Context, t *testing.T, s *testServer, live int) {
	t.Helper()
	for {
		l, idle := s.hub.roomCounts()
		if l == live && idle == 0 && s.Connections() == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("rooms not released: %d in memory (want %d), %d indexed, %d connections", l, live, idle, s.Connections())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pct(v, base uint64) float64 { return 100 * (float64(v) - float64(base)) / float64(base) }

// BenchmarkRoomMemory reports what a room costs the pusher: in memory
// (one frame in its window and a warm snapshot of a room with chat and
// reactions) and evicted (only its snapshot's Kafka location), per room,
// side by side with the snapshot's own size. Run with -benchtime=1x; each
// iteration measures 20,000 rooms.
func BenchmarkRoomMemory(b *testing.B) {
	const n = 20_000
	st := schemas.NewRoomState()
	for k := 1; k <= 20; k++ {
		st.Apply(randomDelta(k, 2, 40))
	}
	for b.Loop() {
		s, err := New(Config{Verifier: testVerifier(b), Log: quietLog(), Window: time.Minute, RoomIdle: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		h0, _ := memNow(b)
		var snapBytes int
		for i := range n {
			id := fmt.Sprintf("room-%06d", i)
			f := schemas.Frame{Room: id, Epoch: "e1", Seq: 21, TS: now.UnixMilli(), Delta: *randomDelta(21, 1, 40)}
			fm := &frameMsg{room: id, epoch: "e1", seq: 21, ts: f.TS, recTS: now.UnixMilli(), part: 0, off: int64(i)}
			fm.wire = mustJSON(&wireFrame{Type: "frame", Room: id, Epoch: "e1", Seq: 21, TS: f.TS, Delta: &f.Delta})
			s.hub.addFrame(fm)
			raw, _ := schemas.MarshalSnapshot(&schemas.Snapshot{Room: id, Epoch: "e1", Seq: 21, TS: f.TS, State: st})
			snapBytes = len(raw)
			s.hub.addSnapshot(&snapMsg{room: id, epoch: "e1", seq: 21, ts: f.TS, raw: raw, off: int64(i), bytes: len(raw), recTS: now.UnixMilli()})
		}
		h1, _ := memNow(b)
		// Past the window and the idle timeout: every room is evicted.
		s.hub.sweep(now.Add(3 * time.Minute))
		if live, idle := s.hub.roomCounts(); live != 0 || idle != n {
			b.Fatalf("after the sweep: %d rooms in memory, %d evicted; want 0 and %d", live, idle, n)
		}
		h2, _ := memNow(b)
		b.ReportMetric(float64(int64(h1)-int64(h0))/n, "B/active-room")
		b.ReportMetric(float64(int64(h2)-int64(h0))/n, "B/evicted-room")
		b.ReportMetric(float64(snapBytes), "B/snapshot")
		runtime.KeepAlive(s)
	}
}

// TestEmptySnapshotWire: the hand-built empty snapshot is exactly the
// encoded wireSnapshot of an empty state.
func TestEmptySnapshotWire(t *testing.T) {
	for _, c := range []struct{ room, epoch string }{{"r", ""}, {"made-up-1", "e-2026"}, {"a:b.c_d-e", `we"ird\`}} {
		st := schemas.NewRoomState()
		want := mustJSON(&wireSnapshot{Type: "snapshot", Room: c.room, Epoch: c.epoch, State: &st})
		if got := emptySnapshot(c.room, c.epoch); string(got) != string(want) {
			t.Errorf("%q %q:\n got %s\nwant %s", c.room, c.epoch, got, want)
		}
	}
}

// TestRestartIndexesOldSnapshots: a pusher starting after rooms went idle
// reads their snapshots into the idle index, not into memory, and still
// serves each room's exact state on subscribe.
func TestRestartIndexesOldSnapshots(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	run := fmt.Sprint(time.Now().UnixNano() % 1e9)
	rooms := map[string]*schemas.Delta{}
	for i := range 20 {
		rooms[fmt.Sprintf("old-%s-%d", run, i)] = randomDelta(i, 1, 20)
	}
	for range 3 {
		if err := p.tick(ctx, rooms); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1200 * time.Millisecond) // the records are now older than RoomIdle
	s := startServer(t, brokers, topics, func(c *Config) {
		c.Window = 500 * time.Millisecond
		c.RoomIdle = time.Second
	})
	live, idle := s.hub.roomCounts()
	if live != 0 || idle != len(rooms) {
		t.Fatalf("after start: %d rooms in memory, %d indexed; want 0 and %d", live, idle, len(rooms))
	}
	c, _, err := dialClient(s.url, allRooms(t, "late"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for id := range rooms {
		c.subscribe(id)
	}
	for id := range rooms {
		_, seq, want := p.room(id)
		c.waitFor(t, 10*time.Second, "state of "+id, func(c *tclient) bool { r := c.rooms[id]; return r != nil && r.hadState && r.seq == seq })
		c.mu.Lock()
		if got := stateJSON(c.rooms[id].state); got != stateJSON(want) || len(c.violations) > 0 {
			c.mu.Unlock()
			t.Fatalf("%s: violations %v\n got %s\nwant %s", id, c.violations, got, stateJSON(want))
		}
		c.mu.Unlock()
	}
}
