package pushers

import (
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// Deployment-wide sanctions (docs/moderation.md): the deployment room
// (Config.DeploymentRoom) is a normal room whose frames and snapshots
// every pusher reads like any; its sanctions apply in every room. A frame
// of it that sanctions users ends every subscription of those users on
// this pusher (rooms and moderator views) with unsubscribed, code banned,
// and while the sanction is in force their subscribe to any room is
// refused with banned. The processors' fold stays the authority.

// depSnapshot takes the deployment room's sanctions from its snapshot,
// if newer than what the hub has (also for a snapshot indexed as idle).
func (h *hub) depSnapshot(sn *snapMsg) {
	if !sn.modKnown {
		return
	}
	h.depMu.Lock()
	defer h.depMu.Unlock()
	if h.dep.epoch == sn.epoch && sn.seq <= h.dep.seq {
		return
	}
	h.dep = roomMod{epoch: sn.epoch, seq: sn.seq, banned: sanctionEnds(sn.sanctions)}
}

// depFrame folds a deployment room frame's moderation change and ends
// the subscriptions of the users it sanctions in every room. No lock is
// held (a shard's lock is taken before a room's).
func (h *hub) depFrame(f *frameMsg) {
	d := f.mod
	h.depMu.Lock()
	h.dep.fold(f)
	h.depMu.Unlock()
	if len(d.Sanctions) > 0 {
		h.endEverywhere(d.Sanctions)
	}
}

// depBannedUntil reports whether user is sanctioned deployment-wide at
// now, and until when (0: a ban).
func (h *hub) depBannedUntil(user string, now int64) (int64, bool) {
	h.depMu.Lock()
	defer h.depMu.Unlock()
	until, ok := h.dep.banned[user]
	if !ok || until != 0 && until <= now {
		return 0, false
	}
	return until, true
}

// endEverywhere ends the sanctioned users' subscriptions to every room
// and view on this pusher.
func (h *hub) endEverywhere(sanctions map[string]schemas.Sanction) {
	now := time.Now().UnixMilli()
	live := false
	for _, s := range sanctions {
		live = live || s.Active(now)
	}
	if !live {
		return
	}
	var rooms []*room
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for _, r := range sh.rooms {
			rooms = append(rooms, r)
		}
		sh.mu.Unlock()
	}
	for _, r := range rooms {
		r.mu.Lock()
		if !r.deleted && len(r.subs) > 0 {
			h.endSanctioned(r, sanctions, true)
		}
		r.mu.Unlock()
	}
}
