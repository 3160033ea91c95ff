package pushers

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"
	"golang.org/x/time/rate"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// closeGrace is how long the server waits for the client's close reply
// after sending a close frame, before it drops the TCP connection.
const closeGrace = 2 * time.Second

// maxEpochLen bounds the epoch a client may send.
const maxEpochLen = 128

// Conn is one WebSocket connection.
//
// Ownership: the HTTP handler goroutine runs the read loop and owns rooms
// membership changes; a writer goroutine exists only while the queue is
// non-empty (so an idle connection costs no goroutine besides its reader);
// publishes run in their own goroutines, at most MaxInflightPublishes.
// All of them are counted in Server.wg.
type Conn struct {
	srv *Server
	ws  *websocket.Conn
	nc  *corkConn
	lim *rate.Limiter
	// user is the token's sub, fixed for the connection's life; a refresh
	// must carry the same one.
	user string
	// claims is the current token; the reader replaces it on refresh
	// (tokens.go), publishes and the expiry wheel read it.
	claims atomic.Pointer[auth.Claims]

	// tokMu guards the token's schedule: hintAt, closeAt, hinted. slot
	// is guarded by Server.tokens.mu.
	tokMu   sync.Mutex
	hintAt  time.Time
	closeAt time.Time
	hinted  bool
	slot    int64

	roomsMu sync.Mutex
	rooms   map[string]*room

	qmu     sync.Mutex
	items   []qItem
	ibuf    *itemBuf // where items came from (itemBufs), while non-empty
	qbytes  int
	writing bool
	closing bool // a close is queued (or the connection is gone): queue nothing more

	inflight chan struct{} // publish slots, made on first publish
}

// qItem is one queued message. Exactly one of f, pm, raw, closeCode, ping
// is set.
type qItem struct {
	room        string // the room of a snapshot or (un)subscribed reply: merges never cross it
	f           *frameMsg
	pm          *websocket.PreparedMessage
	raw         []byte
	size        int
	closeCode   int
	closeReason string
	ping        bool
}

// itemBuf holds a queue's backing array between uses: a writer gives it
// back once it wrote the batch, so queueing a frame for a connection with
// an empty queue does not allocate, and an idle connection holds none.
type itemBuf struct{ s []qItem }

var itemBufs = sync.Pool{New: func() any { return &itemBuf{s: make([]qItem, 0, 4)} }}

// takeItems empties the queue, returning its items and their buffer
// (for putItems). c.qmu is held.
func (c *Conn) takeItems() ([]qItem, *itemBuf) {
	batch, buf := c.items, c.ibuf
	c.items, c.ibuf = nil, nil
	return batch, buf
}

// putItems gives a written batch's array back. The items are cleared, so
// the pool holds no frame.
func putItems(batch []qItem, buf *itemBuf) {
	if buf == nil || cap(batch) > 64 {
		return
	}
	clear(batch)
	buf.s = batch[:0]
	itemBufs.Put(buf)
}

func (c *Conn) enqueue(it qItem) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.push(it)
	c.qmu.Unlock()
}

// push queues it; c.qmu is held.
func (c *Conn) push(it qItem) {
	m := c.srv.m
	if c.ibuf == nil && cap(c.items) == 0 {
		c.ibuf = itemBufs.Get().(*itemBuf)
		c.items = c.ibuf.s[:0]
	}
	c.items = append(c.items, it)
	c.qbytes += it.size
	m.queueBytes.Add(float64(it.size))
	if it.closeCode != 0 {
		c.closing = true
	} else if c.qbytes > c.srv.cfg.MergeBytes {
		c.mergeLocked()
		if c.qbytes > c.srv.cfg.MaxQueueBytes {
			// Still too far behind: deliver what is queued, then tell
			// the client to resume.
			m.slowCloses.Inc()
			m.closes.WithLabelValues(strconv.Itoa(CloseTooSlow)).Inc()
			c.items = append(c.items, qItem{closeCode: CloseTooSlow, closeReason: "too slow: reconnect and resume"})
			c.closing = true
		}
	}
	if !c.writing {
		c.writing = true
		c.srv.wg.Add(1)
		c.startWriter()
	}
}

