package processors

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/segmentio/encoding/json"
)

// A rebuild reads the room's history from the events topic, which can
// take longer than a transaction may stay open. So it runs in two steps,
// with the read between them outside any transaction:
//
//  1. StartRebuild, in the transaction that consumes the request: the
//     room's pending frame is closed and an r/R record remembers the
//     request. From then on the room's events are stashed (Stash, one
//     q/R/O record per event, O its events offset) instead of applied:
//     the transactions go on committing the partition's offsets, so the
//     other rooms of the partition keep flowing.
//  2. FinishRebuild, in a later transaction, once the read is done:
//     the fold of the history becomes the new epoch, the stashed events
//     are applied after it in order, and r/ and q/ are tombstoned.
//
// A crash in between restores r/ and q/ from the changelog and the read
// starts again: a slow rebuild delays its room, never the partition.

// rebuildJob is a room's rebuild between StartRebuild and FinishRebuild.
type rebuildJob struct {
	Req   RebuildRequest `json:"req"`
	At    int64          `json:"at"` // events offset of the request
	Epoch string         `json:"epoch"`
	stash []stashed
}

// stashed is one event of a rebuilding room, kept until the rebuild ends.
type stashed struct {
	Offset int64
	Value  []byte
}

func rebuildKey(room string) []byte { return []byte("r/" + room) }
func stashKey(room string, off int64) []byte {
	return []byte("q/" + room + "/" + strconv.FormatInt(off, 10))
}

// Rebuilding reports whether room's rebuild is under way.
func (p *Partition) Rebuilding(room string) bool { _, ok := p.rebuilds[room]; return ok }

// RebuildJobs returns the rebuilds under way (after a restore, the caller
// starts their reads again).
func (p *Partition) RebuildJobs() map[string]RebuildRequest {
	out := make(map[string]RebuildRequest, len(p.rebuilds))
	for room, j := range p.rebuilds {
		out[room] = j.Req
	}
	return out
}

// RebuildAt returns the events offset of room's rebuild request: the read
// covers [Req.FromOffset, at).
func (p *Partition) RebuildAt(room string) int64 { return p.rebuilds[room].At }

// StartRebuild begins room's rebuild into epoch for the request at events
// offset at. The room must be loaded (not evicted).
func (p *Partition) StartRebuild(room string, req RebuildRequest, at int64, epoch string, b *Batch) {
	if r := p.rooms[room]; r != nil && r.pendAny {
		r.emitFrame(p.cfg, b)
		p.markChanged(r)
	}
	j := &rebuildJob{Req: req, At: at, Epoch: epoch}
	p.rebuilds[room] = j
	b.Changelog = append(b.Changelog, Rec{Key: rebuildKey(room), Value: encodeJSON(j)})
}

// Stash keeps an event of a rebuilding room (its record value and events
// offset) until the rebuild ends.
func (p *Partition) Stash(room string, offset int64, value []byte, b *Batch) {
	j := p.rebuilds[room]
	j.stash = append(j.stash, stashed{Offset: offset, Value: value})
	b.Changelog = append(b.Changelog, Rec{Key: stashKey(room, offset), Value: value})
}

// RebuildEpoch returns the epoch room's rebuild goes to.
func (p *Partition) RebuildEpoch(room string) string { return p.rebuilds[room].Epoch }

// FinishRebuild installs the fold of room's history as its new epoch (see
// Rebuild) and returns the stashed events, in order, for the caller to
// apply. It returns how many history events the fold applied.
func (p *Partition) FinishRebuild(room string, f *fold, b *Batch) (int, []stashed) {
	j := p.rebuilds[room]
	delete(p.rebuilds, room)
	n := p.install(f, b)
	b.Changelog = append(b.Changelog, Rec{Key: rebuildKey(room)})
	for _, s := range j.stash {
		b.Changelog = append(b.Changelog, Rec{Key: stashKey(room, s.Offset)})
	}
	return n, j.stash
}

// restoreRebuilds turns the r/ and q/ records read by a Restorer into the
// partition's rebuilds under way.
func (s *Restorer) restoreRebuilds(p *Partition) error {
	for room, v := range s.rebuilds {
		var j rebuildJob
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("room %s: rebuild record: %w", room, err)
		}
		for off, val := range s.stashes[room] {
			j.stash = append(j.stash, stashed{Offset: off, Value: val})
		}
		slices.SortFunc(j.stash, func(a, b stashed) int { return int(a.Offset - b.Offset) })
		p.rebuilds[room] = &j
	}
	return nil
}
