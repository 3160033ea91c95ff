package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BroadcastConfig configures the fan-out baseline: the broadcast server of
// gorilla/websocket's chat example, fed the same frames as the pushers.
type BroadcastConfig struct {
	// Addr is the listen address.
	Addr string
	// Brokers and FramesTopic are where the frames come from.
	Brokers     []string
	FramesTopic string
	// ReadyFile, if set, gets the bound address written to it once listening.
	ReadyFile string
	// Direct makes it the per-message baseline: no Kafka; it takes the
	// events itself on POST /v1/rooms/{room}/events (ingest's request
	// shape) and sends each event at once as a frame of its own to the
	// room's clients, one WriteMessage per event per client — what a
	// per-message server (Centrifugo's memory engine, the gorilla chat
	// example) does.
	Direct bool
	// KafkaTrip makes it the floor of Ovation's fixed shape (see
	// serveKafkaTrip): it takes the events as Direct does, but each one
	// goes through Kafka before it is sent. Brokers empty means an
	// embedded kfake broker configured as `ovation dev` configures its
	// own, listening on KafkaListen with its data in DataDir.
	KafkaTrip bool
	// KafkaListen and DataDir are the embedded broker's (KafkaTrip with no
	// Brokers): "" means 127.0.0.1:0 and a temporary directory.
	KafkaListen string
	DataDir     string
	// TripTopic is the topic the floor produces to and reads back (created
	// with Partitions partitions, 0 meaning 4, and deleted at the end on
	// real brokers); "" means ovation-bench.kafka-trip.
	TripTopic  string
	Partitions int
}

// ServeBroadcast runs the fan-out baseline until ctx ends: a minimal gorilla
// server as the library's chat example writes one. Each client has a
// buffered channel of 256 messages and a write pump that calls
// WriteMessage once per frame; a hub goroutine reads the frames topic and
// hands every frame to the channels of the room's clients (a full channel
// drops the client, as the example does). It speaks just enough of
// docs/protocol.md for the bench's viewers: welcome, subscribe →
// subscribed + an empty snapshot at the room's latest seq, then frames.
// The frame message is built once per frame, as any sensible server would.
func ServeBroadcast(ctx context.Context, cfg BroadcastConfig, log *slog.Logger) error {
	if cfg.Direct {
		return serveDirect(ctx, cfg, log)
	}
	if cfg.KafkaTrip {
		return serveKafkaTrip(ctx, cfg, log)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(cfg.FramesTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	h := &hub{rooms: map[string]*bRoom{}}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.serve(c)
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	log.Info("broadcast baseline listening", "addr", ln.Addr().String())
	if cfg.ReadyFile != "" {
		if err := writeFileAtomic(cfg.ReadyFile, []byte(ln.Addr().String())); err != nil {
			return err
		}
	}
	var f msgFields
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(rec *kgo.Record) {
			if !scanMessage(rec.Value, &f) || len(rec.Value) < 2 {
				return
			}
			msg := make([]byte, 0, len(rec.Value)+16)
			msg = append(msg, `{"type":"frame",`...)
			msg = append(msg, rec.Value[1:]...)
			h.broadcast(string(f.room), string(f.epoch), f.seq, msg)
		})
	}
	h.closeAll()
	return nil
}

// serveDirect is the per-message baseline (BroadcastConfig.Direct).
func serveDirect(ctx context.Context, cfg BroadcastConfig, log *slog.Logger) error {
	h := &hub{rooms: map[string]*bRoom{}}
	return servePerEvent(ctx, cfg, log, h, func(w http.ResponseWriter, r *http.Request, room, user string, evs []directEvent) bool {
		for i := range evs {
			h.publish(room, user, &evs[i])
		}
		return true
	}, "per-message baseline listening")
}