// sharedWriters is whether connections on sockets are written by the
// shared writers (writeTurn) rather than a goroutine each; a variable for
// BenchmarkDelivery, which measures both.
var sharedWriters = true

// writeQ feeds the shared writers: connections with something queued.
var (
	writeQ    = make(chan *Conn, 16384)
	writeOnce sync.Once
)

// startWriter hands c, whose queue just became non-empty (c.writing is
// set and counted in Server.wg), to a writer: a shared one when c is a
// socket, or a goroutine of its own (also when the shared ones are
// backed up).
func (c *Conn) startWriter() {
	if sharedWriters && c.nc.rc != nil {
		writeOnce.Do(func() {
			// Long-lived, so their stacks grow once, and never blocking
			// (writeTurn), so a few serve every connection of the process.
			for range max(2, runtime.GOMAXPROCS(0)) {
				go func() {
					for c := range writeQ {
						c.writeTurn()
					}
				}()
			}
		})
		select {
		case writeQ <- c:
			return
		default:
		}
	}
	go c.writeLoop()
}

// writeTurn is one turn of a shared writer for c: it writes what c has
// queued, without blocking. A batch with a snapshot or a close, or larger
// than corkMax, goes to a goroutine of c's own (writeLoop), as does what
// the socket would not take at once (writeUnsent): a slow client never
// holds a shared writer. When more was queued meanwhile c goes back in
// line behind the others.
func (c *Conn) writeTurn() {
	c.qmu.Lock()
	batch := c.items
	if len(batch) == 0 {
		c.writing = false
		c.qmu.Unlock()
		c.srv.wg.Done()
		return
	}
	if c.qbytes > corkMax {
		c.qmu.Unlock()
		go c.writeLoop()
		return
	}
	for _, it := range batch {
		if it.pm != nil || it.closeCode != 0 {
			c.qmu.Unlock()
			go c.writeLoop()
			return
		}
	}
	if !c.nc.tryCorkNB() {
		c.qmu.Unlock()
		go c.writeLoop()
		return
	}
	batch, buf := c.takeItems()
	c.srv.m.queueBytes.Sub(float64(c.qbytes))
	c.qbytes = 0
	c.qmu.Unlock()
	now := time.Now()
	_, err := c.writeItems(batch, now, now.Add(c.srv.cfg.WriteTimeout))
	putItems(batch, buf)
	rest, ferr := c.nc.flushNB()
	if err == nil {
		err = ferr
	}
	c.srv.m.writes.Inc()
	if err != nil {
		if rest != nil {
			c.nc.release(rest.buf)
		}
		if errors.Is(err, websocket.ErrCloseSent) {
			err = nil // the reader answered the client's close: done
		}
		c.writeFailed(err)
		c.srv.wg.Done()
		return
	}
	if rest != nil {
		go func() {
			if err := c.nc.writeUnsent(rest, time.Now().Add(c.srv.cfg.WriteTimeout)); err != nil {
				c.writeFailed(err)
				c.srv.wg.Done()
				return
			}
			c.writeLoop()
		}()
		return
	}
	c.qmu.Lock()
	if len(c.items) == 0 {
		c.writing = false
		c.qmu.Unlock()
		c.srv.wg.Done()
		return
	}
	c.qmu.Unlock()
	c.startWriter()
}

func (c *Conn) sendFrame(f *frameMsg) {
	c.enqueue(qItem{f: f, size: len(f.wire)})
}

// sendPrepared queues a room's snapshot. It counts at most MergeBytes
// toward the queue bound: a snapshot is encoded once for every subscriber
// and may alone be larger than MaxQueueBytes (a room at its limits is
// ~6 MB, docs/processors.md), so counting it whole would close every new
// subscriber of a big room with 4009, over and over. The bound still
// closes a client whose frames pile up behind it.
func (c *Conn) sendPrepared(room string, pm *websocket.PreparedMessage, size int) {
	c.enqueue(qItem{room: room, pm: pm, size: min(size, c.srv.cfg.MergeBytes)})
}

func (c *Conn) sendRaw(room string, b []byte) {
	c.enqueue(qItem{room: room, raw: b, size: len(b)})
}

func (c *Conn) sendError(e *wireError) {
	e.Type = "error"
	c.srv.m.errors.WithLabelValues(e.Code).Inc()
	c.sendRaw(e.Room, mustJSON(e))
}

