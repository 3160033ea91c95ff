package pushers

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/ovation-live/ovation/internal/auth"
)

// Token lifecycle on an open socket (docs/protocol.md §6): a connection's
// token is good until exp + Config.TokenLeeway; Config.RefreshBefore ahead
// of exp the server sends a refresh hint, and a refresh op with a newer
// token of the same user moves both times. Past the deadline the
// connection is closed with 4002.
//
// The times live on one wheel of tokenTick-wide slots swept by one
// goroutine (Server.tokenLoop): a connection costs one map entry, not a
// timer or a goroutine, and a refresh moves it in O(1).

// tokenTick is the wheel's resolution: closes land at most this much (plus
// scheduling delay) after their deadline.
const tokenTick = 100 * time.Millisecond

// wheel holds, per slot, the connections whose next token event is due in
// it. mu guards slots, next and every Conn.slot; it is taken after
// Conn.tokMu, never before.
type wheel struct {
	mu    sync.Mutex
	slots map[int64]map[*Conn]struct{}
	next  int64 // first slot not yet swept; 0 before the first sweep
}

func newWheel() *wheel { return &wheel{slots: map[int64]map[*Conn]struct{}{}} }

// slotOf rounds t up to its slot, so a slot is swept no earlier than every
// time in it.
func slotOf(t time.Time) int64 {
	n := t.UnixNano()
	return (n + int64(tokenTick) - 1) / int64(tokenTick)
}

func (w *wheel) schedule(c *Conn, at time.Time) {
	s := slotOf(at)
	w.mu.Lock()
	w.removeLocked(c)
	if w.next != 0 && s < w.next {
		s = w.next // already past: the next sweep takes it
	}
	m := w.slots[s]
	if m == nil {
		m = map[*Conn]struct{}{}
		w.slots[s] = m
	}
	m[c] = struct{}{}
	c.slot = s
	w.mu.Unlock()
}

func (w *wheel) cancel(c *Conn) {
	w.mu.Lock()
	w.removeLocked(c)
	w.mu.Unlock()
}

func (w *wheel) removeLocked(c *Conn) {
	if c.slot == 0 {
		return
	}
	if m := w.slots[c.slot]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(w.slots, c.slot)
		}
	}
	c.slot = 0
}

// due removes and returns the connections of every slot up to now.
func (w *wheel) due(now time.Time) []*Conn {
	end := now.UnixNano() / int64(tokenTick)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next == 0 {
		w.next = end
		if len(w.slots) > 0 {
			// Connections may have been scheduled before the first sweep.
			for s := range w.slots {
				w.next = min(w.next, s)
			}
		}
	}
	var out []*Conn
	take := func(s int64) {
		for c := range w.slots[s] {
			c.slot = 0
			out = append(out, c)
		}
		delete(w.slots, s)
	}
	if end-w.next > int64(len(w.slots))+64 {
		// A long stall (or a clock jump): visit the occupied slots
		// rather than every empty one in between.
		for s := range w.slots {
			if s <= end {
				take(s)
			}
		}
	} else {
		for s := w.next; s <= end; s++ {
			if _, ok := w.slots[s]; ok {
				take(s)
			}
		}
	}
	w.next = end + 1
	return out
}

// tokenLoop sweeps the wheel every tokenTick until ctx ends.
func (s *Server) tokenLoop(ctx context.Context) error {
	t := time.NewTicker(tokenTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			for _, c := range s.tokens.due(now) {
				c.onTokenTimer(now)
			}
		}
	}
}

// setToken makes claims the connection's token and schedules its hint and
// its close. Hint time: RefreshBefore ahead of exp, but never before half
// the token's remaining life has passed, so a short-lived token is not
// asked to refresh the moment it arrives (which would loop).
func (c *Conn) setToken(claims *auth.Claims, now time.Time) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	c.claims.Store(claims)
	if claims.ExpiresAt == nil {
		c.srv.tokens.cancel(c)
		return
	}
	exp := claims.ExpiresAt.Time
	c.closeAt = exp.Add(c.srv.cfg.TokenLeeway)
	c.hintAt = exp.Add(-c.srv.cfg.RefreshBefore)
	if half := now.Add(exp.Sub(now) / 2); c.hintAt.Before(half) {
		c.hintAt = half
	}
	c.hinted = false
	c.srv.tokens.schedule(c, c.hintAt)
}

