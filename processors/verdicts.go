package processors

import (
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// RoomVerdict is one event's verdict in its room.
type RoomVerdict struct {
	Room string
	schemas.Verdict
}

// verdictRecords turns a transaction's verdicts into control records on
// the events topic, one per room (more when a room's pass
// schemas.MaxVerdictsBytes), in the rooms' partition: written in the
// transaction that folded the events, after them, so analytics
// (docs/analytics.md, "One rule for what counts") sees every verdict
// exactly once with the events, and takes each event out of its counts
// (or shows its masked text) as the processors did. Other readers of the
// events topic skip control records; the processors skip these.
func verdictRecords(topic string, partition int32, vs []RoomVerdict) []*kgo.Record {
	if len(vs) == 0 {
		return nil
	}
	var out []*kgo.Record
	byRoom := map[string][]schemas.Verdict{}
	var rooms []string
	for _, v := range vs {
		if _, ok := byRoom[v.Room]; !ok {
			rooms = append(rooms, v.Room)
		}
		byRoom[v.Room] = append(byRoom[v.Room], v.Verdict)
	}
	emit := func(room string, items []schemas.Verdict) {
		b, _ := json.Marshal(&schemas.Verdicts{Room: room, Items: items})
		out = append(out, &kgo.Record{Topic: topic, Partition: partition, Key: []byte(room), Value: b,
			Headers: []kgo.RecordHeader{{Key: HeaderControl, Value: []byte(schemas.ControlVerdicts)}}})
	}
	for _, room := range rooms {
		items := byRoom[room]
		from, size := 0, 64+len(room)
		for i, it := range items {
			// A verdict takes at most its fields and 64 bytes of JSON.
			n := len(it.User) + len(it.ID) + len(it.Reason) + 2*len(it.Text) + 64
			if size+n > schemas.MaxVerdictsBytes && i > from {
				emit(room, items[from:i])
				from, size = i, 64+len(room)
			}
			size += n
		}
		emit(room, items[from:])
	}
	return out
}