// closeWith queues a close frame after what is queued.
func (c *Conn) closeWith(code int, reason string) {
	c.srv.m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
	c.enqueue(qItem{closeCode: code, closeReason: reason})
}

// refuseRequest answers a request the pusher itself refuses (bad_request,
// unknown_op, forbidden) with an error and logs it, rate-limited.
// Publish refusals come from the ingest path, which logs its own.
func (c *Conn) refuseRequest(e *wireError) {
	c.srv.refusals.warn("websocket request refused", "remote", c.remote(), "user", c.user, "code", e.Code, "field", e.Field, "room", e.Room, "message", e.Message)
	c.sendError(e)
}

// refuse logs a refused message (rate-limited, see refusalLog) and closes
// with code.
func (c *Conn) refuse(code int, reason string) {
	c.srv.refusals.warn("websocket message refused", "remote", c.remote(), "user", c.user, "code", code, "reason", reason)
	c.closeWith(code, reason)
}

// truncReason cuts a close reason to what a close frame holds (123 bytes).
func truncReason(s string) string {
	const max = 123
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (c *Conn) remote() string {
	if a := c.nc.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

func (c *Conn) isClosing() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.closing
}

// mergeLocked merges runs of queued frames of the same room into one
// frame each (schemas.Merge); a snapshot or (un)subscribed reply of the
// room ends a run. c.qmu is held.
func (c *Conn) mergeLocked() {
	out := c.items[:0]
	open := map[string]int{}
	total := 0
	for _, it := range c.items {
		if it.f != nil {
			if j, ok := open[it.f.room]; ok {
				prev := out[j].f
				if prev.epoch == it.f.epoch && prev.seq+1 == it.f.fromSeq() {
					if mf, err := mergeFrames(prev, it.f); err == nil {
						c.srv.m.merges.Inc()
						total += mf.size() - out[j].size
						out[j] = qItem{f: mf, size: mf.size()}
						continue
					}
				}
			}
			open[it.f.room] = len(out)
		} else if it.room != "" {
			delete(open, it.room)
		}
		total += it.size
		out = append(out, it)
	}
	for i := len(out); i < len(c.items); i++ {
		c.items[i] = qItem{}
	}
	c.srv.m.queueBytes.Add(float64(total - c.qbytes))
	c.items, c.qbytes = out, total
}

func (f *frameMsg) size() int { return len(f.wire) }

// mergeFrames returns one frame equal to a then b, owned by the caller.
func mergeFrames(a, b *frameMsg) (*frameMsg, error) {
	da, err := a.decodedDelta()
	if err != nil {
		return nil, err
	}
	db, err := b.decodedDelta()
	if err != nil {
		return nil, err
	}
	d := schemas.Merge(da, db)
	m := &frameMsg{room: a.room, epoch: a.epoch, seq: b.seq, from: a.fromSeq(), ts: max(a.ts, b.ts), delta: &d}
	m.wire = mustJSON(&wireFrame{Type: "frame", Room: m.room, Epoch: m.epoch, Seq: m.seq, FromSeq: m.from, TS: m.ts, Delta: &d})
	return m, nil
}

// writeLoop writes queued messages until the queue is empty, several per
// socket write when the client is behind. It exits when the queue is
// empty; enqueue starts it again.
func (c *Conn) writeLoop() {
	defer c.srv.wg.Done()
	for {
		c.qmu.Lock()
		batch := c.items
		if len(batch) == 0 {
			c.writing = false
			c.qmu.Unlock()
			return
		}
		batch, buf := c.takeItems()
		c.srv.m.queueBytes.Sub(float64(c.qbytes))
		c.qbytes = 0
		c.qmu.Unlock()
		closed, err := c.writeBatch(batch)
		putItems(batch, buf)
		if err != nil || closed {
			c.writeFailed(err)
			return
		}
	}
}

// writeFailed ends c's writing after a failed write (err) or a close
// frame sent (nil): nothing more is queued or written.
func (c *Conn) writeFailed(err error) {
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			c.srv.m.slowCloses.Inc()
		}
		c.nc.Close() // the reader sees the error and cleans up
	}
	c.qmu.Lock()
	c.closing = true
	c.srv.m.queueBytes.Sub(float64(c.qbytes))
	c.items, c.ibuf, c.qbytes, c.writing = nil, nil, 0, false
	c.qmu.Unlock()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Conn) writeBatch(batch []qItem) (closed bool, err error) {
	now := time.Now()
	deadline := now.Add(c.srv.cfg.WriteTimeout)
	c.nc.cork(false)
	closed, err = c.writeItems(batch, now, deadline)
	if ferr := c.nc.flush(); err == nil {
		err = ferr
	}
	c.srv.m.writes.Inc()
	if closed && err == nil {
		// Wait briefly for the client's close reply; the reader then
		// exits and drops the connection.
		c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	}
	if errors.Is(err, websocket.ErrCloseSent) {
		err = nil
		closed = true
	}
	return closed, err
}

