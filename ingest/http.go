package ingest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/segmentio/encoding/json"

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
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	claims, pe := s.authenticate(r)
	if pe == nil {
		pe = s.checkRequest(claims, room)
	}
	if pe != nil {
		s.fail(w, pe)
		return
	}
	if r.ContentLength > s.cfg.MaxRequestBytes {
		s.fail(w, perr(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "", "the body is %d bytes, the limit is %d", r.ContentLength, s.cfg.MaxRequestBytes))
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
		if buf.Cap() <= 256<<10 {
			s.bufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, perr(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "", "the body is over the limit of %d bytes", s.cfg.MaxRequestBytes))
			return
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			s.log.Debug("read body", "err", err)
		}
		s.fail(w, errInvalidJSON("could not read the body"))
		return
	}
	body := trimSpace(buf.Bytes())
	if len(body) == 0 {
		s.fail(w, errInvalidJSON("the body is empty; send one event object or an array of them"))
		return
	}
	if body[0] != '[' && body[0] != '{' {
		s.fail(w, errInvalidJSON("the body must be one event (a JSON object) or a batch (a JSON array)"))
		return
	}
	// The structure is checked in one pass before anything decodes it, so
	// a deeply nested or token-stuffed body costs no more than reading it.
	n, err := schemas.CheckBatchShape(body, s.shape, s.cfg.MaxBatchEvents)
	switch {
	case err != nil:
		ve, _ := schemas.AsValidationError(err)
		s.fail(w, errInvalidJSON("%s", ve.Detail))
		return
	case n == 0:
		s.fail(w, perr(http.StatusBadRequest, CodeEmptyBatch, "", "the batch is empty"))
		return
	case n > s.cfg.MaxBatchEvents:
		s.fail(w, perr(http.StatusRequestEntityTooLarge, CodeBatchTooLarge, "", "the batch has more than %d events", s.cfg.MaxBatchEvents))
		return
	}
	var raws []json.RawMessage
	batch := body[0] == '['
	if batch {
		// The items point into buf, which outlives their use.
		raws = make([]json.RawMessage, 0, n)
		if _, err := json.Parse(body, &raws, json.DontCopyRawMessage); err != nil {
			s.fail(w, errInvalidJSON("the body is not a valid JSON array"))
			return
		}
	} else {
		raws = []json.RawMessage{body}
	}

	req := s.newRequest(claims, room)
	// Strings may point into buf: everything that outlives this function
	// (the record values) is copied, and buf is recycled only after the
	// answer is written.
	req.parseFlags |= json.DontCopyString
	// One allocation for the records' values, sized from the body.
	req.arena = make([]byte, 0, len(body)+len(raws)*(96+len(req.key)+len(req.user)+36))
	client := clientAddr(r)
	store := make([]item, len(raws))
	items := make([]*item, len(raws))
	for i, raw := range raws {
		it := &store[i]
		it.index = i
		s.prepare(req, it, raw)
		s.limit(req, it, client)
		items[i] = it
	}
	s.produce(r.Context(), items)
	accepted := s.count(transportHTTP, items)

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
	writeBody(w, status, appendBatch(make([]byte, 0, 64+len(items)*72), accepted, items))
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
// user is the ?user= query parameter, or "dev".
func (s *Service) authenticate(r *http.Request) (*auth.Claims, *schemas.PublishError) {
	token := auth.BearerToken(r.Header.Get("Authorization"))
	claims, err := s.verifier.Verify(token, r.URL.Query().Get("user"))
	if err == nil {
		return claims, nil
	}
	// The error text comes from the JWT parser and names what failed
	// (signature, algorithm, expiry), never the token itself.
	s.log.Info("publish unauthorized", "remote", r.RemoteAddr, "err", err.Error())
	switch {
	case errors.Is(err, auth.ErrNoToken):
		return nil, perr(http.StatusUnauthorized, CodeUnauthorized, "", "missing bearer token (send the header Authorization: Bearer TOKEN)")
	case errors.Is(err, auth.ErrExpiredToken):
		return nil, perr(http.StatusUnauthorized, CodeTokenExpired, "", "the token has expired")
	default:
		return nil, perr(http.StatusUnauthorized, CodeUnauthorized, "", "the token is not valid")
	}
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
