package client

import (
	"encoding/json"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// FuzzServerMessage: whatever a server sends, handling it never panics,
// and a room's position only moves by the protocol's rules (a frame that
// does not join is never applied).
func FuzzServerMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"snapshot","room":"r1","epoch":"e1","seq":3,"state":{"reactions":{"👏":2},"totals":{"reactions":2}}}`,
		`{"type":"frame","room":"r1","epoch":"e1","seq":4,"delta":{"reactions":{"👏":1}}}`,
		`{"type":"frame","room":"r1","epoch":"e1","seq":9,"from_seq":5,"delta":{"chat":[{"id":"a","user":"u","text":"x","ts":1}]}}`,
		`{"type":"frame","room":"r1","epoch":"e2","seq":1,"delta":{}}`,
		`{"type":"subscribed","room":"r1","epoch":"e1","seq":3,"recovered":true}`,
		`{"type":"error","id":"p1","code":"publish_failed","retry_after":1}`,
		`{"type":"unsubscribed","room":"r1","code":"forbidden"}`,
		`{"type":"refresh","exp":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := New(Config{URLs: []string{"ws://127.0.0.1:1/"}})
		c.rooms["r1"] = &roomState{st: schemas.NewRoomState(), known: true, epoch: "e1", seq: 3}
		var m serverMsg
		if json.Unmarshal(b, &m) != nil {
			return
		}
		before := *c.rooms["r1"]
		c.handle(nil, &m)
		r := c.rooms["r1"]
		if r == nil || m.Type != "frame" || m.Room != "r1" {
			return
		}
		from := m.FromSeq
		if from == 0 {
			from = m.Seq
		}
		if r.seq != before.seq && !(m.Epoch == before.epoch && from == before.seq+1 && r.seq == m.Seq) {
			t.Fatalf("frame %s moved the position from %s/%d to %s/%d", b, before.epoch, before.seq, r.epoch, r.seq)
		}
	})
}