// writeItems hands batch to gorilla, which writes into the corked
// connection, and counts what it wrote.
func (c *Conn) writeItems(batch []qItem, now, deadline time.Time) (closed bool, err error) {
	m := c.srv.m
	c.ws.SetWriteDeadline(deadline)
	var frames, bytes int
	for _, it := range batch {
		switch {
		case it.closeCode != 0:
			err = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(it.closeCode, it.closeReason), deadline)
			closed = true
		case it.ping:
			err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
		case it.f != nil:
			if it.f.delta != nil { // merged: owned by this connection
				err = c.ws.WriteMessage(websocket.TextMessage, it.f.wire)
			} else {
				err = c.ws.WritePreparedMessage(it.f.prepared())
			}
			frames++
			if it.f.ts > 0 {
				m.latency.Observe(float64(now.UnixMilli()-it.f.ts) / 1000)
			}
		case it.pm != nil:
			err = c.ws.WritePreparedMessage(it.pm)
		default:
			err = c.ws.WriteMessage(websocket.TextMessage, it.raw)
		}
		if err != nil || closed {
			break
		}
		bytes += it.size
	}
	m.framesOut.Add(float64(frames))
	m.bytesOut.Add(float64(bytes))
	return closed, err
}

// readLoop serves the connection's client messages until it ends, then
// cleans up. It runs on the HTTP handler goroutine.
func (c *Conn) readLoop() {
	cfg := &c.srv.cfg
	c.ws.SetReadLimit(cfg.MaxMessageBytes)
	c.ws.SetReadDeadline(time.Now().Add(2 * cfg.PingInterval))
	c.ws.SetPongHandler(c.onPong)
	rc := c.nc.rc
	if rc == nil || c.nc.br == nil {
		for c.readOne(false) {
		}
		c.cleanup()
		return
	}
	// An idle connection's cost is mostly this goroutine's stack, and the
	// runtime never shrinks a parked goroutine's stack below what the
	// deepest call it ever made needed (nor to 2 KiB unless it parks
	// within ~200 bytes of its top). So this goroutine only waits, in a
	// shallow call, and never reads: reading and handling a message run
	// on a short-lived goroutine (their stacks die with it), and the
	// empty pongs that answer the pusher's pings are taken off the
	// socket here (waitReadable), so an idle client costs nothing else.
	done := make(chan bool, 1)
	for {
		if c.nc.br.Buffered() == 0 {
			if pong, _ := waitReadable(rc); pong {
				c.onPong("")
				continue
			}
			// Anything else (a message, a close, EOF, an error, the
			// deadline) is ReadMessage's to read or report.
		}
		go func() { done <- c.readOne(true) }()
		if !<-done {
			break
		}
	}
	c.cleanup()
}

func (c *Conn) onPong(string) error {
	if !c.isClosing() {
		c.ws.SetReadDeadline(time.Now().Add(2 * c.srv.cfg.PingInterval))
	}
	return nil
}

