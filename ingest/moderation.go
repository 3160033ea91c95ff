package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// Moderation refusal codes (docs/moderation.md). The processors' fold is
// the authority and ignores the same events with the same names; ingest
// refuses them early from its ModView, which can lag the fold by the time
// a frame takes to reach it (see ModView).
const (
	CodeBanned       = "banned"        // 403: the user is banned or timed out in the room; until and retry_after for a timeout
	CodeSlowMode     = "slow_mode"     // 429: a chat line sooner than the room's slow mode allows; retry_after
	CodeChatOff      = "chat_off"      // 403: chat is off in the room
	CodeReactionsOff = "reactions_off" // 403: reactions are off in the room
	CodeQuestionsOff = "questions_off" // 403: new questions are off in the room
	CodeEmoteOnly    = "emote_only"    // 403: the room takes only chat lines of emoji
)

// ModView is ingest's copy of the moderation state of the rooms that have
// one (state.mod: sanctions and controls), kept from the frames and
// snapshots the processors write, and the time of each user's last chat
// line this process accepted in a room under slow mode. Publish and the
// HTTP endpoint check every event against it before producing.
//
// It lags the fold: a sanction is refused here once its frame has been
// committed and read back (a processor tick plus a fetch, typically
// 50–300 ms), and slow mode counts only the lines this process took (a
// user spreading lines over several ingest processes is caught by the
// fold). What slips through in that window is ignored by the processors
// with the same reason and counted nowhere; the publisher got "accepted".
//
// Rooms without moderation state cost one map lookup per event. Memory is
// bounded by the rooms with moderation state and by maxSlow entries.
type ModView struct {
	mu    sync.RWMutex
	rooms map[string]*modRoom
	// dep is the deployment room (SetDeploymentRoom): its sanctions
	// (depSanctions, kept with its entry) refuse a user in every room.
	dep          string
	depSanctions map[string]schemas.Sanction

	slowMu  sync.Mutex
	last    map[slowKey]int64
	maxSlow int

	// polls refuses votes and answers early (polls.go), fed by the same
	// watch.
	polls pollView
}

type modRoom struct {
	epoch string
	seq   uint64
	mod   schemas.Moderation
}

type slowKey struct{ room, user string }

// defaultMaxSlow bounds ModView's slow-mode entries.
const defaultMaxSlow = 200_000

// NewModView returns an empty view.
func NewModView() *ModView {
	return &ModView{rooms: map[string]*modRoom{}, last: map[slowKey]int64{}, maxSlow: defaultMaxSlow}
}

// SetDeploymentRoom makes the sanctions of room (the deployment room,
// --deployment-room; docs/moderation.md) apply in every room. Call it
// before the view is fed; "" (the default): none.
func (v *ModView) SetDeploymentRoom(room string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dep = room
	v.depSanctions = nil
	if r := v.rooms[room]; r != nil && room != "" {
		v.depSanctions = r.mod.Sanctions
	}
}

// syncDep refreshes depSanctions after room's entry changed. v.mu is
// held.
func (v *ModView) syncDep(room string) {
	if room != v.dep || room == "" {
		return
	}
	v.depSanctions = nil
	if r := v.rooms[room]; r != nil {
		v.depSanctions = r.mod.Sanctions
	}
}

// Rooms returns how many rooms have moderation state in the view.
func (v *ModView) Rooms() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.rooms)
}

