package processors

import (
	"fmt"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// HeaderControl marks a control record on the events topic. Its value
// names the action; the record value is the action's JSON body. Control
// records are not events: processors act on them in order with the
// room's events, every other consumer skips them as invalid events.
const HeaderControl = "ovation-control"

// ControlRebuild is the HeaderControl value of a RebuildRequest.
const ControlRebuild = "rebuild"

// RebuildRequest asks the processor that owns a room to rebuild its state
// from the events topic into a fresh epoch. Written to the events topic
// with the room as key (so it lands in the room's partition), it is acted
// on exactly in order: the rebuilt state is the fold of the room's events
// from FromOffset up to the request, and the events after it continue the
// new epoch. Everything happens inside the processor's transaction, so a
// crash mid-rebuild just redoes it.
type RebuildRequest struct {
	Room string `json:"room"`
	// Epoch is the new epoch; the requester chooses it so it can watch
	// for the rebuilt snapshot. Empty: the processor picks one.
	Epoch string `json:"epoch,omitempty"`
	// FromOffset is the first events offset of the partition to fold;
	// -1 (or any offset before the log start) means the oldest retained.
	FromOffset int64 `json:"from_offset"`
}

// Validate checks the request's fields.
func (r *RebuildRequest) Validate() error {
	if err := schemas.CheckRoom(r.Room); err != nil {
		return err
	}
	if r.Epoch != "" {
		if err := schemas.CheckID(r.Epoch); err != nil {
			return fmt.Errorf("epoch: %w", err)
		}
	}
	if r.FromOffset < -1 {
		return fmt.Errorf("from_offset %d: want -1 or an offset", r.FromOffset)
	}
	return nil
}

// Record returns the control record to produce to the events topic.
func (r *RebuildRequest) Record(eventsTopic string) *kgo.Record {
	v, _ := json.Marshal(r)
	return &kgo.Record{
		Topic: eventsTopic, Key: []byte(r.Room), Value: v,
		Headers: []kgo.RecordHeader{{Key: HeaderControl, Value: []byte(ControlRebuild)}},
	}
}

func controlOf(rec *kgo.Record) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == HeaderControl {
			return string(h.Value), true
		}
	}
	return "", false
}

func parseRebuild(rec *kgo.Record) (RebuildRequest, error) {
	var r RebuildRequest
	if err := json.Unmarshal(rec.Value, &r); err != nil {
		return r, fmt.Errorf("rebuild request: %w", err)
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("rebuild request: %w", err)
	}
	if string(rec.Key) != r.Room {
		return r, fmt.Errorf("rebuild request: key %q is not the room %q", rec.Key, r.Room)
	}
	if r.FromOffset >= rec.Offset {
		return r, fmt.Errorf("rebuild request: from_offset %d is not before the request at %d", r.FromOffset, rec.Offset)
	}
	return r, nil
}
