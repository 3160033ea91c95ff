package schemas

import "fmt"

// Topics names the Kafka topics Ovation uses. The zero value of a field
// means its default; call WithDefaults.
type Topics struct {
	Events    string // engagement events, keyed by room
	Frames    string // per-room delta frames, keyed by room
	Snapshots string // per-room snapshots, compacted, keyed by room
	Changelog string // processor-private state, compacted
	DLQ       string // events that failed validation, reason in a header
}

// Default topic names.
const (
	DefaultEventsTopic    = "ovation.events"
	DefaultFramesTopic    = "ovation.room-frames"
	DefaultSnapshotsTopic = "ovation.room-snapshots"
	DefaultChangelogTopic = "ovation.state-changelog"
	DefaultDLQTopic       = "ovation.events-dlq"
)

// TopicMaxMessageBytes is the max.message.bytes that `ovation topics
// create` sets on every Ovation topic (and `topics describe` and the
// processors check). A room's snapshot, at every room limit with the
// worst JSON escaping, stays below it (docs/processors.md gives the
// number); the processors measure every record against the limit the
// topics actually have, minus RecordOverheadBytes.
const TopicMaxMessageBytes = 8 << 20

// RecordOverheadBytes is what a record batch of one record adds to the
// record's key, value and headers (batch header, record framing, varints,
// with margin): a record fits a topic when key + value + headers +
// RecordOverheadBytes <= max.message.bytes.
const RecordOverheadBytes = 512

// Record headers Ovation writes.
const (
	// HeaderDLQReason carries a dead-lettered record's validation error.
	HeaderDLQReason = "ovation-error"
	// HeaderDLQSource carries the source topic/partition@offset of a
	// dead-lettered record.
	HeaderDLQSource = "ovation-source"
)

// WithDefaults fills empty names with the defaults.
func (t Topics) WithDefaults() Topics {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&t.Events, DefaultEventsTopic)
	def(&t.Frames, DefaultFramesTopic)
	def(&t.Snapshots, DefaultSnapshotsTopic)
	def(&t.Changelog, DefaultChangelogTopic)
	def(&t.DLQ, DefaultDLQTopic)
	return t
}

// Validate checks that the names are usable Kafka topic names and distinct.
func (t Topics) Validate() error {
	seen := map[string]string{}
	for _, p := range []struct{ role, name string }{
		{"events", t.Events}, {"frames", t.Frames}, {"snapshots", t.Snapshots},
		{"changelog", t.Changelog}, {"dlq", t.DLQ},
	} {
		if p.name == "" || len(p.name) > 249 {
			return fmt.Errorf("topics: %s topic name %q must be 1-249 characters", p.role, p.name)
		}
		for i := 0; i < len(p.name); i++ {
			c := p.name[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("topics: %s topic name %q has %q; Kafka allows letters, digits, . _ -", p.role, p.name, c)
			}
		}
		if other, ok := seen[p.name]; ok {
			return fmt.Errorf("topics: %s and %s both use topic %q", other, p.role, p.name)
		}
		seen[p.name] = p.role
	}
	return nil
}