// ApplyFrame folds a frame record's moderation change into the view; a
// frame without one costs a search of its first bytes. It reports
// whether the view changed.
func (v *ModView) ApplyFrame(b []byte) bool {
	f, ok := schemas.PeekFrameMod(b)
	if !ok {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	defer v.syncDep(f.Room)
	r := v.rooms[f.Room]
	switch {
	case r == nil:
		r = &modRoom{}
		v.rooms[f.Room] = r
	case r.epoch == f.Epoch && f.Seq <= r.seq:
		return false // a snapshot at or past it is in already
	case r.epoch != f.Epoch && f.Seq == 1:
		r.mod = schemas.Moderation{} // a new epoch's first frame carries the whole state
	}
	r.epoch, r.seq = f.Epoch, f.Seq
	mod := r.mod
	st := schemas.RoomState{Mod: &mod}
	st.Apply(&schemas.Delta{Mod: f.Delta.Mod})
	r.mod = schemas.Moderation{} // nil: nothing moderated any more; the position stays
	if st.Mod != nil {
		r.mod = *st.Mod
	}
	return true
}

// ApplySnapshot replaces a room's moderation state with a snapshot's, if
// the snapshot is newer than what the view has. Only the snapshot's
// header and its mod object are decoded (schemas.PeekSnapshotMod).
func (v *ModView) ApplySnapshot(b []byte) bool {
	h, m, ok := schemas.PeekSnapshotMod(b)
	if !ok {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	defer v.syncDep(h.Room)
	r := v.rooms[h.Room]
	if m == nil {
		// A room whose new epoch has no moderation state loses its entry;
		// in the same epoch, a newer snapshot says nothing is moderated.
		switch {
		case r == nil:
			return false
		case r.epoch != h.Epoch:
			delete(v.rooms, h.Room)
			return true
		case h.Seq > r.seq:
			r.seq, r.mod = h.Seq, schemas.Moderation{}
			return true
		}
		return false
	}
	if r != nil && r.epoch == h.Epoch && h.Seq <= r.seq {
		return false
	}
	if r == nil {
		r = &modRoom{}
		v.rooms[h.Room] = r
	}
	r.epoch, r.seq, r.mod = h.Epoch, h.Seq, *m
	return true
}

// modLook is what the view says of one (room, user): looked up once per
// request (its events share the room and the token's user), so a batch
// pays the lookups once. A request takes well under a millisecond; a
// change of the view meanwhile is caught by the fold like any lag.
type modLook struct {
	done       bool
	forRoom    string // the room and user looked up
	forUser    string
	room       bool // the room has moderation state
	sanctioned bool
	sn         schemas.Sanction
	dep        bool // sanctioned deployment-wide
	dsn        schemas.Sanction
	c          schemas.Controls
}

// look fills l for user in room. v.mu is not held.
func (v *ModView) look(l *modLook, room, user string) {
	v.mu.RLock()
	if len(v.depSanctions) > 0 {
		l.dsn, l.dep = v.depSanctions[user]
	}
	if r := v.rooms[room]; r != nil {
		l.room = true
		l.sn, l.sanctioned = r.mod.Sanctions[user]
		l.c = r.mod.Controls
	}
	v.mu.RUnlock()
	l.done, l.forRoom, l.forUser = true, room, user
}

// check returns the refusal of an event of type t (body validated) by
// user in room at now (ms), or nil. slow reports whether the event is a
// chat line under slow mode, to be noted once it is accepted.
func (v *ModView) check(room, user string, t schemas.Type, body schemas.Payload, now int64) (pe *schemas.PublishError, slow bool) {
	var l modLook
	return v.checkLook(&l, room, user, t, body, now)
}

// checkLook is check with the request's lookup l (filled on first use).
func (v *ModView) checkLook(l *modLook, room, user string, t schemas.Type, body schemas.Payload, now int64) (pe *schemas.PublishError, slow bool) {
	if pe := v.polls.check(room, body, now); pe != nil {
		return pe, false
	}
	if !l.done || l.forRoom != room || l.forUser != user {
		*l = modLook{}
		v.look(l, room, user)
	}
	dsn, dep := l.dsn, l.dep
	if !l.room {
		if dep && dsn.Active(now) {
			return bannedError(dsn, now, "everywhere"), false
		}
		return nil, false
	}
	sn, sanctioned, c := l.sn, l.sanctioned, l.c
	if sanctioned && sn.Active(now) {
		return bannedError(sn, now, "in this room"), false
	}
	if dep && dsn.Active(now) {
		return bannedError(dsn, now, "everywhere"), false
	}
	var text string
	if d, ok := body.(*schemas.ChatMessageData); ok {
		text = d.Text
	}
	switch code := c.ControlRefusal(t, text); code {
	case "":
	case CodeEmoteOnly:
		return perr(http.StatusForbidden, code, "data.text", "the room takes only chat lines of emoji"), false
	default:
		return perr(http.StatusForbidden, code, "type", "%s is off in this room", t), false
	}
	if t != schemas.ChatMessage || c.SlowMode <= 0 {
		return nil, false
	}
	v.slowMu.Lock()
	last, ok := v.last[slowKey{room, user}]
	v.slowMu.Unlock()
	if wait := last + int64(c.SlowMode)*1000 - now; ok && wait > 0 {
		e := perr(http.StatusTooManyRequests, CodeSlowMode, "", "slow mode: one chat line every %d s in this room; retry after %d s", c.SlowMode, (wait+999)/1000)
		e.RetryAfter = int((wait + 999) / 1000)
		return e, false
	}
	return nil, true
}

// bannedError is the refusal of a sanctioned user's event: where is "in
// this room" or "everywhere" (a deployment-wide sanction).
func bannedError(sn schemas.Sanction, now int64, where string) *schemas.PublishError {
	if sn.Until == 0 {
		return perr(http.StatusForbidden, CodeBanned, "", "you are banned %s", where)
	}
	e := perr(http.StatusForbidden, CodeBanned, "", "you are timed out %s until %s", where, time.UnixMilli(sn.Until).UTC().Format(time.RFC3339))
	e.Until = sn.Until
	e.RetryAfter = int((sn.Until - now + 999) / 1000)
	return e
}

// noteChat records an accepted chat line of user in room at ts (ms).
func (v *ModView) noteChat(room, user string, ts int64) {
	v.slowMu.Lock()
	defer v.slowMu.Unlock()
	if len(v.last) >= v.maxSlow {
		// Lines older than the longest slow mode can no longer refuse
		// anything; if that is not enough, start over (the fold still
		// enforces slow mode).
		cut := ts - schemas.MaxSlowModeSeconds*1000
		for k, t := range v.last {
			if t <= cut {
				delete(v.last, k)
			}
		}
		if len(v.last) >= v.maxSlow {
			clear(v.last)
		}
	}
	v.last[slowKey{room, user}] = ts
}

// SetModeration makes s refuse events from v's moderation state (nil:
// no pre-check). Call it before serving.
func (s *Service) SetModeration(v *ModView) { s.modView = v }

// ModWatch keeps a ModView from the frames and snapshots topics, read
// committed from their start (the snapshots topic is compacted; frames
// are bounded by their retention), then followed.
//
// Run owns the consumer.
type ModWatch struct {
	view *ModView
	log  *slog.Logger
	cl   *kgo.Client
}

// NewModWatch returns a watch that feeds view from the topics.
func NewModWatch(brokers []string, frames, snapshots string, view *ModView, log *slog.Logger, opts ...kgo.Opt) (*ModWatch, error) {
	if len(brokers) == 0 || frames == "" || snapshots == "" || view == nil || log == nil {
		return nil, fmt.Errorf("%w: moderation watch needs brokers, both topics, a view and a logger", ErrInvalidConfig)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(frames, snapshots),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("moderation watch: %w", err)
	}
	return &ModWatch{view: view, log: log, cl: cl}, nil
}

// Run reads until ctx ends, then closes the consumer.
func (w *ModWatch) Run(ctx context.Context, frames string) error {
	defer w.cl.Close()
	warned := false
	for {
		fs := w.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !warned && !errors.Is(err, context.Canceled) {
				warned = true
				w.log.Warn("moderation watch: fetch failed; ingest's moderation pre-check may lag", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == frames {
				w.view.ApplyFrame(r.Value)
				w.view.polls.applyFrame(r.Value)
			} else {
				w.view.ApplySnapshot(r.Value)
				w.view.polls.applySnapshot(r.Value)
			}
		})
	}
}