// servePerEvent serves the viewers' WebSocket and the publish requests of
// the per-message baseline and of the kafka-trip floor until ctx ends:
// each request's events are parsed alike and handed to take, which
// answers an error itself and reports false, or true to have them
// accepted. It logs listening with the address and attrs once it listens.
func servePerEvent(ctx context.Context, cfg BroadcastConfig, log *slog.Logger, h *hub, take func(w http.ResponseWriter, r *http.Request, room, user string, evs []directEvent) bool, listening string, attrs ...any) error {
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.serve(c)
	})
	mux.HandleFunc("POST /v1/rooms/{room}/events", func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		user := r.URL.Query().Get("user")
		var evs []directEvent
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&evs); err != nil || room == "" {
			http.Error(w, `{"error":{"code":"bad_request"}}`, http.StatusBadRequest)
			return
		}
		if !take(w, r, room, user, evs) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"accepted":%d,"rejected":0}`, len(evs))
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	log.Info(listening, append([]any{"addr", ln.Addr().String()}, attrs...)...)
	if cfg.ReadyFile != "" {
		if err := writeFileAtomic(cfg.ReadyFile, []byte(ln.Addr().String())); err != nil {
			return err
		}
	}
	<-ctx.Done()
	h.closeAll()
	return nil
}

// directEvent is one client event as ingest takes it.
type directEvent struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// directFrame is the frame the per-message baseline sends for one event,
// in docs/protocol.md's shape, so the same viewers read both servers.
type directFrame struct {
	Type  string      `json:"type"`
	Room  string      `json:"room"`
	Epoch string      `json:"epoch"`
	Seq   uint64      `json:"seq"`
	TS    int64       `json:"ts"`
	Delta directDelta `json:"delta"`
}

type directDelta struct {
	Chat      []directChat     `json:"chat,omitempty"`
	Reactions map[string]int64 `json:"reactions,omitempty"`
}

type directChat struct {
	ID   string `json:"id"`
	User string `json:"user"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
}

// publish sends one event to the room's clients as a frame of its own.
func (h *hub) publish(room, user string, ev *directEvent) {
	now := time.Now().UnixMilli()
	if f, ok := directFrameOf(room, user, "direct", ev, now, now); ok {
		h.send(&f)
	}
}

// directFrameOf is the one-event frame both per-event baselines send:
// frameTS is when the frame is made, lineTS the event's ingest time (what
// the viewers' chat latency is measured from). ok is false for an event
// whose data does not decode.
func directFrameOf(room, user, epoch string, ev *directEvent, frameTS, lineTS int64) (directFrame, bool) {
	f := directFrame{Type: "frame", Room: room, Epoch: epoch, TS: frameTS}
	switch ev.Type {
	case "chat.message":
		var d struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(ev.Data, &d) != nil {
			return f, false
		}
		f.Delta.Chat = []directChat{{ID: ev.ID, User: user, Text: d.Text, TS: lineTS}}
	default:
		var d struct {
			Emoji string `json:"emoji"`
		}
		if json.Unmarshal(ev.Data, &d) != nil {
			return f, false
		}
		f.Delta.Reactions = map[string]int64{d.Emoji: 1}
	}
	return f, true
}

// send gives f the room's next seq, encodes it once and queues it to every
// client of the room, one WriteMessage each (a full queue drops the client,
// as the chat example does).
func (h *hub) send(f *directFrame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.room(f.Room)
	r.epoch = f.Epoch
	r.seq++
	f.Seq = r.seq
	msg, err := json.Marshal(f)
	if err != nil {
		return
	}
	for cl := range r.clients {
		select {
		case cl.send <- msg:
		default:
			delete(r.clients, cl)
			cl.stop()
		}
	}
}

type hub struct {
	mu    sync.Mutex
	rooms map[string]*bRoom
}

type bRoom struct {
	epoch   string
	seq     uint64
	clients map[*bClient]struct{}
}

type bClient struct {
	c    *websocket.Conn
	send chan []byte
	once sync.Once
}

func (h *hub) room(name string) *bRoom {
	r := h.rooms[name]
	if r == nil {
		r = &bRoom{clients: map[*bClient]struct{}{}}
		h.rooms[name] = r
	}
	return r
}

func (h *hub) broadcast(room, epoch string, seq uint64, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.room(room)
	r.epoch, r.seq = epoch, seq
	for cl := range r.clients {
		select {
		case cl.send <- msg:
		default:
			delete(r.clients, cl)
			cl.stop()
		}
	}
}

func (cl *bClient) stop() { cl.once.Do(func() { close(cl.send) }) }

// writePump is a client's writer: one WriteMessage per queued message. It
// is a named method so that CPU profiles show the socket writes apart
// (cpuShares).
func (cl *bClient) writePump() {
	defer cl.c.Close()
	for msg := range cl.send {
		cl.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := cl.c.WriteMessage(websocket.TextMessage, msg); err != nil {
			return
		}
	}
	cl.c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4009, "too slow"))
}

