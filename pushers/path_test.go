package pushers

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// TestFrameReachesClientAtOnce: from a frame's commit to a subscriber's
// socket nothing waits on a timer when nothing else is queued — the
// frames reader's fetch returns as soon as the commit makes the frame
// readable (its 500 ms FetchMaxWait only bounds a fetch that finds
// nothing), and there is no batching ticker between the reader and the
// connections. Fifteen frames committed 100 ms apart each reach the client
// in well under the fetch wait.
func TestFrameReachesClientAtOnce(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	s := startServer(t, brokers, topics, nil)
	p := newProc(t, brokers, topics)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	room := fmt.Sprintf("at-once-%d", time.Now().UnixNano()%1e9)
	if err := p.tick(ctx, map[string]*schemas.Delta{room: randomDelta(0, 1, 20)}); err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(s.url+"?token="+allRooms(t, "timer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","id":"s","room":"`+room+`"}`))
	type msg struct {
		Type string `json:"type"`
		Seq  uint64 `json:"seq"`
	}
	got := make(chan msg, 64)
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			var m msg
			json.Unmarshal(b, &m)
			got <- m
		}
	}()
	for m := range got {
		if m.Type == "snapshot" {
			break
		}
	}
	var lat []time.Duration
	for k := 2; k <= 16; k++ {
		time.Sleep(100 * time.Millisecond)
		if err := p.tick(ctx, map[string]*schemas.Delta{room: randomDelta(k, 1, 20)}); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		for m := range got {
			if m.Type == "frame" && m.Seq == uint64(k) {
				lat = append(lat, time.Since(committed))
				break
			}
		}
	}
	if len(lat) != 15 {
		t.Fatalf("%d of 15 frames arrived", len(lat))
	}
	slices.Sort(lat)
	t.Logf("commit → client: min %v, median %v, max %v", lat[0], lat[7], lat[14])
	if lat[7] > 150*time.Millisecond {
		t.Errorf("median commit → client %v: something waits (the fetch's max wait is 500 ms)", lat[7])
	}
}

// TestWritesCoalescedAcrossRooms: frames of several rooms queued for one
// connection while its writer is busy go out in one socket write, in the
// order they were queued.
func TestWritesCoalescedAcrossRooms(t *testing.T) {
	s, err := New(Config{Node: "coalesce", Verifier: mustDisabledVerifier(t), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	s.framesReady.Store(true)
	s.snapsReady.Store(true)
	hs := httptest.NewServer(s)
	defer func() { s.Close(); hs.Close() }()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/?user=u", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	const rooms = 5
	for r := range rooms {
		ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"subscribe","id":"s","room":"c%d"}`, r)))
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for snaps := 0; snaps < rooms; {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"type":"snapshot"`) {
			snaps++
		}
	}
	c := s.allConns()[0]
	// Hold the connection's writer, as if it were busy writing.
	for {
		c.qmu.Lock()
		if !c.writing {
			c.writing = true
			c.qmu.Unlock()
			break
		}
		c.qmu.Unlock()
		time.Sleep(time.Millisecond)
	}
	writes0 := counterValue(s.m.writes)
	for r := range rooms {
		f := &frameMsg{room: fmt.Sprintf("c%d", r), epoch: "e", seq: 1, ts: time.Now().UnixMilli(), recTS: time.Now().UnixMilli()}
		f.wire = mustJSON(&wireFrame{Type: "frame", Room: f.room, Epoch: "e", Seq: 1, TS: f.ts, Delta: randomDelta(r, 1, 20)})
		s.hub.addFrame(f)
	}
	s.wg.Add(1)
	c.startWriter() // the writer is free again
	var order []string
	for len(order) < rooms {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Type, Room string }
		json.Unmarshal(b, &m)
		if m.Type == "frame" {
			order = append(order, m.Room)
		}
	}
	if want := []string{"c0", "c1", "c2", "c3", "c4"}; !slices.Equal(order, want) {
		t.Errorf("frames arrived as %v, want %v", order, want)
	}
	// The writer counts its write after the write returns: the client
	// may have the frames first.
	for end := time.Now().Add(time.Second); counterValue(s.m.writes) == writes0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if w := counterValue(s.m.writes) - writes0; w != 1 {
		t.Errorf("%d frames of %d rooms went out in %.0f socket writes, want 1", rooms, rooms, w)
	}
}

// TestSharedWriterSkipsBusyConnection: a connection whose socket a
// blocked write holds (here: its lock held by the test, as the reader
// answering a ping to a client that stopped reading would) is handed to a
// goroutine of its own; the shared writers go on serving everyone else,
// and the busy one gets its frames once the write lets go.
func TestSharedWriterSkipsBusyConnection(t *testing.T) {
	s, err := New(Config{Node: "busy", Verifier: mustDisabledVerifier(t), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	s.framesReady.Store(true)
	s.snapsReady.Store(true)
	hs := httptest.NewServer(s)
	defer func() { s.Close(); hs.Close() }()
	const busy = 16 // more than the shared writers
	var wss []*websocket.Conn
	for i := range busy + 1 {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+fmt.Sprintf("/?user=u%d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"subscribe","id":"s","room":"b%d"}`, i)))
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), `"type":"snapshot"`) {
				break
			}
		}
		wss = append(wss, ws)
	}
	conns := map[string]*Conn{}
	for _, c := range s.allConns() {
		conns[c.user] = c
	}
	locked := true
	release := func() {
		if locked {
			locked = false
			for i := range busy {
				conns[fmt.Sprintf("u%d", i)].nc.mu.Unlock()
			}
		}
	}
	for i := range busy {
		conns[fmt.Sprintf("u%d", i)].nc.mu.Lock()
	}
	defer release() // before Close, which waits for the writers
	for i := range busy + 1 {
		f := &frameMsg{room: fmt.Sprintf("b%d", i), epoch: "e", seq: 1, ts: time.Now().UnixMilli(), recTS: time.Now().UnixMilli()}
		f.wire = mustJSON(&wireFrame{Type: "frame", Room: f.room, Epoch: "e", Seq: 1, TS: f.ts, Delta: randomDelta(i, 1, 20)})
		s.hub.addFrame(f)
	}
	readFrame := func(ws *websocket.Conn, within time.Duration) error {
		ws.SetReadDeadline(time.Now().Add(within))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return err
			}
			if strings.Contains(string(b), `"type":"frame"`) {
				return nil
			}
		}
	}
	if err := readFrame(wss[busy], 2*time.Second); err != nil {
		t.Fatalf("the free connection got no frame while %d others were busy: %v", busy, err)
	}
	release()
	for i := range busy {
		if err := readFrame(wss[i], 5*time.Second); err != nil {
			t.Fatalf("busy connection %d got no frame once free: %v", i, err)
		}
	}
}
