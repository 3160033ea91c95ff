package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// Route is the pattern the HTTP endpoint is registered under.
const Route = "POST /v1/rooms/{room}/events"

// Result is the answer for one event: accepted with its id, or rejected
// with the reason. Index is the event's position in the request (0 for a
// single event); ID is the client's id, or the one ingest made.
type Result struct {
	Index  int                   `json:"index"`
	ID     string                `json:"id,omitempty"`
	Status string                `json:"status"` // "accepted" or "rejected"
	Error  *schemas.PublishError `json:"error,omitempty"`
}

// BatchResponse is the answer to a batch (a JSON array body).
type BatchResponse struct {
	Accepted int      `json:"accepted"`
	Rejected int      `json:"rejected"`
	Results  []Result `json:"results"`
}

// ErrorResponse is the answer to a request refused as a whole (bad token,
// body too large, malformed JSON, …).
type ErrorResponse struct {
	Error *schemas.PublishError `json:"error"`
}

// Register mounts the endpoint on mux.
func (s *Service) Register(mux *http.ServeMux) { mux.Handle(Route, s) }

// ServeHTTP handles POST /v1/rooms/{room}/events. The body is one event
// (a JSON object) or a batch (a JSON array). The HTTP status is the status
// every event shares: 200 when all were accepted, the refusal's status
// when all were refused for the same kind of reason, and 207 when the
// outcomes differ; the body says per event.
//
// Refusals cost: a request refused as a whole takes a token from its
// client address's bucket (and its user's, once known), and every refused
// event one from each, like an accepted one. A client whose bucket is
// empty is answered rate_limited before its token is verified or its body
// read, so a flood of bad requests is throttled as cheaply as possible.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	client := clientAddr(r)
	now := s.now()
	if ok, wait := s.clientLim.peek(client, now); !ok {
		s.refuse(w, r, nil, room, errRateLimited("client address", wait), "", false)
		return
	}
	if pe := s.checkContentType(r); pe != nil {
		s.refuse(w, r, nil, room, pe, "", true)
		return
	}
	claims, pe, why := s.authenticate(r)
	if pe == nil {
		pe = s.checkRequest(claims, room)
	}
	if pe != nil {
		s.refuse(w, r, claims, room, pe, why, true)
		return
	}
	if ok, wait := s.userLim.peek(claims.User(), now); !ok {
		s.refuse(w, r, claims, room, errRateLimited("user", wait), "", false)
		return
	}
	fail := func(pe *schemas.PublishError) { s.refuse(w, r, claims, room, pe, "", true) }
	if r.ContentLength > s.cfg.MaxRequestBytes {
		fail(perr(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "", "the body is %d bytes, the limit is %d", r.ContentLength, s.cfg.MaxRequestBytes))
		return
	}
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	defer func() {
		// A buffer that grew for an unusually large body is dropped, so
		// the pool holds only typical sizes.
		if s.onRecycle != nil {
			s.onRecycle(buf.Bytes()[:buf.Cap()])
		}
		if buf.Cap() <= 256<<10 {
			s.bufs.Put(buf)
		}
	}()
	bb := s.getBatchBufs()
	defer s.putBatchBufs(bb)
	raws, body, pe := s.readEvents(w, r, buf, bb)
	if pe != nil {
		fail(pe)
		return
	}
	batch := body[0] == '['

	req := &bb.req
	s.initRequest(req, claims, room)
	req.n = len(raws)
	// Strings may point into buf: everything that outlives this function
	// (the record values) is copied, and buf is recycled only after the
	// answer is written.
	req.parseFlags |= json.DontCopyString
	// The records' values, the records and the items come from slabs
	// sized from the body and reused across requests, like the request
	// itself with its ids and bodies. No record's context points into
	// them (produce gives every record the request's own context).
	req.arena = bb.arena[:0]
	if need := len(body) + len(raws)*(96+len(req.key)+len(req.user)+36); cap(req.arena) < need {
		req.arena = make([]byte, 0, need)
		bb.arena = req.arena
	}
	if cap(bb.recs) < len(raws) {
		bb.recs = make([]kgo.Record, 0, len(raws))
	}
	req.recs = bb.recs[:0]
	if cap(bb.store) < len(raws) {
		bb.store = make([]item, len(raws))
		bb.items = make([]*item, len(raws))
	}
	store, items := bb.store[:len(raws)], bb.items[:len(raws)]
	for i, raw := range raws {
		it := &store[i]
		it.index = i
		it.keysUnique = !raw.RepeatedKey
		s.prepare(req, it, raw.Text)
		s.limit(req, it, client)
		items[i] = it
	}
	s.produce(r.Context(), items)
	s.noteSlow(req, items)
	accepted := s.count(transportHTTP, items)
	if accepted < len(items) {
		s.logRefusal(r.RemoteAddr, claims, room, len(items), items)
	}

	status, retry := http.StatusOK, 0
	for i, it := range items {
		st := http.StatusOK
		if it.err != nil {
			st = it.err.Status
			retry = max(retry, it.err.RetryAfter)
		}
		if i == 0 {
			status = st
		} else if st != status {
			status = http.StatusMultiStatus
		}
	}
	if retry > 0 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusMultiStatus) {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if !batch {
		writeJSON(w, status, result(items[0]))
		return
	}
	bb.answer = appendBatch(bb.answer[:0], accepted, items)
	writeBody(w, status, bb.answer)
}

