package processors

import "github.com/twmb/franz-go/pkg/kgo"

// recKind is what a produced record is, for the ledger and the metrics.
type recKind int

// The kinds of records a transaction writes.
const (
	kindFrame recKind = iota
	kindSnapshot
	kindChangelog
	kindDLQ
	kindReroute // an event copied into its room's partition
	kindTimer   // the close a timer writes (timers.go)
	kindVerdict // a room's verdicts for analytics (verdicts.go)
	kindCopy    // a deployment copy into an events partition (deployment.go)
)

func (k recKind) String() string {
	switch k {
	case kindFrame:
		return "frame"
	case kindSnapshot:
		return "snapshot"
	case kindChangelog:
		return "changelog"
	case kindReroute:
		return "reroute"
	case kindTimer:
		return "timer"
	case kindVerdict:
		return "verdicts"
	case kindCopy:
		return "deployment_copy"
	default:
		return "dlq"
	}
}

// ledger counts what the open transaction produced; the counts reach the
// metrics only when it commits, so the metrics count committed records.
type ledger struct {
	frames, snapshots, changelog, changeBytes, rerouted int
}

func (l *ledger) add(k recKind, r *kgo.Record) {
	switch k {
	case kindFrame:
		l.frames++
	case kindSnapshot:
		l.snapshots++
	case kindChangelog:
		l.changelog++
		l.changeBytes += len(r.Value)
	case kindReroute:
		l.rerouted++
	}
}

// commit adds the counts to m and starts over.
func (l *ledger) commit(m *metrics) {
	m.frames.Add(float64(l.frames))
	m.snapshots.Add(float64(l.snapshots))
	m.changelog.Add(float64(l.changelog))
	m.changeBytes.Add(float64(l.changeBytes))
	m.rerouted.Add(float64(l.rerouted))
	l.reset()
}

func (l *ledger) reset() { *l = ledger{} }

// roomOfKey returns the room a produced record belongs to: frames and
// snapshots are keyed by room, changelog keys name it after their kind
// ("s/R", "l/R/N", …); the offset record belongs to none.
func roomOfKey(k recKind, key []byte) string {
	if k != kindChangelog { // frames, snapshots, rerouted events and timer closes
		return string(key)
	}
	s := string(key)
	if len(s) < 2 || s[1] != '/' {
		return ""
	}
	rest := s[2:]
	if s[0] == 's' {
		return rest
	}
	for i := len(rest) - 1; i >= 0; i-- {
		if rest[i] == '/' {
			return rest[:i]
		}
	}
	return rest
}

// isEvictedCore reports whether r is a core record written by an
// eviction (its offset locates the room's group, see Partition.Evict).
func isEvictedCore(r *kgo.Record) bool {
	if len(r.Key) < 2 || r.Key[0] != 's' || r.Key[1] != '/' || r.Value == nil {
		return false
	}
	return evictedMarker(r.Value)
}
