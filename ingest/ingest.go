// Package ingest is Ovation's public door for engagement events: it takes
// events over HTTP (POST /v1/rooms/{room}/events) and, through Publish,
// from the pushers' WebSocket, checks the token, the schema and the limits,
// and writes each accepted event to the events topic with an idempotent,
// acks=all producer. It answers only after Kafka acknowledged every event
// it calls accepted, so an accepted event is never lost; a refused event
// never reaches Kafka.
//
// The client sends the event's type and data and, optionally, its id (the
// idempotency key: a retry with the same id is deduplicated by the
// processors and the analytics sink) and v. Ingest sets the room from the
// path, the user from the token's sub, the ts from its clock, and makes a
// UUIDv7 id when none is given. A body that names user or ts, or a room
// other than the path's, is refused: those fields are not the client's to
// say, and silently ignoring them would hide a client bug or an attempt.
package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// Service publishes events into Kafka for the HTTP endpoint and for the
// WebSocket path. It is safe for concurrent use; it starts no goroutines of
// its own (the franz-go client's are owned by whoever made the client).
type Service struct {
	cfg       Config
	cl        *kgo.Client
	verifier  *auth.Verifier
	log       *slog.Logger
	m         *metrics
	userLim   *keyedLimiter // per token sub, every transport
	clientLim *keyedLimiter // per client address, HTTP only
	now       func() time.Time
	bufs      sync.Pool    // *bytes.Buffer for request bodies
	batches   sync.Pool    // *batchBufs for HTTP requests
	tokens    *tokenCache  // tokens the verifier accepted, for HTTP requests
	mirror    *MirrorWatch // "ack after mirror" (mirror.go); nil: ack after local commit
	modView   *ModView     // moderation pre-check (moderation.go); nil: none
	// shape bounds each event of a request body before it is decoded:
	// schemas.EventShape, except that one string may be as large as the
	// body, so an oversized event is still answered event_too_large.
	shape schemas.ShapeLimits
	logs  *refusalLog
	// reflectDecode (tests) turns the fast decoders off: the codec alone
	// decodes, the reference FuzzFastEnvelope compares with.
	reflectDecode bool
	// watchFrom is how much of a request body is read before the depth
	// watch follows it (watchFrom; 0 in tests: from the first byte).
	watchFrom int
	// onRecycle, when set (tests), sees each request's body buffer as it
	// goes back to the pool, where the next request will overwrite it.
	onRecycle func([]byte)
	// noPool (tests) gives every HTTP request new slabs and a new
	// request: the reference FuzzPooledRequests compares with.
	noPool bool
}

// New returns a Service that produces with cl, which the caller made with
// cfg.ProducerOpts() among its options and closes after the Service is no
// longer used. Metrics go to reg.
func New(cfg Config, cl *kgo.Client, verifier *auth.Verifier, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cl == nil || verifier == nil || log == nil || reg == nil {
		return nil, fmt.Errorf("%w: client, verifier, logger and registerer are required", ErrInvalidConfig)
	}
	cfg = cfg.WithDefaults()
	s := &Service{
		cfg: cfg, cl: cl, verifier: verifier, log: log, now: time.Now,
		userLim:   newKeyedLimiter(cfg.UserRate, cfg.UserBurst, cfg.LimiterKeys),
		clientLim: newKeyedLimiter(cfg.ClientRate, cfg.ClientBurst, cfg.LimiterKeys),
	}
	s.tokens = newTokenCache(tokenCacheBytes)
	s.watchFrom = watchFrom
	s.logs = newRefusalLog(log)
	s.shape = schemas.EventShape
	s.shape.MaxTokenBytes = int(cfg.MaxRequestBytes)
	s.m = newMetrics(reg, s)
	return s, nil
}

// Config returns the configuration in effect, defaults applied.
func (s *Service) Config() Config { return s.cfg }

