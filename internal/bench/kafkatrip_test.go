package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaTripFloor runs the floor of the fixed shape in process on its
// embedded kfake broker (as `ovation bench --target dev` runs it) and
// checks what makes it a floor of Ovation's shape and not another
// per-message server: every accepted line is a record in its topic, keyed
// by its room, and every viewer of a room gets every line of the room
// once, in order, with gapless seqs, and no line of another room.
func TestKafkaTripFloor(t *testing.T) {
	dir := t.TempDir()
	kport, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(kport)
	ready := filepath.Join(dir, "addr")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- ServeBroadcast(sctx, BroadcastConfig{Addr: "127.0.0.1:0", ReadyFile: ready, KafkaTrip: true,
			KafkaListen: listen, DataDir: filepath.Join(dir, "data"), Partitions: 2},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("ServeBroadcast: %v", err)
		}
	}()
	var addr string
	for addr == "" {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			addr = string(b)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("ServeBroadcast ended before listening: %v", err)
		case <-ctx.Done():
			t.Fatal("the floor did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}

	const perRoom, lines = 3, 25
	rooms := []string{"trip-a", "trip-b"}
	results := make([]*tripViewer, 0, len(rooms)*perRoom)
	var wg sync.WaitGroup
	subscribed := make(chan struct{}, len(rooms)*perRoom)
	for _, room := range rooms {
		for range perRoom {
			g := &tripViewer{room: room}
			results = append(results, g)
			c, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+"/v1/stream", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.err = readTripViewer(c, room, lines, subscribed, g)
			}()
		}
	}
	for range len(rooms) * perRoom {
		select {
		case <-subscribed:
		case <-ctx.Done():
			t.Fatal("viewers did not subscribe")
		}
	}

	// A request the per-message server refuses is refused here too.
	r, err := http.Post("http://"+addr+"/v1/rooms/trip-a/events?user=u", "application/json", strings.NewReader(`{"not":"a list"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("a malformed body: HTTP %d, want 400", r.StatusCode)
	}
	// One line per request, the rooms concurrently, each room in order.
	var pw sync.WaitGroup
	for _, room := range rooms {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := range lines {
				body := fmt.Sprintf(`[{"id":"%s-%d","type":"chat.message","data":{"text":"line %d"}}]`, room, i, i)
				r, err := http.Post("http://"+addr+"/v1/rooms/"+room+"/events?user=u", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode != http.StatusOK || string(b) != `{"accepted":1,"rejected":0}` {
					t.Errorf("publish to %s: HTTP %d %s", room, r.StatusCode, b)
					return
				}
			}
		}()
	}
	pw.Wait()
	wg.Wait()
	for _, g := range results {
		if g.err != nil {
			t.Errorf("viewer of %s: %v", g.room, g.err)
			continue
		}
		for i := range lines {
			if want := fmt.Sprintf("%s-%d", g.room, i); g.ids[i] != want || g.seqs[i] != uint64(i+1) {
				t.Errorf("viewer of %s: line %d is %s at seq %d, want %s at seq %d", g.room, i, g.ids[i], g.seqs[i], want, i+1)
				break
			}
		}
	}

	// Every line went through Kafka: one record per line in the floor's
	// topic, keyed by its room, in the room's order.
	cl, err := kgo.NewClient(kgo.SeedBrokers(listen), kgo.ConsumeTopics(DefaultTripTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	byRoom := map[string][]string{}
	for n := 0; n < len(rooms)*lines && ctx.Err() == nil; {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(rec *kgo.Record) {
			var ev tripEvent
			if err := json.Unmarshal(rec.Value, &ev); err != nil || ev.Room != string(rec.Key) || ev.TS == 0 {
				t.Errorf("record %s: %v, %+v", rec.Value, err, ev)
			}
			byRoom[string(rec.Key)] = append(byRoom[string(rec.Key)], ev.ID)
			n++
		})
	}
	for _, room := range rooms {
		if ids := byRoom[room]; len(ids) != lines || ids[0] != room+"-0" || ids[lines-1] != fmt.Sprintf("%s-%d", room, lines-1) {
			t.Errorf("records of %s: %v, want %d from %s-0 to %s-%d", room, ids, lines, room, room, lines-1)
		}
	}
}

// tripViewer is what one viewer of TestKafkaTripFloor received.
type tripViewer struct {
	room string
	ids  []string
	seqs []uint64
	err  error
}

// readTripViewer subscribes c to room, signals subscribed, and reads n
// chat lines (each frame one line) into g, failing on another room's frame.
func readTripViewer(c *websocket.Conn, room string, n int, subscribed chan<- struct{}, g *tripViewer) error {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","id":"s","room":"`+room+`"}`)); err != nil {
		return err
	}
	for len(g.ids) < n {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("after %d lines: %w", len(g.ids), err)
		}
		var m directFrame
		if err := json.Unmarshal(msg, &m); err != nil {
			return fmt.Errorf("%s: %w", msg, err)
		}
		switch m.Type {
		case "snapshot":
			subscribed <- struct{}{}
		case "frame":
			if m.Room != room || m.Epoch != "kafka-trip" || len(m.Delta.Chat) != 1 || m.Delta.Chat[0].TS == 0 {
				return fmt.Errorf("frame %s in a viewer of %s", msg, room)
			}
			g.ids = append(g.ids, m.Delta.Chat[0].ID)
			g.seqs = append(g.seqs, m.Seq)
		}
	}
	return nil
}