// readOne reads and handles one client message; false ends the loop.
// inline: the caller is a short-lived goroutine, so the message is handled
// on it; otherwise on a goroutine of its own (see below).
func (c *Conn) readOne(inline bool) bool {
	cfg := &c.srv.cfg
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			c.srv.m.closes.WithLabelValues(strconv.Itoa(closeMessageTooBig)).Inc()
			c.srv.refusals.warn("websocket message refused: too big", "remote", c.remote(), "user", c.user, "limit", cfg.MaxMessageBytes)
		}
		return false
	}
	if c.isClosing() {
		return true // a close is on its way; ignore the rest
	}
	c.ws.SetReadDeadline(time.Now().Add(2 * cfg.PingInterval))
	if !c.lim.Allow() {
		c.refuse(CloseRateLimited, "rate limited: too many messages")
		return true
	}
	if mt != websocket.TextMessage {
		c.refuse(CloseBadMessage, "binary messages are not part of the protocol")
		return true
	}
	// RFC 6455 §8.1: a text message that is not UTF-8 fails the
	// connection with 1007. Checked before anything decodes it.
	if !utf8.Valid(data) {
		c.refuse(CloseInvalidUTF8, "invalid UTF-8 in a text message")
		return true
	}
	// Handling runs on a short-lived goroutine that the reader waits
	// for: decoding, subscribing and encoding replies need deep stacks,
	// and a goroutine's stack never shrinks below what its idle path
	// holds. Keeping that work off the reader keeps the reader's stack —
	// the main cost of an idle connection — at its minimum, for about a
	// microsecond per client message.
	if inline {
		c.handle(data)
		return true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.handle(data)
	}()
	<-done
	return true
}

func (c *Conn) cleanup() {
	c.qmu.Lock()
	c.closing = true
	c.srv.m.queueBytes.Sub(float64(c.qbytes))
	c.items, c.ibuf, c.qbytes = nil, nil, 0
	c.qmu.Unlock()
	c.roomsMu.Lock()
	rooms := c.rooms
	c.rooms = nil
	c.roomsMu.Unlock()
	// Under tokMu: a sweep that took c before the close cannot schedule
	// it again after this (onTokenTimer checks closing under tokMu).
	c.tokMu.Lock()
	c.srv.tokens.cancel(c)
	c.tokMu.Unlock()
	for _, r := range rooms {
		c.srv.hub.unsubscribe(c, r)
	}
	c.ws.Close()
	c.srv.unregister(c)
}

func (c *Conn) forgetRoom(r *room) {
	c.roomsMu.Lock()
	if c.rooms[r.id] == r {
		delete(c.rooms, r.id)
	}
	c.roomsMu.Unlock()
}

func (c *Conn) handle(data []byte) {
	m, we, err := parseClientMsg(data)
	if err != nil {
		reason := "bad message: not a JSON object"
		var ve *schemas.ValidationError
		if errors.As(err, &ve) {
			reason = "bad message: " + ve.Detail
		}
		c.refuse(CloseBadMessage, truncReason(reason))
		return
	}
	if we != nil {
		c.sendError(we)
		return
	}
	switch m.Op {
	case "subscribe":
		c.onSubscribe(&m)
	case "unsubscribe":
		if err := schemas.CheckStream(m.Room); err != nil {
			c.refuseRequest(&wireError{ID: m.ID, Code: CodeBadRequest, Field: "room", Message: err.Error()})
			return
		}
		c.roomsMu.Lock()
		r := c.rooms[m.Room]
		delete(c.rooms, m.Room)
		c.roomsMu.Unlock()
		if r != nil {
			c.srv.hub.unsubscribe(c, r)
		}
		c.sendRaw(m.Room, mustJSON(&wireUnsubscribed{Type: "unsubscribed", ID: m.ID, Room: m.Room}))
	case "publish":
		c.onPublish(&m)
	case "ping":
		c.sendRaw("", mustJSON(&wirePong{Type: "pong", ID: m.ID, TS: time.Now().UnixMilli()}))
	case "refresh":
		c.onRefresh(&m)
	case "":
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeUnknownOp, Field: "op", Message: "op is missing; want subscribe, unsubscribe, publish, ping or refresh"})
	default:
		op := m.Op
		if len(op) > 32 {
			op = op[:32]
		}
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeUnknownOp, Field: "op", Message: strconv.Quote(op) + " is not an op; want subscribe, unsubscribe, publish, ping or refresh"})
	}
}

