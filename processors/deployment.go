package processors

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// Deployment-wide moderation (docs/moderation.md, "Deployment-wide bans
// and filters"). The deployment room (Config.DeploymentRoom) is a normal
// room; when its fold applies a mod.ban, mod.timeout, mod.unban or
// mod.filters, Partition.Apply puts the event into Batch.Copies and the
// Kafka loop writes it, in the same transaction, into every partition of
// the events topic as a control record (HeaderControl:
// schemas.ControlDeployment). Each partition's processor applies the copy
// to its depTable when it reads it (ApplyDeployment), at the copy's
// offset: every room of the partition judges the events it folds after
// the copy by the table, by the event's ts like a room sanction. So a
// deployment sanction applies to a room's events after the copy in the
// room's partition, never by clock, and every replay, restore or rebuild
// decides the same. The table is one changelog record (g/ key,
// depTableKey), written when it changes and restored with the partition;
// it is not part of any room's state.

// depTableKey is the changelog key of a partition's deployment table.
var depTableKey = []byte("g/deployment")

// depTable is a partition's deployment-wide sanctions and word filter.
type depTable struct {
	sanctions  map[string]schemas.Sanction
	filter     []string // FilterKey of each word, sorted
	filterPats []string
	filterRe   []*regexp.Regexp
	filterMask bool
	filterHold bool
	size       int // bound of the encoded record (depRecord)
}

// depRecord is the g/ record: the table as JSON.
type depRecord struct {
	Sanctions map[string]schemas.Sanction `json:"sanctions,omitempty"`
	Words     []string                    `json:"words,omitempty"` // filter keys
	Patterns  []string                    `json:"patterns,omitempty"`
	Action    string                      `json:"action,omitempty"`
}

// depFixed bounds the record's keys and punctuation.
const depFixed = 128

func (t *depTable) hasFilter() bool { return t != nil && (t.filter != nil || t.filterRe != nil) }

// sanction returns the reason the table refuses an event of user at ts,
// or "".
func (t *depTable) refuses(user string, ts int64) Reason {
	if t == nil || len(t.sanctions) == 0 {
		return ""
	}
	s, ok := t.sanctions[user]
	if !ok || !s.Active(ts) {
		return ""
	}
	if s.Kind == schemas.SanctionTimeout {
		return ReasonTimedOut
	}
	return ReasonBanned
}

func (t *depTable) filterBytes() int {
	n := 0
	for _, k := range t.filter {
		n += jsonStringLen(k) + 1
	}
	for _, p := range t.filterPats {
		n += jsonStringLen(p) + 1
	}
	return n
}

// apply changes the table by one deployment copy; limit is the record
// limit the encoded table must fit. It reports why a copy was not
// applied ("" when it was).
func (t *depTable) apply(ev *schemas.Event, limit int) string {
	switch d := ev.Body.(type) {
	case *schemas.ModBanData:
		return t.set(d.Target, schemas.Sanction{Kind: schemas.SanctionBan, By: ev.User, TS: ev.TS, Reason: d.Reason}, ev.TS, limit)
	case *schemas.ModTimeoutData:
		return t.set(d.Target, schemas.Sanction{Kind: schemas.SanctionTimeout, Until: ev.TS + int64(d.Seconds)*1000, By: ev.User, TS: ev.TS, Reason: d.Reason}, ev.TS, limit)
	case *schemas.ModUnbanData:
		if old, ok := t.sanctions[d.Target]; ok {
			delete(t.sanctions, d.Target)
			t.size -= sanctionBytes(d.Target, old)
		}
		return ""
	case *schemas.ModFiltersData:
		keys, res, n, err := compileFilter(d)
		if err != nil {
			return "pattern: " + err.Error() // validated by the deployment room: cannot happen
		}
		if t.size-t.filterBytes()+n > limit {
			return "the filter does not fit the table's record"
		}
		t.size += n - t.filterBytes()
		t.filter, t.filterPats, t.filterRe = keys, d.Patterns, res
		t.filterMask, t.filterHold = d.Action == schemas.FilterMask, d.Action == schemas.FilterHold
		if len(keys) == 0 {
			t.filter = nil
		}
		if len(res) == 0 {
			t.filterPats, t.filterRe = nil, nil
		}
		return ""
	}
	return fmt.Sprintf("type %s is not deployment-wide", ev.Type)
}

// set puts user's sanction into the table, dropping the timeouts that
// ended at or before ts first (so what the table holds is fixed by the
// log, as pruneSanctions does for a room).
func (t *depTable) set(user string, s schemas.Sanction, ts int64, limit int) string {
	for u, old := range t.sanctions {
		if !old.Active(ts) {
			delete(t.sanctions, u)
			t.size -= sanctionBytes(u, old)
		}
	}
	old, had := t.sanctions[user]
	grow := sanctionBytes(user, s)
	if had {
		grow -= sanctionBytes(user, old)
	}
	switch {
	case !had && len(t.sanctions) >= schemas.MaxDeploymentSanctions:
		return fmt.Sprintf("the table holds %d sanctions, the most it may", len(t.sanctions))
	case t.size+grow > limit:
		return "the sanction does not fit the table's record"
	}
	if t.sanctions == nil {
		t.sanctions = map[string]schemas.Sanction{}
	}
	t.sanctions[user] = s
	t.size += grow
	return ""
}

// record encodes the table (the g/ record's value).
func (t *depTable) record() []byte {
	rec := depRecord{Sanctions: t.sanctions, Words: t.filter, Patterns: t.filterPats}
	if t.filter != nil || t.filterRe != nil {
		rec.Action = schemas.FilterRefuse
		switch {
		case t.filterMask:
			rec.Action = schemas.FilterMask
		case t.filterHold:
			rec.Action = schemas.FilterHold
		}
	}
	return encodeJSON(&rec)
}