// batchBufs are the slabs one HTTP request's events are carved from:
// its events, the records' values, the records and the answer. They go
// back to a pool once the answer is written, when nothing refers to them
// any more: franz-go has called every record's promise (and touches a
// record no more after that: finishRecordPromise), and the answer is in
// the connection's buffer.
type batchBufs struct {
	events []schemas.BatchEvent
	arena  []byte
	recs   []kgo.Record
	answer []byte
	// The request with its generated ids and decoded bodies, and the
	// items; a new request starts from zero items (putBatchBufs clears
	// them) and from initRequest.
	req   request
	store []item
	items []*item
}

func (s *Service) getBatchBufs() *batchBufs {
	if s.noPool {
		return &batchBufs{}
	}
	if bb, ok := s.batches.Get().(*batchBufs); ok {
		return bb
	}
	return &batchBufs{events: make([]schemas.BatchEvent, 0, min(s.cfg.MaxBatchEvents, 128))}
}

// putBatchBufs keeps bb for another request unless a large request grew
// it: the pool holds slabs of typical requests only.
func (s *Service) putBatchBufs(bb *batchBufs) {
	if s.noPool {
		return
	}
	if cap(bb.arena) > 512<<10 || cap(bb.recs) > 512 || cap(bb.events) > 512 || cap(bb.answer) > 128<<10 || cap(bb.store) > 512 || cap(bb.req.ids) > 36*512 {
		return
	}
	if s.onRecycle != nil {
		s.onRecycle(bb.arena[:cap(bb.arena)])
		s.onRecycle(bb.req.ids[:cap(bb.req.ids)])
	}
	// The events point into the request's body buffer, which may be
	// dropped rather than pooled: do not keep it alive from here. The
	// records are zeroed for request.record, which writes only the
	// fields it sets.
	clear(bb.events)
	clear(bb.recs[:cap(bb.recs)])
	clear(bb.store)
	clear(bb.items)
	// What the request refers to besides its own buffers (claims,
	// decoded bodies) is let go; initRequest resets the rest.
	bb.req.bodies.Reset()
	bb.req.claims, bb.req.ce, bb.req.mod = nil, clientEvent{}, modLook{}
	s.batches.Put(bb)
}

// readEvents reads the body into buf and splits it into its events (in
// bb.events, pointing into buf), or returns the refusal of the whole
// request. body is buf's text without the space before it.
func (s *Service) readEvents(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, bb *batchBufs) (raws []schemas.BatchEvent, body []byte, pe *schemas.PublishError) {
	watch := bodyWatch{depthWatch: depthWatch{limit: s.shape.MaxDepth}, maxDepth: s.shape.MaxDepth}
	if err := s.readBody(buf, http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes), &watch); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &pe) {
			return nil, nil, pe
		}
		if errors.As(err, &mbe) {
			return nil, nil, perr(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "", "the body is over the limit of %d bytes", s.cfg.MaxRequestBytes)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			s.log.Debug("read body", "err", err)
		}
		return nil, nil, errInvalidJSON("could not read the body")
	}
	// The depth watch had the first refusal of a body it has not seen
	// yet (readBody left a small one to here): it decides first.
	refuse := func(pe *schemas.PublishError) ([]schemas.BatchEvent, []byte, *schemas.PublishError) {
		if deep := watch.finish(buf.Bytes()); deep != nil {
			return nil, nil, deep
		}
		return nil, nil, pe
	}
	body = trimSpace(buf.Bytes())
	if len(body) == 0 {
		return refuse(errInvalidJSON("the body is empty; send one event object or an array of them"))
	}
	if body[0] != '[' && body[0] != '{' {
		return refuse(errInvalidJSON("the body must be one event (a JSON object) or a batch (a JSON array)"))
	}
	// The structure is checked in one pass before anything decodes it, so
	// a deeply nested or token-stuffed body costs no more than reading it.
	// The same pass splits a batch into its events, which point into buf
	// (it outlives their use), and finds the events that repeat a key.
	raws, n, err := schemas.SplitBatch(body, s.shape, s.cfg.MaxBatchEvents, bb.events)
	bb.events = raws
	switch {
	case err != nil:
		ve, _ := schemas.AsValidationError(err)
		return refuse(errInvalidJSON("%s", ve.Detail))
	case n == 0:
		return refuse(perr(http.StatusBadRequest, CodeEmptyBatch, "", "the batch is empty"))
	case n > s.cfg.MaxBatchEvents:
		return refuse(perr(http.StatusRequestEntityTooLarge, CodeBatchTooLarge, "", "the batch has more than %d events", s.cfg.MaxBatchEvents))
	}
	// A body SplitBatch took whole is JSON whose events nest no deeper
	// than the watch allows: the watch would have found nothing.
	return raws, body, nil
}