// Publish publishes one event (JSON, the client form) for claims' user into
// room and returns its id once Kafka acknowledged it. A refusal is a
// *schemas.PublishError; the id returned with it is the client's, when it
// could be read. Publish applies every limit of the HTTP path except the
// per-address one: the caller (the pushers' socket) limits per connection.
// Its signature is the dev command's PublishFunc.
func (s *Service) Publish(ctx context.Context, claims *auth.Claims, room string, event []byte) (string, error) {
	if claims == nil {
		s.m.requests.WithLabelValues(transportWS, CodeUnauthorized).Inc()
		return "", perr(http.StatusUnauthorized, CodeUnauthorized, "", "no verified token")
	}
	if pe := s.checkRequest(claims, room); pe != nil {
		s.m.requests.WithLabelValues(transportWS, pe.Code).Inc()
		s.userLim.allow(claims.User(), s.now()) // a refusal costs like an event
		s.logs.refused("ws", claims, room, pe, "", 1, 1)
		return "", pe
	}
	req := s.newRequest(claims, room)
	it := &item{}
	if err := schemas.CheckShape(event, s.shape); err != nil {
		ve, _ := schemas.AsValidationError(err)
		it.err = errInvalidJSON("%s", ve.Detail)
	} else {
		s.prepare(req, it, event)
	}
	s.limit(req, it, "")
	items := []*item{it}
	s.produce(ctx, items)
	s.noteSlow(req, items)
	s.count(transportWS, items)
	if it.err != nil {
		s.logs.refused("ws", claims, room, it.err, "", 1, 1)
		return it.id, it.err
	}
	return it.id, nil
}

// item is one event of a request on its way through the checks and the
// producer. Once err is set the event is refused and goes no further.
type item struct {
	index int
	id    string
	typ   schemas.Type
	rec   *kgo.Record
	err   *schemas.PublishError
	slow  bool // a chat line under slow mode: note it once accepted
	// keysUnique is set when the event is known to repeat no key
	// (schemas.SplitBatch looked), so prepare need not look again.
	keysUnique bool
}

// checkRequest applies the checks that hold for every event of a request.
func (s *Service) checkRequest(claims *auth.Claims, room string) *schemas.PublishError {
	if s.cfg.MaxRoomsPerToken > 0 && claims.RoomPatterns() > s.cfg.MaxRoomsPerToken {
		return perr(http.StatusForbidden, CodeTooManyRooms, "", "the token names %d rooms, the limit is %d", claims.RoomPatterns(), s.cfg.MaxRoomsPerToken)
	}
	if err := schemas.CheckRoom(room); err != nil {
		ve, _ := schemas.AsValidationError(err)
		return perr(http.StatusBadRequest, CodeInvalidRoom, "room", "%s: %s", ve.Rule, ve.Detail)
	}
	return nil
}

// request is what the events of one request share.
type request struct {
	claims *auth.Claims
	room   string
	key    []byte // the record key, shared by the request's records
	user   []byte // the user as a JSON string
	ts     []byte // tsOf written out, for the records' envelopes
	tsOf   int64
	now    time.Time
	rnd    []byte // random bytes for generated ids, taken 8 at a time
	// rndBuf backs rnd: allocated at a request's first generated id and
	// kept with a pooled request (its unused bytes are never read twice:
	// rnd only moves forward).
	rndBuf *[8 * 64]byte
	seq    uint16 // generated ids so far, for their order within a ms
	arena  []byte // record values are carved from this, one allocation per many events
	// recs holds the request's records, ids its generated ids, and ce
	// the event being decoded: one allocation per many events instead of
	// one per event each. n is how many events the request has (a hint).
	recs []kgo.Record
	ids  []byte // generated ids' text; a full buffer is replaced, never grown
	ce   clientEvent
	n    int
	// bodies holds the decoded bodies of the request's events.
	bodies schemas.Bodies
	// caps remembers claims.Can(room, …) for the request: its events share
	// the token and the room, and most their type.
	caps  [4]capResult
	ncaps int
	// mod is the moderation view's word on the request's room and user,
	// looked up at its first event (moderation.go).
	mod modLook
	// parseFlags are strictJSON plus, when the raw events outlive
	// everything that points into them (HTTP: the body buffer is
	// recycled only after the answer is written), zero-copy strings.
	parseFlags json.ParseFlags
}