func (c *Conn) onSubscribe(m *clientMsg) {
	if err := schemas.CheckStream(m.Room); err != nil {
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeBadRequest, Field: "room", Message: err.Error()})
		return
	}
	if m.Epoch != nil && len(*m.Epoch) > maxEpochLen {
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeBadRequest, Field: "epoch", Room: m.Room, Message: "epoch is longer than 128 bytes"})
		return
	}
	if m.Seq != nil && m.Epoch == nil {
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeBadRequest, Field: "epoch", Room: m.Room, Message: "seq needs epoch: send both to resume, or neither"})
		return
	}
	if c.tokenExpired() {
		c.closeWith(CloseTokenExpired, "token expired")
		return
	}
	// A room's moderator view (its pending queue) is for moderators
	// only: it needs moderate in the room.
	base, view := schemas.ModViewOf(m.Room)
	if !canWatch(c.claims.Load(), m.Room) {
		msg := "token does not grant subscribe in room " + m.Room
		if view {
			msg = "token does not grant moderate in room " + base + ", which its moderator view needs"
		}
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeForbidden, Room: m.Room, Message: msg})
		return
	}
	if !c.srv.Ready() {
		c.sendError(&wireError{ID: m.ID, Code: CodeUnavailable, Room: m.Room, RetryAfter: 1, Message: "this pusher is not ready; retry or connect elsewhere"})
		return
	}
	if !view {
		base = m.Room
	}
	if until, banned, everywhere := c.srv.hub.bannedUntil(base, c.user); banned {
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeBanned, Room: m.Room, Until: until, Message: bannedMessage(until, everywhere)})
		return
	}
	c.roomsMu.Lock()
	_, has := c.rooms[m.Room]
	n := len(c.rooms)
	c.roomsMu.Unlock()
	if !has && n >= c.srv.cfg.MaxRooms {
		c.closeWith(CloseTooManyRooms, "too many subscriptions: the limit is "+strconv.Itoa(c.srv.cfg.MaxRooms))
		return
	}
	var seq uint64
	if m.Seq != nil {
		seq = *m.Seq
	}
	r := c.srv.hub.subscribe(c, m.Room, m.ID, m.Epoch, seq)
	c.roomsMu.Lock()
	if c.rooms == nil {
		c.rooms = map[string]*room{}
	}
	c.rooms[m.Room] = r
	c.roomsMu.Unlock()
}

func (c *Conn) onPublish(m *clientMsg) {
	if err := schemas.CheckRoom(m.Room); err != nil {
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeBadRequest, Field: "room", Message: err.Error()})
		return
	}
	ev := m.Event
	if len(ev) == 0 || ev[0] != '{' {
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeBadRequest, Field: "event", Room: m.Room, Message: "event must be an object with type and data"})
		return
	}
	if c.tokenExpired() {
		c.closeWith(CloseTokenExpired, "token expired")
		return
	}
	pub := c.srv.cfg.Publish
	if pub == nil {
		c.sendError(&wireError{ID: m.ID, Code: CodePublishUnavailable, Room: m.Room, Message: "this pusher has no publish path; use POST /v1/rooms/{room}/events"})
		return
	}
	if c.inflight == nil {
		c.inflight = make(chan struct{}, c.srv.cfg.MaxInflightPublishes)
	}
	select {
	case c.inflight <- struct{}{}: // blocks the reader: natural backpressure
	case <-c.srv.ctx.Done():
		return
	}
	ev = append(json.RawMessage(nil), ev...)
	id, room, claims := m.ID, m.Room, c.claims.Load()
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		defer func() { <-c.inflight }()
		ctx, cancel := context.WithTimeout(c.srv.ctx, 30*time.Second)
		defer cancel()
		eventID, err := pub(ctx, claims, room, ev)
		if err != nil {
			var pe *schemas.PublishError
			if errors.As(err, &pe) {
				c.sendError(&wireError{ID: id, Code: pe.Code, Message: pe.Message, Field: pe.Field, Room: room, RetryAfter: pe.RetryAfter, Until: pe.Until})
				return
			}
			c.srv.refusals.warn("publish failed", "room", room, "err", err)
			c.sendError(&wireError{ID: id, Code: CodePublishFailed, Room: room, RetryAfter: 1, Message: "publish failed; retry with the same event id"})
			return
		}
		c.sendRaw("", mustJSON(&wireAck{Type: "ack", ID: id, EventID: eventID}))
	}()
}