// watchFrom is how much of a body is read before the depth watch starts
// following it: a typical batch (100 chat lines are ~12 KB) is then
// read in one piece and checked once, by SplitBatch, instead of twice.
// A "[[[[…" body is still refused having read at most this much and one
// chunk, whatever its length.
const watchFrom = 16 << 10

// bodyWatch is the depth watch of one body being read into a buffer.
type bodyWatch struct {
	depthWatch
	maxDepth int
	seen     int // the watch has followed buf[:seen]
}

// finish feeds the watch the bytes of b (the buffer so far) it has not
// seen and returns its refusal, if one of them opens a level too deep.
func (w *bodyWatch) finish(b []byte) *schemas.PublishError {
	if at := w.scan(b[w.seen:]); at >= 0 {
		return errInvalidJSON("nested deeper than %d levels at byte %d", w.maxDepth, w.seen+at)
	}
	w.seen = len(b)
	return nil
}

// readBody reads the body into buf. Once more than watchFrom bytes are
// in (s.watchFrom: 0 in tests, the eager watch), it follows the nesting
// depth as it reads and stops at the first byte nested deeper than any
// event may be: a "[[[[…" body is refused having read one chunk past
// watchFrom, not all of it. (A smaller body is followed only if it is
// refused: readEvents. Everything else about the structure is checked
// once the body is in.)
func (s *Service) readBody(buf *bytes.Buffer, body io.Reader, w *bodyWatch) error {
	for {
		if buf.Available() < 4<<10 {
			buf.Grow(max(buf.Cap(), 16<<10))
		}
		b := buf.AvailableBuffer()[:buf.Available()]
		n, err := body.Read(b)
		buf.Write(b[:n]) // b is buf's own free space: this only extends it
		if buf.Len() > s.watchFrom || err != nil && err != io.EOF {
			if pe := w.finish(buf.Bytes()); pe != nil {
				return pe
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// depthWatch follows the nesting depth of JSON text fed to it in pieces.
type depthWatch struct {
	limit    int // levels of one event; a batch's array adds one
	started  bool
	depth    int
	inString bool
	escaped  bool
}

// scan feeds b and returns the offset in b of the first '{' or '[' that
// opens a level deeper than an event may have, or -1. String contents,
// most of a body, are skipped with IndexByte.
func (d *depthWatch) scan(b []byte) int {
	for i := 0; i < len(b); i++ {
		if d.escaped {
			d.escaped = false
			continue
		}
		if d.inString {
			// To the string's next quote or backslash: eight bytes at a
			// time past plain ones, then one at a time (most strings of
			// a body are short, where two IndexByte calls cost more).
			for len(b)-i >= 8 && !quoteOrBackslash8(binary.LittleEndian.Uint64(b[i:])) {
				i += 8
			}
			for i < len(b) && b[i] != '"' && b[i] != '\\' {
				i++
			}
			switch {
			case i == len(b):
				// The string goes on in the next piece.
			case b[i] == '\\':
				d.escaped = true // the next byte, here or in the next piece
			default:
				d.inString = false
			}
			continue
		}
		switch c := b[i]; {
		case c == '"':
			d.inString = true
		case c == '{' || c == '[':
			if !d.started && c == '[' {
				d.limit++ // a batch
			}
			d.started = true
			if d.depth++; d.depth > d.limit {
				return i
			}
		case c == '}' || c == ']':
			d.depth--
		case c > ' ':
			d.started = true
		}
	}
	return -1
}

// quoteOrBackslash8 reports whether one of the eight bytes of x is a quote
// or a backslash (the "has a zero byte" test, exact about whether one is).
func quoteOrBackslash8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return ((q-ones)&^q|(bs-ones)&^bs)&highs != 0
}

// appendBatch encodes a BatchResponse by hand: it is most of an answer's
// cost when done by reflection. An accepted event's id passed
// schemas.CheckID or was made by ingest, so it needs no escaping; a
// refused event goes through the codec. TestBatchAnswerEncoding keeps it
// equal to json.Marshal(BatchResponse).
func appendBatch(b []byte, accepted int, items []*item) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(accepted), 10)
	b = append(b, `,"rejected":`...)
	b = strconv.AppendInt(b, int64(len(items)-accepted), 10)
	b = append(b, `,"results":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		if it.err != nil {
			b, _ = json.Append(b, result(it), 0)
			continue
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(it.index), 10)
		b = append(b, `,"id":"`...)
		b = append(b, it.id...)
		b = append(b, `","status":"accepted"}`...)
	}
	return append(b, "]}"...)
}

func result(it *item) Result {
	if it.err != nil {
		return Result{Index: it.index, ID: it.id, Status: "rejected", Error: it.err}
	}
	return Result{Index: it.index, ID: it.id, Status: "accepted"}
}

// authenticate verifies the bearer token. With auth disabled (dev) the
// user is the ?user= query parameter, or "dev". why is what failed, for
// the log: the verifier's message (signature, algorithm, expiry), which
// never quotes the token.
func (s *Service) authenticate(r *http.Request) (*auth.Claims, *schemas.PublishError, string) {
	token := auth.BearerToken(r.Header.Get("Authorization"))
	cache := token != "" && !s.verifier.Disabled()
	if cache {
		if claims := s.tokens.get(token, time.Now()); claims != nil {
			return claims, nil, ""
		}
	}
	claims, err := s.verifier.Verify(token, r.URL.Query().Get("user"))
	if err == nil {
		if cache {
			s.tokens.put(token, claims, time.Now())
		}
		return claims, nil, ""
	}
	switch {
	case errors.Is(err, auth.ErrNoToken):
		return nil, perr(http.StatusUnauthorized, CodeUnauthorized, "", "missing bearer token (send the header Authorization: Bearer TOKEN)"), err.Error()
	case errors.Is(err, auth.ErrExpiredToken):
		return nil, perr(http.StatusUnauthorized, CodeTokenExpired, "", "the token has expired"), err.Error()
	case errors.Is(err, auth.ErrTokenTooLarge):
		return nil, perr(http.StatusUnauthorized, CodeUnauthorized, "", "the token is over %d bytes", s.verifier.MaxTokenBytes()), err.Error()
	default:
		return nil, perr(http.StatusUnauthorized, CodeUnauthorized, "", "the token is not valid"), err.Error()
	}
}

// checkContentType refuses, with auth off (dev), the content types a
// browser may send cross-site without asking (a CORS "simple request":
// text/plain, forms, or none): there is no token to stop another site's
// page from publishing through the visitor's browser. A JSON content type
// makes a cross-site browser ask first (preflight), which nothing answers.
func (s *Service) checkContentType(r *http.Request) *schemas.PublishError {
	if !s.verifier.Disabled() {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return perr(http.StatusUnsupportedMediaType, CodeUnsupportedContentType, "", "send Content-Type: application/json (with auth off, other types are refused so other sites cannot post through a browser)")
}

// refuse answers a request refused as a whole, charges it to the client
// address's and the user's buckets when spend (not when the refusal is the
// empty bucket itself), and logs it.
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, claims *auth.Claims, room string, pe *schemas.PublishError, why string, spend bool) {
	if spend {
		now := s.now()
		s.clientLim.allow(clientAddr(r), now)
		if claims != nil {
			s.userLim.allow(claims.User(), now)
		}
	}
	s.logs.refused(r.RemoteAddr, claims, room, pe, why, 1, 1)
	s.fail(w, pe)
}

// logRefusal logs the refused events of a request as one line.
func (s *Service) logRefusal(remote string, claims *auth.Claims, room string, n int, items []*item) {
	var first *schemas.PublishError
	refused := 0
	for _, it := range items {
		if it.err != nil {
			refused++
			if first == nil {
				first = it.err
			}
		}
	}
	s.logs.refused(remote, claims, room, first, "", refused, n)
}

// fail answers a request refused as a whole.
func (s *Service) fail(w http.ResponseWriter, pe *schemas.PublishError) {
	s.m.requests.WithLabelValues(transportHTTP, pe.Code).Inc()
	if pe.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ovation", error="invalid_token"`)
	}
	if pe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pe.RetryAfter))
	}
	writeJSON(w, pe.Status, ErrorResponse{Error: pe})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"cannot encode the answer"}}`)
	}
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// clientAddr is the key of the per-address limit: the peer's IP without
// its port, so one client's many connections share a bucket.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