type capResult struct {
	cap schemas.Capability
	ok  bool
}

// can reports claims.Can(room, need), asking the claims once per
// capability per request.
func (req *request) can(need schemas.Capability) bool {
	for _, c := range req.caps[:req.ncaps] {
		if c.cap == need {
			return c.ok
		}
	}
	ok := req.claims.Can(req.room, need)
	if req.ncaps < len(req.caps) {
		req.caps[req.ncaps] = capResult{need, ok}
		req.ncaps++
	}
	return ok
}

func (s *Service) newRequest(claims *auth.Claims, room string) *request {
	req := &request{}
	s.initRequest(req, claims, room)
	return req
}

// initRequest makes req the request of claims in room. A pooled request
// (HTTP, batchBufs) keeps its buffers: the generated ids' text, the
// unused random bytes and the bodies' slabs; nothing else of the
// request before it survives.
func (s *Service) initRequest(req *request, claims *auth.Claims, room string) {
	user, _ := json.Marshal(claims.User()) // a string always encodes
	ids, rnd, rndBuf, bodies := req.ids[:0], req.rnd, req.rndBuf, req.bodies
	bodies.Reset()
	// Data is always copied into the record value, so it never needs a
	// copy of its own.
	*req = request{claims: claims, room: room, key: []byte(room), user: user, now: s.now(), parseFlags: strictJSON | json.DontCopyRawMessage,
		ids: ids, rnd: rnd, rndBuf: rndBuf, bodies: bodies}
}

// clientEvent is the form a client publishes. User and TS are decoded only
// to refuse them; Room only to refuse a room other than the path's.
type clientEvent struct {
	V    *int            `json:"v"`
	ID   string          `json:"id"`
	Type schemas.Type    `json:"type"`
	Data json.RawMessage `json:"data"`
	Room *string         `json:"room"`
	User json.RawMessage `json:"user"`
	TS   json.RawMessage `json:"ts"`

	// v and room hold what V and Room point to when decodeEnvelope
	// decoded the event (no allocation per event); body is the data
	// it decoded while reading it, or nil.
	v    int
	room string
	body schemas.Payload
}

const strictJSON = json.DisallowUnknownFields | json.DontMatchCaseInsensitiveStructFields