// clone copies the table (a rebuild's fold starts from nothing, the
// stash replay from the fold's: see rebuild.go).
func (t *depTable) clone() *depTable {
	c := *t
	c.sanctions = maps.Clone(t.sanctions)
	return &c
}

// parseDepTable decodes a g/ record.
func parseDepTable(b []byte) (*depTable, error) {
	var rec depRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("deployment table record: %w", err)
	}
	t := &depTable{size: depFixed}
	for u, s := range rec.Sanctions {
		if err := schemas.CheckUser(u); err != nil {
			return nil, fmt.Errorf("deployment table record: sanction of %q: %w", u, err)
		}
		if s.Kind != schemas.SanctionBan && s.Kind != schemas.SanctionTimeout {
			return nil, fmt.Errorf("deployment table record: sanction of %q: kind %q", u, s.Kind)
		}
		if t.sanctions == nil {
			t.sanctions = map[string]schemas.Sanction{}
		}
		t.sanctions[u] = s
		t.size += sanctionBytes(u, s)
	}
	if len(rec.Words) > 0 || len(rec.Patterns) > 0 {
		if rec.Action != schemas.FilterRefuse && rec.Action != schemas.FilterMask && rec.Action != schemas.FilterHold {
			return nil, fmt.Errorf("deployment table record: filter action %q", rec.Action)
		}
		if len(rec.Words) > 0 {
			t.filter = slices.Sorted(slices.Values(rec.Words))
		}
		for _, p := range rec.Patterns {
			re, err := schemas.CompilePattern(p)
			if err != nil {
				return nil, fmt.Errorf("deployment table record: pattern %q: %w", p, err)
			}
			t.filterRe = append(t.filterRe, re)
			t.filterPats = append(t.filterPats, p)
		}
		t.filterMask, t.filterHold = rec.Action == schemas.FilterMask, rec.Action == schemas.FilterHold
		t.size += t.filterBytes()
	}
	return t, nil
}

func newDepTable() *depTable { return &depTable{size: depFixed} }

// worstDepTableBytes bounds the g/ record with every sanction of the
// longest, most escaped user, moderator and reason, without a filter
// (the filter's share is measured as it is set).
func worstDepTableBytes() int {
	lt := strings.Repeat("<", schemas.MaxUserLen)
	s := schemas.Sanction{Kind: schemas.SanctionTimeout, Until: 1 << 62, By: lt, TS: 1 << 62, Reason: strings.Repeat("<", schemas.MaxReasonLen)}
	return depFixed + schemas.MaxDeploymentSanctions*(sanctionBytes(lt, s)+1)
}

// ApplyDeployment applies a deployment copy (schemas.ParseDeploymentCopy)
// read at the partition's current position: every event of the
// partition's rooms applied after it is judged by it. It returns why the
// copy changed nothing ("" when it was applied).
func (p *Partition) ApplyDeployment(ev *schemas.Event) string {
	if why := p.dep.apply(ev, p.cfg.MaxRecordBytes); why != "" {
		return why
	}
	p.depChanged = true
	return ""
}

// DeploymentSanctions returns a copy of the partition's deployment-wide
// sanctions.
func (p *Partition) DeploymentSanctions() map[string]schemas.Sanction {
	return maps.Clone(p.dep.sanctions)
}

// copyRecords turns the deployment room's copies of one transaction into
// one control record per events partition, in order.
func copyRecords(topic, room string, nparts int, copies [][]byte) []*kgo.Record {
	var out []*kgo.Record
	for _, v := range copies {
		for i := 0; i < nparts; i++ {
			out = append(out, &kgo.Record{Topic: topic, Partition: int32(i), Key: []byte(room), Value: v,
				Headers: []kgo.RecordHeader{{Key: HeaderControl, Value: []byte(schemas.ControlDeployment)}}})
		}
	}
	return out
}

// stashedCopy marks a stashed deployment copy (q/ record) of a rebuilding
// room: its value is the copy's with this byte before it (an event's
// JSON starts with '{').
const stashedCopy = 'g'

// ReasonDeploymentFull: a deployment copy the partition's table could not
// take (schemas.MaxDeploymentSanctions, or the record limit).
const ReasonDeploymentFull Reason = "deployment_full"

func init() { ignoreReasons = append(ignoreReasons, ReasonDeploymentFull) }

// deployment applies a deployment copy read at rec's offset to pt's
// table. Rooms being rebuilt get it in their stash too, so the events
// stashed after it are judged by it when their rebuild ends.
func (s *session) deployment(ctx context.Context, pt *part, rec *kgo.Record) {
	ev, err := schemas.ParseDeploymentCopy(rec.Value, "")
	if err != nil {
		s.deadLetter(ctx, pt, rec, ReasonBadControl, err.Error())
		return
	}
	for room := range pt.core.rebuilds {
		pt.core.Stash(room, rec.Offset, append([]byte{stashedCopy}, rec.Value...), &pt.batch)
	}
	if why := pt.core.ApplyDeployment(&ev); why != "" {
		s.p.m.ignored.WithLabelValues(string(ReasonDeploymentFull)).Inc()
		s.p.log.Warn("deployment copy not applied", "partition", pt.id, "type", ev.Type, "id", ev.ID, "by", ev.User, "why", why)
		return
	}
	s.p.log.Debug("deployment copy applied", "partition", pt.id, "type", ev.Type, "id", ev.ID)
}