// onTokenTimer runs when the connection's slot is swept: it sends the
// hint or closes, and schedules what comes next.
func (c *Conn) onTokenTimer(now time.Time) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.isClosing() {
		return
	}
	cl := c.claims.Load()
	if cl == nil || cl.ExpiresAt == nil {
		return
	}
	switch {
	case !now.Before(c.closeAt):
		c.srv.m.tokenExpiries.Inc()
		c.srv.refusals.warn("websocket closed: token expired", "remote", c.remote(), "user", c.user, "exp", cl.ExpiresAt.Time.UTC().Format(time.RFC3339))
		c.closeWith(CloseTokenExpired, "token expired: refresh before exp, or reconnect with a fresh token")
	case !c.hinted && !now.Before(c.hintAt):
		c.hinted = true
		c.srv.m.refreshHints.Inc()
		c.sendRaw("", mustJSON(&wireRefreshHint{Type: "refresh", Exp: cl.ExpiresAt.Unix(), CloseAt: c.closeAt.UnixMilli()}))
		c.srv.tokens.schedule(c, c.closeAt)
	case !c.hinted:
		c.srv.tokens.schedule(c, c.hintAt)
	default:
		c.srv.tokens.schedule(c, c.closeAt)
	}
}

// tokenExpired reports whether the connection's token is past its
// deadline (exp + TokenLeeway).
func (c *Conn) tokenExpired() bool {
	cl := c.claims.Load()
	if cl.ExpiresAt == nil {
		return false
	}
	return time.Now().After(cl.ExpiresAt.Add(c.srv.cfg.TokenLeeway))
}

// onRefresh answers the refresh op: a valid token of the same user that
// expires later than the current one replaces it; subscriptions it no
// longer grants end with an unsubscribed message carrying code forbidden.
// Any refusal changes nothing.
func (c *Conn) onRefresh(m *clientMsg) {
	refuse := func(code, msg string, err error) {
		c.srv.m.refreshes.WithLabelValues(code).Inc()
		args := []any{"remote", c.remote(), "user", c.user, "code", code}
		if err != nil {
			args = append(args, "err", err)
		}
		c.srv.refusals.warn("token refresh refused", args...)
		c.sendError(&wireError{ID: m.ID, Code: code, Field: "token", Message: msg})
	}
	if m.Token == "" {
		c.refuseRequest(&wireError{ID: m.ID, Code: CodeBadRequest, Field: "token", Message: "token is missing: send {\"op\":\"refresh\",\"token\":\"<JWT>\"}"})
		return
	}
	if c.srv.cfg.Verifier.Disabled() {
		// Auth is off: nothing expires, nothing to replace.
		c.srv.m.refreshes.WithLabelValues("ok").Inc()
		c.sendRaw("", mustJSON(&wireRefreshed{Type: "refreshed", ID: m.ID}))
		return
	}
	now := time.Now()
	cl, err := c.srv.cfg.Verifier.Verify(m.Token, "")
	switch {
	case errors.Is(err, auth.ErrExpiredToken):
		refuse(CodeTokenExpired, "the new token is expired; the current one stays in force", err)
		return
	case err != nil:
		refuse(CodeInvalidToken, "the new token is invalid (malformed, forged or unverifiable); the current one stays in force", err)
		return
	case cl.Subject != c.user:
		refuse(CodeTokenWrongUser, "the new token is for another user; a connection keeps its user", nil)
		return
	}
	cur := c.claims.Load()
	switch {
	case cl.ExpiresAt == nil || now.After(cl.ExpiresAt.Add(c.srv.cfg.TokenLeeway)):
		refuse(CodeTokenExpired, "the new token is expired; the current one stays in force", nil)
		return
	case cur.ExpiresAt != nil && !cl.ExpiresAt.After(cur.ExpiresAt.Time):
		refuse(CodeTokenNotNewer, "the new token does not expire later than the current one ("+strconv.FormatInt(cur.ExpiresAt.Unix(), 10)+")", nil)
		return
	}
	c.setToken(cl, now)
	c.srv.m.refreshes.WithLabelValues("ok").Inc()
	// Capabilities may shrink: end the subscriptions the new token does
	// not grant. The reader goroutine (this one) owns membership changes.
	var gone []*room
	c.roomsMu.Lock()
	for id, r := range c.rooms {
		if !canWatch(cl, id) {
			delete(c.rooms, id)
			gone = append(gone, r)
		}
	}
	c.roomsMu.Unlock()
	for _, r := range gone {
		c.srv.hub.unsubscribe(c, r)
		c.sendRaw(r.id, mustJSON(&wireUnsubscribed{Type: "unsubscribed", Room: r.id, Code: CodeForbidden,
			Message: "the refreshed token does not grant subscribe in room " + r.id}))
	}
	c.sendRaw("", mustJSON(&wireRefreshed{Type: "refreshed", ID: m.ID, Exp: cl.ExpiresAt.Unix()}))
}