// prepare decodes and checks one client event and builds its record.
func (s *Service) prepare(req *request, it *item, raw []byte) {
	claims, room := req.claims, req.room
	if len(raw) > s.cfg.MaxEventBytes {
		it.err = errEventTooLarge(len(raw), s.cfg.MaxEventBytes)
		return
	}
	if !utf8.Valid(raw) {
		it.err = errInvalidEvent(&schemas.ValidationError{Rule: schemas.RuleUTF8, Detail: "the event is not valid UTF-8"})
		return
	}
	req.ce = clientEvent{}
	ce := &req.ce
	// A plain event is read by hand (fastdecode.go); anything else, and
	// everything the fast path is unsure of, by the codec from the start.
	req.bodies.Hint = req.n
	if s.reflectDecode || !decodeEnvelope(raw, ce, req.parseFlags&json.DontCopyString != 0, &req.bodies) {
		req.ce = clientEvent{}
		rest, err := json.Parse(raw, ce, req.parseFlags)
		if err == nil && len(trimSpace(rest)) != 0 {
			err = &schemas.ValidationError{Rule: schemas.RuleJSON, Detail: "trailing data after the event"}
		}
		if err != nil {
			it.err = errInvalidEvent(decodeError(err))
			return
		}
	}
	it.id, it.typ = ce.ID, ce.Type
	// Repeated keys, at every depth: a reader that takes the first of two
	// keys would see something else than what is validated. The event's
	// shape is bounded (CheckBatchShape or CheckShape ran on it), so this
	// is a few comparisons per key.
	if it.keysUnique {
		// SplitBatch found no repeated key in this event.
	} else if err := schemas.CheckDuplicateKeys(raw, schemas.EventShape.MaxDepth); err != nil {
		it.err = errInvalidEvent(err)
		return
	}
	switch {
	case ce.User != nil:
		it.err = errInvalidEvent(&schemas.ValidationError{Field: "user", Rule: schemas.RuleUnknown, Detail: "the user comes from the token; do not send it"})
	case ce.TS != nil:
		it.err = errInvalidEvent(&schemas.ValidationError{Field: "ts", Rule: schemas.RuleUnknown, Detail: "ts is set by ingest; do not send it"})
	case ce.Room != nil && *ce.Room != room:
		it.err = errInvalidEvent(&schemas.ValidationError{Field: "room", Rule: schemas.RuleUnknown, Detail: "the room comes from the path; a different room in the body is refused"})
	case ce.V != nil && *ce.V != schemas.Version:
		it.err = errInvalidEvent(&schemas.ValidationError{Field: "v", Rule: schemas.RuleVersion, Detail: fmt.Sprintf("schema version %d is not supported (this server writes %d)", *ce.V, schemas.Version)})
	}
	if it.err != nil {
		return
	}
	if ce.ID == "" {
		id, err := req.newID()
		if err != nil {
			it.err = perr(http.StatusInternalServerError, CodeInternal, "", "cannot make an id")
			s.log.Error("make id", "err", err)
			return
		}
		ce.ID = id
	} else if err := schemas.CheckID(ce.ID); err != nil {
		it.err = errInvalidEvent(err)
		return
	}
	// The rest of the envelope is ingest's own and already checked once
	// per request: the room by checkRequest, the user by the verifier,
	// v and ts by construction. Every test reads the records back with
	// schemas.ParseEvent, the full check consumers run.
	ev := schemas.Event{V: schemas.Version, ID: ce.ID, Room: room, User: claims.User(), Type: ce.Type, TS: req.now.UnixMilli(), Data: ce.Data}
	var err error
	switch {
	case s.reflectDecode:
		err = ev.ValidateBodyReflect(s.cfg.Custom)
	case ce.body != nil:
		err = ev.ValidateDecodedBody(ce.body)
	default:
		err = ev.ValidateBodyBorrowing(s.cfg.Custom, &req.bodies)
	}
	if err != nil {
		it.err = errInvalidEvent(err)
		return
	}
	if need := s.cfg.Custom.RequiredCapability(ev.Type); !req.can(need) {
		if need == schemas.CapSystem {
			it.err = perr(http.StatusForbidden, CodeForbidden, "type", "%s events are written by Ovation itself, never by clients", ev.Type)
		} else {
			it.err = perr(http.StatusForbidden, CodeForbidden, "type", "%s needs the %s capability in this room", ev.Type, need)
		}
		return
	}
	if s.modView != nil {
		pe, slow := s.modView.checkLook(&req.mod, room, ev.User, ev.Type, ev.Body, ev.TS)
		if pe != nil {
			it.err = pe
			return
		}
		it.slow = slow
	}
	value := req.encode(&ev)
	if len(value) > s.cfg.MaxEventBytes {
		it.err = errEventTooLarge(len(value), s.cfg.MaxEventBytes)
		return
	}
	// Only now is a generated id the event's: a refused event has only
	// the id its client gave.
	it.id = ev.ID
	it.rec = req.record(value)
}

