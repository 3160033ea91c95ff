// Package client is a Go client of the pushers' WebSocket protocol
// (docs/protocol.md): it subscribes to rooms, folds snapshots and frames
// into each room's state with schemas.RoomState.Apply, resumes every room
// from its position after a reconnect (to any pusher), refreshes its token
// on the server's hint, and publishes events with retries that keep one
// event id, so a retried event is counted once.
//
// It imports only schemas and gorilla/websocket, so bots, backends and
// load tools can use it without the rest of Ovation.
//
//	c := client.New(client.Config{URLs: []string{"wss://push.example.com/v1/stream"}, Token: tok})
//	c.Subscribe("show-42")
//	go c.Run(ctx)
//	id, err := c.Publish(ctx, "show-42", "reaction", map[string]string{"emoji": "👏"})
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ovation-live/ovation/schemas"
)

// Config configures a Client.
type Config struct {
	// URLs are pusher endpoints (ws:// or wss://…/v1/stream). Each
	// reconnect tries the next one. Required.
	URLs []string
	// Token returns the JWT to connect (and refresh) with; nil connects
	// without one (dev mode). It is called for every connect and on the
	// server's refresh hint.
	Token func(ctx context.Context) (string, error)
	// Header is sent with every handshake (Origin, for example).
	Header http.Header
	// Dialer defaults to websocket.DefaultDialer.
	Dialer *websocket.Dialer
	// OnUpdate, if set, is called after every snapshot or frame applied,
	// from the reading goroutine with the client's lock held, with the
	// room's state: do not keep st (Clone it) and do not call the
	// Client's methods from it.
	OnUpdate func(room, epoch string, seq uint64, st *schemas.RoomState)
	// OnConnect, if set, is called with each welcome's pusher node name.
	OnConnect func(node string)
	// BackoffMin and BackoffMax bound the wait between reconnects (and
	// publish retries); defaults 100 ms and 5 s.
	BackoffMin, BackoffMax time.Duration
	// PublishTimeout bounds one publish attempt (send to ack); default
	// 10 s. Publish retries until its ctx ends.
	PublishTimeout time.Duration
}

// Fatal close codes: reconnecting with the same settings cannot help
// (docs/protocol.md §7).
var fatalCloses = map[int]string{4001: "unauthorized", 4003: "forbidden origin", 4010: "too many subscriptions"}

// Error is a refusal the server sent (docs/protocol.md §4.8).
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	Room       string `json:"room,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"`
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Field != "" {
		s = e.Code + ": " + e.Field + ": " + e.Message
	}
	return s
}

// retryable reports whether a publish refused with e may succeed later
// with the same event id.
func (e *Error) retryable() bool {
	switch e.Code {
	case "publish_failed", "rate_limited", "unavailable", "overloaded":
		return true
	}
	return false
}

// ErrClosed is returned by Publish when the client stopped for good.
var ErrClosed = errors.New("client: stopped")

// roomState is one subscribed room as this client holds it.
type roomState struct {
	epoch     string
	seq       uint64
	known     bool // a snapshot arrived: the position is real
	resyncing bool // a subscribe for a gap is out: frames wait for its reply
	st        schemas.RoomState
}

// Client is one logical connection: it reconnects by itself. Its methods
// may be called from any goroutine.
type Client struct {
	cfg Config

	mu      sync.Mutex
	rooms   map[string]*roomState
	conn    *websocket.Conn // nil while disconnected
	wmu     sync.Mutex      // serialises writes to conn
	waiters map[string]chan *serverMsg
	changed chan struct{} // closed and replaced on every change
	next    int           // URL index
	reqN    uint64
	fatal   error
	node    string
}

// New returns a Client; Run connects it.
func New(cfg Config) *Client {
	if cfg.Dialer == nil {
		cfg.Dialer = websocket.DefaultDialer
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 100 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Second
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 10 * time.Second
	}
	return &Client{cfg: cfg, rooms: map[string]*roomState{}, waiters: map[string]chan *serverMsg{}, changed: make(chan struct{})}
}