func (h *hub) serve(c *websocket.Conn) {
	cl := &bClient{c: c, send: make(chan []byte, 256)}
	cl.send <- []byte(`{"type":"welcome","node":"gorilla-baseline","user":"bench","ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"ping_interval":25,"max_rooms":100,"max_message_bytes":32768}`)
	go cl.writePump()
	// Read pump: subscribe requests only.
	var f msgFields
	joined := []string{}
	defer func() {
		h.mu.Lock()
		for _, name := range joined {
			delete(h.room(name).clients, cl)
		}
		h.mu.Unlock()
		cl.stop()
	}()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if !scanMessage(msg, &f) {
			continue
		}
		room := string(f.room)
		if room == "" {
			continue
		}
		h.mu.Lock()
		r := h.room(room)
		r.clients[cl] = struct{}{}
		epoch, seq := r.epoch, r.seq
		select {
		case cl.send <- []byte(`{"type":"subscribed","id":"s","room":"` + room + `","epoch":"` + epoch + `","seq":` + strconv.FormatUint(seq, 10) + `,"recovered":false}`):
		default:
		}
		select {
		case cl.send <- []byte(`{"type":"snapshot","room":"` + room + `","epoch":"` + epoch + `","seq":` + strconv.FormatUint(seq, 10) + `,"ts":0,"state":{}}`):
		default:
		}
		h.mu.Unlock()
		joined = append(joined, room)
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		for cl := range r.clients {
			cl.stop()
		}
	}
}

// kafkaBaseline measures a bare franz-go producer and consumer on a fresh
// topic with the pipeline's partition count: events of the same size
// produced as fast as the client allows, and read back. Its events/s is
// what the Kafka path alone can do here, the yardstick for ingest plus
// aggregation.
type kafkaBaselineResult struct {
	Events        int64   `json:"events"`
	Seconds       float64 `json:"seconds"`
	ProducedPerS  float64 `json:"produced_per_s"`
	ConsumedPerS  float64 `json:"consumed_per_s"`
	Partitions    int     `json:"partitions"`
	EventBytes    int     `json:"event_bytes"`
	ConsumeLagEnd int64   `json:"consume_lag_end"`
	// ClientCPUPerEventUS is the bench process's CPU (producer and
	// consumer) per event; the broker's own CPU is not in it.
	ClientCPUPerEventUS float64 `json:"client_cpu_us_per_event"`
}

func kafkaBaseline(ctx context.Context, brokers []string, partitions int, d time.Duration, gen *eventGen, rooms []string) (kafkaBaselineResult, error) {
	var res kafkaBaselineResult
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return res, err
	}
	defer adm.Close()
	ad := kadm.NewClient(adm)
	topic := "ovation-bench-baseline-" + gen.run
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := ad.CreateTopic(tctx, int32(partitions), 1, nil, topic); err != nil {
		return res, fmt.Errorf("create %s: %w", topic, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ad.DeleteTopics(dctx, topic)
	}()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(50_000))
	if err != nil {
		return res, err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer cons.Close()

	var produced, consumed atomic.Int64
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for rctx.Err() == nil {
			fs := cons.PollFetches(rctx)
			consumed.Add(int64(fs.NumRecords()))
		}
	}()
	start := time.Now()
	cpu0, _ := readProc(os.Getpid())
	pctx, pcancel := context.WithTimeout(ctx, d)
	defer pcancel()
	var b []byte
	for k := 0; pctx.Err() == nil; k++ {
		room := rooms[k%len(rooms)]
		b = gen.appendEnvelope(b[:0], room, "pub-0", time.Now().UnixMilli())
		res.EventBytes = len(b)
		prod.Produce(pctx, &kgo.Record{Key: []byte(room), Value: append([]byte(nil), b...)}, func(_ *kgo.Record, err error) {
			if err == nil {
				produced.Add(1)
			}
		})
	}
	fctx, fcancel := context.WithTimeout(ctx, 15*time.Second)
	prod.Flush(fctx)
	fcancel()
	prodDur := time.Since(start)
	// Let the consumer catch up, bounded.
	deadline := time.Now().Add(15 * time.Second)
	for consumed.Load() < produced.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	consDur := time.Since(start)
	rcancel()
	wg.Wait()
	cpu1, _ := readProc(os.Getpid())
	if n := produced.Load(); n > 0 {
		res.ClientCPUPerEventUS = float64((cpu1.cpu - cpu0.cpu).Microseconds()) / float64(n)
	}
	res.Events = produced.Load()
	res.Seconds = prodDur.Seconds()
	res.Partitions = partitions
	res.ProducedPerS = float64(res.Events) / prodDur.Seconds()
	res.ConsumedPerS = float64(consumed.Load()) / consDur.Seconds()
	res.ConsumeLagEnd = res.Events - consumed.Load()
	return res, nil
}
