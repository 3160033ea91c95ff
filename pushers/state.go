package pushers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// GET /v1/rooms/{room}/state (docs/protocol.md, "Room state over HTTP"):
// a room's current state as this pusher holds it, the same document a
// socket's subscribe answers with, for server-side rendering and
// backends. The ETag is "epoch:seq"; a request whose If-None-Match names
// it is answered 304 without reading anything.

// stateWait bounds how long a request waits for a state this pusher can
// answer consistently (a pusher that just started, a room whose snapshot
// and frames do not join yet).
const stateWait = 5 * time.Second

// stateCacheRooms bounds the encoded states kept for repeated requests.
const stateCacheRooms = 1024

// stateView is what a room's state is made of at one position: a snapshot
// (nil: the empty room) and the frames after it.
type stateView struct {
	epoch  string
	seq    uint64
	ts     int64
	snap   *snapMsg
	frames []*frameMsg
}

// stateView returns room id's current state parts, or ok false when the
// pusher cannot answer consistently yet (the same cases in which a
// subscribe waits: see tryBuild).
func (h *hub) stateView(id string) (v stateView, ok bool) {
	r := h.lock(id)
	defer r.mu.Unlock()
	r.active = time.Now().UnixMilli()
	switch sn := r.snap; {
	case sn != nil && (r.epoch == "" || sn.epoch == r.epoch && (sn.seq >= r.last || len(r.win) > 0 && r.win[0].seq <= sn.seq+1)):
		v = stateView{epoch: sn.epoch, seq: sn.seq, ts: sn.ts, snap: sn}
		if sn.epoch == r.epoch {
			v.frames = slices.Clone(r.framesAfter(sn.seq))
		}
	case len(r.win) > 0 && r.win[0].seq == 1:
		v = stateView{epoch: r.epoch, frames: slices.Clone(r.win)}
	case r.epoch == "" && r.snap == nil:
		return stateView{}, true // no history: the empty room
	default:
		return v, false
	}
	if n := len(v.frames); n > 0 {
		v.seq, v.ts = v.frames[n-1].seq, v.frames[n-1].ts
	}
	return v, true
}

// stateCache keeps the last encoded state of recently asked rooms.
type stateCache struct {
	mu sync.Mutex
	m  map[string]cachedState
}

type cachedState struct {
	epoch string
	seq   uint64
	body  []byte
}

func (c *stateCache) get(room, epoch string, seq uint64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[room]; ok && e.epoch == epoch && e.seq == seq {
		return e.body
	}
	return nil
}

func (c *stateCache) put(room, epoch string, seq uint64, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= stateCacheRooms {
		c.m = map[string]cachedState{} // bounded: start over
	}
	c.m[room] = cachedState{epoch, seq, body}
}

// StateHandler serves GET /v1/rooms/{room}/state. Mount it with that
// pattern (the room is read with PathValue).
func (s *Server) StateHandler() http.Handler {
	return http.HandlerFunc(s.serveState)
}

func stateError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(mustJSON(map[string]any{"error": map[string]string{"code": code, "message": msg}}))
}

// ETag of a position: "epoch:seq", quoted as HTTP wants.
func stateETag(epoch string, seq uint64) string {
	return `"` + epoch + ":" + strconv.FormatUint(seq, 10) + `"`
}

// etagMatches reports whether an If-None-Match header names etag (or *).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (s *Server) serveState(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if err := schemas.CheckRoom(room); err != nil {
		stateError(w, http.StatusBadRequest, CodeBadRequest, "room: "+err.Error())
		return
	}
	tok := auth.BearerToken(r.Header.Get("Authorization"))
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	claims, err := s.cfg.Verifier.Verify(tok, r.URL.Query().Get("user"))
	if err != nil {
		s.refusals.warn("state refused: bad token", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="ovation", error="invalid_token"`)
		msg := "invalid token"
		switch {
		case errors.Is(err, auth.ErrNoToken):
			msg = "no token: send Authorization: Bearer or ?token="
		case errors.Is(err, auth.ErrExpiredToken):
			msg = "token expired"
		}
		stateError(w, http.StatusUnauthorized, "unauthorized", msg)
		return
	}
	if !claims.Can(room, schemas.CapSubscribe) {
		stateError(w, http.StatusForbidden, CodeForbidden, "the token does not allow subscribing to this room")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), stateWait)
	defer cancel()
	for {
		body, epoch, seq, err := s.stateOnce(ctx, room, r.Header.Get("If-None-Match"))
		switch {
		case err == nil && body == nil:
			w.Header().Set("ETag", stateETag(epoch, seq))
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusNotModified)
			return
		case err == nil:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", stateETag(epoch, seq))
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(body)
			return
		case !errors.Is(err, errStateNotYet):
			s.log.Warn("room state request failed", "err", err)
		}
		select {
		case <-ctx.Done():
			w.Header().Set("Retry-After", "1")
			stateError(w, http.StatusServiceUnavailable, CodeUnavailable, "the room's state is not readable yet; try again")
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errStateNotYet = errors.New("pushers: state not readable yet")

// stateOnce builds room's current state document, or answers nil with
// the position when ifNoneMatch already names it.
func (s *Server) stateOnce(ctx context.Context, room, ifNoneMatch string) (body []byte, epoch string, seq uint64, err error) {
	v, ok := s.hub.stateView(room)
	if !ok {
		return nil, "", 0, errStateNotYet
	}
	if ifNoneMatch != "" && etagMatches(ifNoneMatch, stateETag(v.epoch, v.seq)) {
		return nil, v.epoch, v.seq, nil
	}
	if b := s.states.get(room, v.epoch, v.seq); b != nil {
		return b, v.epoch, v.seq, nil
	}
	st := schemas.NewRoomState()
	from := uint64(0)
	if v.snap != nil {
		// The snapshot's bytes are dropped once its wire message is
		// built: read it back (one bounded Kafka read per position; the
		// result is cached).
		select {
		case s.fetchSlots <- struct{}{}:
		case <-ctx.Done():
			return nil, "", 0, errStateNotYet
		}
		got, err := s.readSnapshot(v.snap)
		<-s.fetchSlots
		if err != nil {
			return nil, "", 0, err
		}
		if got.epoch != v.epoch || got.seq > v.seq {
			return nil, "", 0, errStateNotYet // compacted past: look again
		}
		snap, err := schemas.UnmarshalSnapshot(got.raw)
		if err != nil {
			return nil, "", 0, err
		}
		st, from = snap.State, got.seq
	}
	for _, f := range v.frames {
		if f.seq <= from {
			continue
		}
		if f.fromSeq() != from+1 {
			return nil, "", 0, errStateNotYet
		}
		d, err := f.decodedDelta()
		if err != nil {
			return nil, "", 0, err
		}
		st.Apply(d)
		from = f.seq
	}
	if from != v.seq {
		return nil, "", 0, errStateNotYet
	}
	body = mustJSON(&wireSnapshot{Type: "snapshot", Room: room, Epoch: v.epoch, Seq: v.seq, TS: v.ts, State: &st})
	s.states.put(room, v.epoch, v.seq, body)
	return body, v.epoch, v.seq, nil
}