// serverMsg is any server message (docs/protocol.md §4).
type serverMsg struct {
	Type      string             `json:"type"`
	ID        string             `json:"id"`
	Room      string             `json:"room"`
	Epoch     string             `json:"epoch"`
	Seq       uint64             `json:"seq"`
	FromSeq   uint64             `json:"from_seq"`
	Recovered bool               `json:"recovered"`
	Node      string             `json:"node"`
	EventID   string             `json:"event_id"`
	State     *schemas.RoomState `json:"state"`
	Delta     *schemas.Delta     `json:"delta"`
	Error
}

// Subscribe adds room: it is subscribed now if connected, and after every
// reconnect, resuming from its position.
func (c *Client) Subscribe(room string) error {
	if err := schemas.CheckRoom(room); err != nil {
		return err
	}
	c.mu.Lock()
	if _, ok := c.rooms[room]; ok {
		c.mu.Unlock()
		return nil
	}
	c.rooms[room] = &roomState{st: schemas.NewRoomState()}
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		return c.send(conn, map[string]any{"op": "subscribe", "id": c.reqID(), "room": room})
	}
	return nil
}

// Unsubscribe drops room and its state.
func (c *Client) Unsubscribe(room string) error {
	c.mu.Lock()
	delete(c.rooms, room)
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		return c.send(conn, map[string]any{"op": "unsubscribe", "id": c.reqID(), "room": room})
	}
	return nil
}

// State returns room's position and a copy of its state; ok is false
// until its first snapshot arrived.
func (c *Client) State(room string) (epoch string, seq uint64, st schemas.RoomState, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[room]
	if r == nil || !r.known {
		return "", 0, schemas.RoomState{}, false
	}
	return r.epoch, r.seq, r.st.Clone(), true
}

// Wait blocks until cond, called with the client's lock held on room's
// state after every change, is true, or ctx ends.
func (c *Client) Wait(ctx context.Context, room string, cond func(epoch string, seq uint64, st *schemas.RoomState) bool) error {
	for {
		c.mu.Lock()
		r := c.rooms[room]
		ok := r != nil && r.known && cond(r.epoch, r.seq, &r.st)
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Node is the pusher the client is connected to ("" when it is not).
func (c *Client) Node() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}

func (c *Client) reqID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqN++
	return "g" + strconv.FormatUint(c.reqN, 10)
}

func (c *Client) send(conn *websocket.Conn, v any) error {
	if conn == nil {
		return errors.New("client: not connected")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return conn.WriteMessage(websocket.TextMessage, b)
}

// Run connects and keeps the client connected until ctx ends (nil) or the
// server refuses it for good (4001, 4003, 4010: the error says which).
func (c *Client) Run(ctx context.Context) error {
	if len(c.cfg.URLs) == 0 {
		return errors.New("client: no URLs")
	}
	backoff := c.cfg.BackoffMin
	for {
		start := time.Now()
		err := c.connectOnce(ctx)
		if ctx.Err() != nil {
			c.stop(ErrClosed)
			return nil
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if why, ok := fatalCloses[ce.Code]; ok {
				err = fmt.Errorf("client: pusher refused the connection (%d %s: %s)", ce.Code, why, ce.Text)
				c.stop(err)
				return err
			}
		}
		if time.Since(start) > 10*time.Second {
			backoff = c.cfg.BackoffMin // it was up for a while
		}
		// Jitter the wait, so clients of a drained pusher spread out.
		wait := backoff/2 + time.Duration(randUint64()%uint64(backoff/2+1))
		select {
		case <-ctx.Done():
			c.stop(ErrClosed)
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, c.cfg.BackoffMax)
	}
}

func (c *Client) stop(err error) {
	c.mu.Lock()
	c.fatal = err
	c.broadcastLocked()
	c.mu.Unlock()
}

func (c *Client) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// connectOnce runs one connection until it ends.
func (c *Client) connectOnce(ctx context.Context) error {
	c.mu.Lock()
	url := c.cfg.URLs[c.next%len(c.cfg.URLs)]
	c.next++
	c.mu.Unlock()
	hdr := http.Header{}
	for k, v := range c.cfg.Header {
		hdr[k] = v
	}
	if c.cfg.Token != nil {
		tok, err := c.cfg.Token(ctx)
		if err != nil {
			return fmt.Errorf("client: token: %w", err)
		}
		hdr.Set("Authorization", "Bearer "+tok)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, _, err := c.cfg.Dialer.DialContext(dctx, url, hdr)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() {
		c.wmu.Lock()
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.wmu.Unlock()
		conn.Close()
	})
	defer stop()
	defer func() {
		c.mu.Lock()
		c.conn, c.node = nil, ""
		// Publishes waiting for this connection's replies retry.
		for id, ch := range c.waiters {
			close(ch)
			delete(c.waiters, id)
		}
		c.broadcastLocked()
		c.mu.Unlock()
	}()
	readWait := 60 * time.Second
	conn.SetReadDeadline(time.Now().Add(readWait))
	conn.SetPingHandler(func(data string) error {
		conn.SetReadDeadline(time.Now().Add(readWait))
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(readWait))
		var m serverMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("client: bad server message: %w", err)
		}
		switch m.Type {
		case "welcome":
			if pi := welcomePing(b); pi > 0 {
				readWait = 2*pi + 5*time.Second
				conn.SetReadDeadline(time.Now().Add(readWait))
			}
			if err := c.welcomed(conn, m.Node); err != nil {
				return err
			}
		default:
			c.handle(conn, &m)
		}
	}
}