// TestCPUShares writes a CPU profile with known stacks and checks that
// cpuShares splits it by the first category on each stack.
func TestCPUShares(t *testing.T) {
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	fns := []*profile.Function{
		fn(1, "github.com/twmb/franz-go/pkg/kfake.(*Cluster).handleProduce"),
		fn(2, "github.com/ovation-live/ovation/internal/bench.(*bClient).writePump"),
		fn(3, "github.com/twmb/franz-go/pkg/kgo.(*source).fetch"),
		fn(4, "net/http.(*conn).serve"),
		fn(5, "runtime.gcBgMarkWorker"),
		fn(6, "syscall.write"),
		fn(7, "github.com/ovation-live/ovation/pushers.(*Conn).startWriter.func1.1"),
	}
	locs := make([]*profile.Location, len(fns))
	for i, f := range fns {
		locs[i] = &profile.Location{ID: uint64(i + 1), Line: []profile.Line{{Function: f}}}
	}
	stack := func(ids ...int) []*profile.Location {
		var s []*profile.Location
		for _, id := range ids {
			s = append(s, locs[id-1])
		}
		return s
	}
	sample := func(ns int64, ids ...int) *profile.Sample {
		return &profile.Sample{Value: []int64{ns / 1e7, ns}, Location: stack(ids...)}
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Function:   fns, Location: locs,
		Sample: []*profile.Sample{
			sample(40e6, 6, 1), // broker: kfake writing to its socket
			sample(20e6, 6, 2), // a baseline's write pump
			sample(10e6, 6, 7), // a pusher's writer
			sample(10e6, 3, 1), // kfake first, whatever else is on the stack
			sample(5e6, 3, 4),  // a handler calling franz-go: the clients'
			sample(5e6, 4),     // net/http
			sample(5e6, 5),     // gc
			sample(5e6, 6),     // anything else
		},
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, sampled, err := cpuShares(path)
	if err != nil {
		t.Fatal(err)
	}
	if sampled != 100*time.Millisecond {
		t.Errorf("sampled %v, want 100ms", sampled)
	}
	want := map[string]float64{ShareBroker: 0.5, ShareWriters: 0.3, ShareClients: 0.05, ShareHTTP: 0.05, ShareGC: 0.05, ShareOther: 0.05}
	for k, v := range want {
		if d := got[k] - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("cpuShares = %v, want %v", got, want)
			break
		}
	}
	if _, _, err := cpuShares(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("cpuShares of a missing file: no error")
	}
}
