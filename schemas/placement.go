package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The one rule every consumer of the events topic applies (processors,
// the analytics sink and replay, rebuild reads): which records are events
// that count, which the processors reroute to their room's partition, and
// which they dead-letter. Because the processors, the sink and everyone
// else call the same functions, their counts agree by construction
// (docs/events.md, "Where a record counts").

// HeaderRerouted marks an events record a processor re-produced into its
// room's partition; its value is the source "topic/partition@offset" of
// the record it copies. A marked record is never rerouted again.
const HeaderRerouted = "ovation-rerouted"

// Placement says where an events record stands.
type Placement uint8

// The placements of an events record holding a valid event.
const (
	// Placed: keyed by its room, in the partition RoomPartition picks.
	// It counts.
	Placed Placement = iota
	// Reroute: keyed or partitioned otherwise (a producer with another
	// partitioner, such as librdkafka's CRC32, or another key), not yet
	// rerouted. The processors copy it to RoomPartition, marked with
	// HeaderRerouted, in the transaction that consumes it; the copy counts,
	// the original counts nowhere.
	Reroute
	// MisplacedAgain: a rerouted copy that is still not where its room's
	// events are (the events topic's partition count changed in between).
	// The processors dead-letter it (wrong_key or wrong_partition);
	// nobody counts it.
	MisplacedAgain
)

// RoomPartition is the events partition (of n) that holds room's events:
// murmur2 of the room, as Kafka's Java client, franz-go and librdkafka
// with partitioner=murmur2_random pick it for the key.
func RoomPartition(room string, n int) int32 {
	return int32(roomPartitioner.Partition(&kgo.Record{Key: []byte(room)}, n))
}

// kgo's sticky key partitioner hashes keyed records with Kafka's murmur2
// and keeps no state for them; one instance serves every caller.
var roomPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// Place says where r, an events record holding an event of room, stands
// in a topic of n partitions, with a sentence for people when it is not
// Placed.
func Place(r *kgo.Record, room string, n int) (Placement, string) {
	want := RoomPartition(room, n)
	if string(r.Key) == room && r.Partition == want {
		return Placed, ""
	}
	rerouted := Rerouted(r) != ""
	var detail string
	if string(r.Key) != room {
		detail = fmt.Sprintf("record key is not the event's room; room %q belongs in partition %d", room, want)
	} else {
		detail = fmt.Sprintf("room %q belongs in partition %d (murmur2 of the key), not %d", room, want, r.Partition)
	}
	if rerouted {
		return MisplacedAgain, detail + "; already rerouted once"
	}
	return Reroute, detail
}

// Rerouted returns the source a rerouted record copies, "" for a record
// written by a producer.
func Rerouted(r *kgo.Record) string {
	for _, h := range r.Headers {
		if h.Key == HeaderRerouted {
			return string(h.Value)
		}
	}
	return ""
}

// RecordSource is the "topic/partition@offset" a record is known by in
// dead-letter and reroute headers.
func RecordSource(r *kgo.Record) string {
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
}

// DerivedID is the id of an event written without one (by a trusted
// producer straight to Kafka) at source "topic/partition@offset": the
// same for every consumer and every read, so the event is deduplicated
// and counted like any other. It is "k:" and 40 hex digits of the
// source's SHA-256.
func DerivedID(source string) string {
	sum := sha256.Sum256([]byte(source))
	return "k:" + hex.EncodeToString(sum[:20])
}

// ParseRecord parses and validates the event an events record holds.
// Trusted producers writing straight to Kafka may leave out "id" (it is
// then DerivedID of the record's source, or of the source it copies when
// it was rerouted) and "ts" (the record's timestamp, in milliseconds).
// filled reports whether either was filled in: the processors then write
// the filled event, not the record's bytes, wherever they copy it, so the
// copy needs no source to mean the same.
func ParseRecord(r *kgo.Record) (ev Event, filled bool, err error) { return parseRecord(nil, r) }

// ParseRecord is the package's ParseRecord, knowing g's types too.
func (g *Registry) ParseRecord(r *kgo.Record) (ev Event, filled bool, err error) {
	return parseRecord(g, r)
}

func parseRecord(g *Registry, r *kgo.Record) (ev Event, filled bool, err error) {
	b := r.Value
	limit := MaxEventBytes
	if Rerouted(r) != "" {
		// A copy may carry the id and ts filled in from its source.
		limit += filledSlackBytes
	}
	if len(b) > limit {
		return ev, false, &ValidationError{Field: "", Rule: RuleSize, Detail: fmt.Sprintf("event is %d bytes, the limit is %d", len(b), MaxEventBytes)}
	}
	if err := decodeEvent(b, &ev, ""); err != nil {
		return ev, false, err
	}
	if ev.ID == "" {
		src := Rerouted(r)
		if src == "" {
			src = RecordSource(r)
		}
		ev.ID, filled = DerivedID(src), true
	}
	if ev.TS == 0 && !r.Timestamp.IsZero() {
		ev.TS, filled = r.Timestamp.UnixMilli(), true
	}
	if err := ev.validate(g); err != nil {
		return ev, false, err
	}
	return ev, filled, nil
}

// filledSlackBytes bounds what filling in "id" and "ts" adds to an event's
// encoding: `,"id":"k:` + 40 hex digits + `"` and `,"ts":` + 19 digits.
const filledSlackBytes = 96

// CountedEvent is the rule for every consumer of the events topic but
// the processors: the event r holds, if it counts (ok). Invalid records
// do not (the processors dead-letter them). A valid event counts by its
// identity (room, user, id), as client retries already require: an event
// the processors rerouted is there twice, as its source and its copy,
// with one identity (the copy carries the source's id, derived or not),
// so it counts once whichever a consumer reads first. Placement is not
// judged here: it depends on the partition count when the processors read
// the record, which a consumer reading history after the topic grew
// cannot know.
func CountedEvent(r *kgo.Record) (ev Event, ok bool) {
	ev, _, err := parseRecord(nil, r)
	return ev, err == nil
}

// CountedEvent is the package's CountedEvent, knowing g's types too.
func (g *Registry) CountedEvent(r *kgo.Record) (ev Event, ok bool) {
	ev, _, err := parseRecord(g, r)
	return ev, err == nil
}