func welcomePing(b []byte) time.Duration {
	var w struct {
		PingInterval int `json:"ping_interval"`
	}
	json.Unmarshal(b, &w)
	return time.Duration(w.PingInterval) * time.Second
}

// welcomed subscribes every room on a new connection, from its position.
func (c *Client) welcomed(conn *websocket.Conn, node string) error {
	c.mu.Lock()
	c.conn, c.node = conn, node
	var subs []map[string]any
	for id, r := range c.rooms {
		m := map[string]any{"op": "subscribe", "room": id}
		if r.known {
			m["epoch"], m["seq"] = r.epoch, r.seq
		}
		r.resyncing = true
		subs = append(subs, m)
	}
	c.mu.Unlock()
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect(node)
	}
	for _, m := range subs {
		m["id"] = c.reqID()
		if err := c.send(conn, m); err != nil {
			return err
		}
	}
	return nil
}

// handle applies one server message (docs/protocol.md §2's table).
func (c *Client) handle(conn *websocket.Conn, m *serverMsg) {
	c.mu.Lock()
	if (m.Type == "ack" || m.Type == "error") && isPublishReq(m.ID) {
		ch, ok := c.waiters[m.ID]
		delete(c.waiters, m.ID)
		c.mu.Unlock()
		if ok {
			ch <- m
		}
		return
	}
	defer c.mu.Unlock()
	r := c.rooms[m.Room]
	var resub map[string]any
	applied := false
	switch m.Type {
	case "subscribed":
		if r != nil {
			r.resyncing = false
		}
	case "snapshot":
		if r == nil || m.State == nil {
			return
		}
		r.st, r.epoch, r.seq, r.known, r.resyncing = *m.State, m.Epoch, m.Seq, true, false
		applied = true
	case "frame":
		if r == nil || !r.known || r.resyncing || m.Delta == nil {
			return
		}
		from := m.FromSeq
		if from == 0 {
			from = m.Seq
		}
		switch {
		case m.Epoch == r.epoch && from == r.seq+1, r.epoch == "" && r.seq == 0 && from == 1:
			r.st.Apply(m.Delta)
			r.epoch, r.seq = m.Epoch, m.Seq
			applied = true
		case m.Epoch == r.epoch && m.Seq <= r.seq:
			// duplicate around a resync
		default:
			// A gap: subscribe again from the position, ignore the
			// room's frames until the reply.
			r.resyncing = true
			resub = map[string]any{"op": "subscribe", "room": m.Room, "epoch": r.epoch, "seq": r.seq}
		}
	case "unsubscribed":
		if m.Code != "" {
			delete(c.rooms, m.Room) // ended by the server (forbidden)
		}
	case "error":
		if m.Code == "unavailable" && r != nil {
			// The subscription was not made: ask again shortly.
			resub = map[string]any{"op": "subscribe", "room": m.Room}
			if r.known {
				resub["epoch"], resub["seq"] = r.epoch, r.seq
			}
		}
	case "refresh":
		if c.cfg.Token != nil {
			go c.refresh(conn)
		}
	}
	if applied && c.cfg.OnUpdate != nil {
		c.cfg.OnUpdate(m.Room, r.epoch, r.seq, &r.st)
	}
	if applied || resub != nil {
		c.broadcastLocked()
	}
	if resub != nil {
		c.reqN++
		resub["id"] = "g" + strconv.FormatUint(c.reqN, 10)
		delay := time.Duration(0)
		if m.Type == "error" {
			delay = time.Duration(max(m.RetryAfter, 1)) * time.Second
		}
		go func() {
			time.Sleep(delay)
			c.send(conn, resub)
		}()
	}
}