// record returns a record of the request with value. Records are carved
// from slabs that are replaced, never grown, when full, so a record's
// address stays valid.
//
// The slots past len(req.recs) are zero (a new slab, or a pooled one
// putBatchBufs cleared), so only the three fields are written: copying a
// whole Record literal in was a write barrier over every pointer of it.
func (req *request) record(value []byte) *kgo.Record {
	if len(req.recs) == cap(req.recs) {
		req.recs = make([]kgo.Record, 0, max(1, min(req.n, 512)))
	}
	req.recs = req.recs[:len(req.recs)+1]
	r := &req.recs[len(req.recs)-1]
	r.Key, r.Value, r.Timestamp = req.key, value, req.now
	return r
}

// newID returns a UUIDv7: 48 bits of Unix milliseconds, then the id's
// sequence number in this request (so a batch's ids sort in batch order),
// then 62 random bits. Random bytes are read for many ids at once, which
// is most of the cost of uuid.NewV7 in a batch.
func (req *request) newID() (string, error) {
	if len(req.rnd) < 8 {
		if req.rndBuf == nil {
			req.rndBuf = new([8 * 64]byte)
		}
		req.rnd = req.rndBuf[:]
		if _, err := rand.Read(req.rnd); err != nil {
			return "", err
		}
	}
	var u [16]byte
	ms := uint64(req.now.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | byte(req.seq>>8)&0x0F
	u[7] = byte(req.seq)
	u[8] = 0x80 | req.rnd[0]&0x3F
	copy(u[9:], req.rnd[1:8])
	req.rnd = req.rnd[8:]
	req.seq++
	// The canonical text form, written into the request's id buffer,
	// which is replaced, never grown or rewritten, when full: each id
	// stays valid as later ones are appended, for as long as the request
	// lasts. A pooled request (HTTP) writes its buffer again only after
	// the answer is written, when no id of its is referred to any more.
	if cap(req.ids)-len(req.ids) < 36 {
		req.ids = make([]byte, 0, 36*max(1, min(req.n, 512)))
	}
	start := len(req.ids)
	req.ids = req.ids[:start+36]
	putUUID((*[36]byte)(req.ids[start:]), &u)
	return unsafe.String(&req.ids[start], 36), nil
}

// hexPairs holds each byte's two lowercase hex digits.
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{digits[i>>4], digits[i&0x0F]}
	}
	return t
}()

// uuidAt is where each byte's digits go in a UUID's canonical text form
// (8-4-4-4-12 hex digits).
var uuidAt = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// putUUID writes u in its canonical text form, as uuid.UUID.String does
// (FuzzPutUUID).
func putUUID(b *[36]byte, u *[16]byte) {
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	for i, at := range uuidAt {
		p := hexPairs[u[i]]
		b[at], b[at+1] = p[0], p[1]
	}
}

// encode encodes ev into the request's arena and returns a slice of it
// that later appends cannot touch (its capacity ends where it ends).
func (req *request) encode(ev *schemas.Event) []byte {
	n := 96 + len(ev.ID) + len(ev.Room) + len(req.user) + len(ev.Type) + len(ev.Data)
	if cap(req.arena)-len(req.arena) < n {
		req.arena = make([]byte, 0, max(n, 32<<10))
	}
	start := len(req.arena)
	if req.ts == nil || req.tsOf != ev.TS {
		req.ts, req.tsOf = strconv.AppendInt(req.ts[:0], ev.TS, 10), ev.TS
	}
	req.arena = encodeEventTS(req.arena, ev, req.user, req.ts)
	return req.arena[start:len(req.arena):len(req.arena)]
}

// encodeEvent writes ev as ev.Marshal would, without reflection for the
// envelope: this is the hot path. Validate has checked that id and room
// hold only [A-Za-z0-9-_.:] and that the type is one of the known names,
// so those go in verbatim; the user, free text, comes JSON-encoded (user).
// The data is the validated body re-encoded, never the client's bytes:
// what reaches Kafka is exactly what was checked, whatever spelling the
// client chose (escapes, spacing), so no reader can see something else in
// it. Without a Body (tests) Data goes in verbatim.
// TestEncodeEventMatchesMarshal keeps the two encodings equal.
func encodeEvent(b []byte, ev *schemas.Event, user []byte) []byte {
	return encodeEventTS(b, ev, user, strconv.AppendInt(nil, ev.TS, 10))
}

