package pushers

import (
	"time"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// Moderation on the pushers (docs/moderation.md): a frame whose delta
// sanctions users ends those users' subscriptions to the room, on every
// pusher, with an unsubscribed message carrying code banned (and until,
// for a timeout); the frame itself, which shows the sanction in
// state.mod, is delivered first. A sanctioned user's subscribe is refused
// with an error of the same code while the sanction is in force, as far
// as this pusher knows the room's moderation (from its snapshots and
// frames). The processors' fold stays the authority: nothing the user
// publishes after the sanction counts, whatever a pusher knew.

// CodeBanned ends a subscription (unsubscribed) or refuses a subscribe
// (error) of a user banned or timed out in the room.
const CodeBanned = "banned"

// roomMod is what a pusher room knows of its moderation: the position it
// is from and each sanctioned user's end (0: a ban).
type roomMod struct {
	epoch  string
	seq    uint64
	banned map[string]int64
}

// fold applies a frame's sanctions and lifts to m, unless a snapshot of
// the same epoch already told them (the snapshots topic is read apart
// from the frames, often ahead); a new epoch starts over.
func (m *roomMod) fold(f *frameMsg) {
	switch {
	case m.epoch != f.epoch:
		*m = roomMod{epoch: f.epoch}
		fallthrough
	case f.seq > m.seq:
		m.seq = f.seq
		for _, u := range f.mod.Lifted {
			delete(m.banned, u)
		}
		for u, s := range f.mod.Sanctions {
			if m.banned == nil {
				m.banned = map[string]int64{}
			}
			m.banned[u] = s.Until
		}
	}
}

func sanctionEnds(m map[string]schemas.Sanction) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(m))
	for u, s := range m {
		out[u] = s.Until
	}
	return out
}

// applySnapMod takes a snapshot's moderation if it is newer than what r
// has. r.mu is held.
func (r *room) applySnapMod(sn *snapMsg) {
	if !sn.modKnown {
		return
	}
	if r.mod.epoch == sn.epoch && sn.seq <= r.mod.seq {
		return
	}
	r.mod = roomMod{epoch: sn.epoch, seq: sn.seq, banned: sanctionEnds(sn.sanctions)}
}

// applyFrameMod folds a frame's moderation change into r and ends the
// subscriptions of the users it sanctions. r.mu is held.
func (h *hub) applyFrameMod(r *room, f *frameMsg) {
	d := f.mod
	r.mod.fold(f)
	if len(d.Sanctions) == 0 {
		return
	}
	// Subscribers get the frame, then lose the subscription, whatever a
	// snapshot said first.
	h.endSanctioned(r, d.Sanctions, false)
}

// endSanctioned ends the subscriptions to r of the users sanctions
// holds (in force now) with unsubscribed, code banned. r.mu is held.
func (h *hub) endSanctioned(r *room, sanctions map[string]schemas.Sanction, everywhere bool) {
	now := time.Now().UnixMilli()
	for c, s := range r.subs {
		sn, ok := sanctions[c.user]
		if !ok || !sn.Active(now) {
			continue
		}
		if s.pending {
			r.pending--
		}
		delete(r.subs, c)
		h.srv.m.subscriptions.Dec()
		c.sendRaw(r.id, mustJSON(&wireUnsubscribed{Type: "unsubscribed", Room: r.id, Code: CodeBanned, Until: sn.Until, Message: bannedMessage(sn.Until, everywhere)}))
		c.forgetRoom(r)
	}
}

func bannedMessage(until int64, everywhere bool) string {
	where := "in this room"
	if everywhere {
		where = "everywhere"
	}
	if until == 0 {
		return "you are banned " + where
	}
	return "you are timed out " + where + " until " + time.UnixMilli(until).UTC().Format(time.RFC3339)
}

// bannedUntil reports whether user is sanctioned in room id, or
// deployment-wide (deployment.go), as far as this pusher knows, and until
// when (0: a ban).
func (h *hub) bannedUntil(id, user string) (until int64, banned, everywhere bool) {
	now := time.Now().UnixMilli()
	r := h.lock(id)
	until, ok := r.mod.banned[user]
	r.mu.Unlock()
	if ok && (until == 0 || until > now) {
		return until, true, false
	}
	if until, ok := h.depBannedUntil(user, now); ok {
		return until, true, true
	}
	return 0, false, false
}

// peekMod reads the snapshot's sanctions from its raw value.
func (sn *snapMsg) peekMod() {
	h, m, ok := schemas.PeekSnapshotMod(sn.raw)
	if !ok || h.Room != sn.room || h.Epoch != sn.epoch || h.Seq != sn.seq {
		return
	}
	sn.modKnown = true
	if m != nil {
		sn.sanctions = m.Sanctions
	}
}

// canWatch reports whether cl may subscribe to stream id: a room with
// subscribe in it, a room's moderator view (its pending queue,
// schemas.ModView) with moderate in the room.
func canWatch(cl *auth.Claims, id string) bool {
	if room, view := schemas.ModViewOf(id); view {
		return cl.Can(room, schemas.CapModerate)
	}
	return cl.Can(id, schemas.CapSubscribe)
}

// endViews ends the sanctioned users' subscriptions to the moderator view
// of room (a banned moderator stops seeing the pending queue), as
// applyFrameMod does for the room. The frames reader calls it after
// addFrame, with no lock held: a shard's lock is taken before a room's
// (removeIdle), never after.
func (h *hub) endViews(room string, sanctions map[string]schemas.Sanction) {
	id := schemas.ModView(room)
	sh := &h.shards[shardOf(id)]
	sh.mu.Lock()
	v := sh.rooms[id]
	sh.mu.Unlock()
	if v == nil {
		return // nobody watches the view on this pusher
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.deleted {
		h.endSanctioned(v, sanctions, false)
	}
}