func (c *Client) refresh(conn *websocket.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.cfg.Token(ctx)
	if err != nil {
		return // the server closes with 4002; Run reconnects with a new one
	}
	c.send(conn, map[string]any{"op": "refresh", "id": c.reqID(), "token": tok})
}

func isPublishReq(id string) bool { return len(id) > 1 && id[0] == 'p' }

// Publish sends one event of type typ with data (any JSON-encodable value
// or json.RawMessage) to room and returns its id once Kafka acknowledged
// it. The event gets a random id if opts give none; every retry (a lost
// connection, a timeout, publish_failed, rate_limited, unavailable) sends
// the same id, so the processors count it once. Refusals that retrying
// cannot fix return an *Error at once. Publish retries until ctx ends.
func (c *Client) Publish(ctx context.Context, room, typ string, data any, opts ...PublishOpt) (string, error) {
	o := publishOpts{}
	for _, f := range opts {
		f(&o)
	}
	if o.id == "" {
		o.id = "c-" + randHex(12)
	}
	if err := schemas.CheckID(o.id); err != nil {
		return "", err
	}
	raw, ok := data.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(data)
		if err != nil {
			return "", fmt.Errorf("client: event data: %w", err)
		}
		raw = b
	}
	ev := map[string]any{"id": o.id, "type": typ, "data": raw}
	backoff := c.cfg.BackoffMin
	for attempt := 1; ; attempt++ {
		m, err := c.publishOnce(ctx, room, ev)
		if err == nil {
			if m.Type == "ack" {
				return m.EventID, nil
			}
			e := m.Error
			if !e.retryable() {
				return "", &e
			}
			if e.RetryAfter > 0 {
				backoff = max(backoff, time.Duration(e.RetryAfter)*time.Second)
			}
		} else if errors.Is(err, ErrClosed) {
			return "", err
		}
		if o.attempts > 0 && attempt >= o.attempts {
			if err == nil {
				e := m.Error
				err = &e
			}
			return "", fmt.Errorf("client: publish %s gave up after %d attempts: %w", o.id, attempt, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, c.cfg.BackoffMax)
	}
}

// PublishOpt sets an option of one Publish.
type PublishOpt func(*publishOpts)

type publishOpts struct {
	id       string
	attempts int
}

// WithID sets the event id (the idempotency key).
func WithID(id string) PublishOpt { return func(o *publishOpts) { o.id = id } }

// WithAttempts stops retrying after n attempts (0: until ctx ends).
func WithAttempts(n int) PublishOpt { return func(o *publishOpts) { o.attempts = n } }

// publishOnce sends one attempt and waits for its reply: the ack or error
// message, or an error when the connection went away or it timed out.
func (c *Client) publishOnce(ctx context.Context, room string, ev map[string]any) (*serverMsg, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.PublishTimeout)
	defer cancel()
	// Wait for a connection.
	var conn *websocket.Conn
	for {
		c.mu.Lock()
		var fatal error
		var ch chan struct{}
		conn, fatal, ch = c.conn, c.fatal, c.changed
		c.mu.Unlock()
		if fatal != nil {
			return nil, ErrClosed
		}
		if conn != nil {
			break
		}
		select {
		case <-actx.Done():
			return nil, actx.Err()
		case <-ch:
		}
	}
	c.mu.Lock()
	c.reqN++
	id := "p" + strconv.FormatUint(c.reqN, 10)
	reply := make(chan *serverMsg, 1)
	c.waiters[id] = reply
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, id)
		c.mu.Unlock()
	}()
	if err := c.send(conn, map[string]any{"op": "publish", "id": id, "room": room, "event": ev}); err != nil {
		return nil, err
	}
	select {
	case m, ok := <-reply:
		if !ok {
			return nil, errors.New("client: connection lost before the ack")
		}
		return m, nil
	case <-actx.Done():
		return nil, actx.Err()
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}