// encodeEventTS is encodeEvent with ev.TS already written out (ts): a
// request's events share it.
func encodeEventTS(b []byte, ev *schemas.Event, user, ts []byte) []byte {
	if ev.V == 1 {
		b = append(b, `{"v":1`...)
	} else {
		b = append(b, `{"v":`...)
		b = strconv.AppendInt(b, int64(ev.V), 10)
	}
	b = append(b, `,"id":"`...)
	b = append(b, ev.ID...)
	b = append(b, `","room":"`...)
	b = append(b, ev.Room...)
	b = append(b, `","user":`...)
	b = append(b, user...)
	b = append(b, `,"type":"`...)
	b = append(b, ev.Type...)
	b = append(b, `","ts":`...)
	b = append(b, ts...)
	b = append(b, `,"data":`...)
	b = appendBody(b, ev)
	return append(b, '}')
}

// appendBody writes ev's data: the two most published bodies by hand,
// with the codec's own string escaping (json.AppendEscape), every other
// one through the codec. FuzzAppendBody keeps the hand-written ones equal
// to the codec's encoding.
func appendBody(b []byte, ev *schemas.Event) []byte {
	switch d := ev.Body.(type) {
	case nil:
		return append(b, ev.Data...)
	case *schemas.ChatMessageData:
		b = append(b, `{"text":`...)
		b = json.AppendEscape(b, d.Text, 0)
		if d.Name != "" {
			b = append(b, `,"name":`...)
			b = json.AppendEscape(b, d.Name, 0)
		}
		return append(b, '}')
	case *schemas.ReactionData:
		b = append(b, `{"emoji":`...)
		b = json.AppendEscape(b, d.Emoji, 0)
		return append(b, '}')
	}
	// A validated body always encodes: strings, ints and string slices.
	b, _ = json.Append(b, ev.Body, 0)
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// decodeError names the field a decoder error is about, like schemas does
// for whole events.
func decodeError(err error) error {
	if _, ok := schemas.AsValidationError(err); ok {
		return err
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return &schemas.ValidationError{Rule: schemas.RuleType, Detail: "an event is a JSON object"}
		}
		return &schemas.ValidationError{Field: te.Field, Rule: schemas.RuleType, Detail: "expected " + te.Type.String()}
	}
	msg := err.Error()
	const unknown = `json: unknown field "`
	if len(msg) > len(unknown) && msg[:len(unknown)] == unknown {
		name := msg[len(unknown) : len(msg)-1]
		if len(name) > 40 || !utf8.ValidString(name) {
			name = "(long or unreadable name)"
		}
		return &schemas.ValidationError{Field: name, Rule: schemas.RuleUnknown, Detail: "field is not part of schema v1"}
	}
	return &schemas.ValidationError{Rule: schemas.RuleJSON, Detail: "malformed JSON"}
}

// limit charges one token to the user's bucket and, for HTTP, to the
// client address's. A refused event pays too (it cost the server work),
// so a client that sends bad events runs out of budget as fast as one that
// sends good ones; its refusal stays what it was.
func (s *Service) limit(req *request, it *item, client string) {
	now := req.now
	if it.err != nil {
		s.userLim.allow(req.claims.User(), now)
		if client != "" {
			s.clientLim.allow(client, now)
		}
		return
	}
	if ok, wait := s.userLim.allow(req.claims.User(), now); !ok {
		it.err = errRateLimited("user", wait)
		return
	}
	if client != "" {
		if ok, wait := s.clientLim.allow(client, now); !ok {
			it.err = errRateLimited("client address", wait)
		}
	}
}

// produce hands every unrefused item to the producer and waits until Kafka
// acknowledged or failed each one. The records' context is detached from
// ctx: a client that hangs up mid-request must not cancel half a batch
// (its retry with the same ids is safe either way), and ProduceTimeout
// bounds the wait instead.
func (s *Service) produce(ctx context.Context, items []*item) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProduceTimeout)
	defer cancel()
	mws := s.mirrorExpect(items)
	defer s.mirrorAwait(mws)
	var wg sync.WaitGroup
	var logOnce sync.Once
	start := time.Now()
	// Promises run one at a time on the client's promise goroutine; each
	// writes only its own record's item, and wg.Wait orders those writes
	// before the reads after it. The records' context is the request's
	// (pctx), never an item's: franz-go may still hold a record's
	// context after its promise (a goroutine waiting for an unknown
	// topic's metadata does), and the items are pooled (HTTP). A failed
	// record finds its item by a search, so an accepted one costs none.
	promise := func(rec *kgo.Record, err error) {
		defer wg.Done()
		n := len(rec.Value)
		if err == nil {
			s.m.produceLat.Observe(time.Since(start).Seconds())
			return
		}
		var it *item
		for _, x := range items {
			if x.rec == rec {
				it = x
				break
			}
		}
		switch {
		case errors.Is(err, kgo.ErrMaxBuffered):
			it.err = errBackpressure()
		case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
			it.err = errEventTooLarge(n, s.cfg.MaxEventBytes)
		default:
			s.m.produceLat.Observe(time.Since(start).Seconds())
			it.err = errKafkaUnavailable()
			logOnce.Do(func() { s.log.Warn("produce failed", "err", err) })
		}
	}
	// The in-flight gauge moves once per request, not per record (two
	// contended updates per event less): a request's bytes count from
	// the hand-off until its last record is answered.
	size, n := 0, 0
	for _, it := range items {
		if it.err == nil {
			size += len(it.rec.Value)
			n++
		}
	}
	if n == 0 {
		return
	}
	s.m.inflight.Add(float64(size))
	defer s.m.inflight.Sub(float64(size))
	wg.Add(n)
	for _, it := range items {
		if it.err != nil {
			continue
		}
		it.rec.Context = pctx
		s.cl.TryProduce(pctx, it.rec, promise)
	}
	wg.Wait()
}

// noteSlow tells the moderation view about the accepted chat lines of
// rooms under slow mode.
func (s *Service) noteSlow(req *request, items []*item) {
	for _, it := range items {
		if it.slow && it.err == nil {
			s.modView.noteChat(req.room, req.claims.User(), req.now.UnixMilli())
		}
	}
}

// count records the outcome of a request's items in the metrics and
// returns how many were accepted.
func (s *Service) count(transport string, items []*item) int {
	accepted := 0
	result := ""
	// A batch is usually of one or a few types: add up first, so the
	// label lookups are per distinct outcome, not per event.
	type key struct {
		typ  schemas.Type
		code string
	}
	var counts map[key]int
	var last key
	run := 0
	flush := func() {
		if run == 0 {
			return
		}
		if counts == nil {
			counts = make(map[key]int, 2)
		}
		counts[last] += run
	}
	for _, it := range items {
		k := key{typ: it.typ}
		if it.err == nil {
			accepted++
		} else {
			k.code = it.err.Code
			if result == "" {
				result = it.err.Code
			}
		}
		if k != last {
			flush()
			last, run = k, 0
		}
		run++
	}
	flush()
	for k, n := range counts {
		if k.code == "" {
			s.m.accepted.WithLabelValues(typeLabel(k.typ)).Add(float64(n))
		} else {
			s.m.rejected.WithLabelValues(typeLabel(k.typ), k.code).Add(float64(n))
		}
	}
	switch {
	case accepted == len(items):
		result = "ok"
	case accepted > 0:
		result = "partial"
	}
	s.m.requests.WithLabelValues(transport, result).Inc()
	return accepted
}
