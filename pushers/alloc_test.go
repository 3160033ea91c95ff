package pushers

import (
	"fmt"
	"testing"
	"time"
)

// TestFanoutAllocs guards the hot path: queueing a frame for its
// subscribers allocates nothing per subscriber (the frame is encoded once
// and shared), so fan-out cost does not grow garbage with the audience.
func TestFanoutAllocs(t *testing.T) {
	s, err := New(Config{Node: "alloc", Verifier: testVerifier(t), Log: quietLog(), MergeBytes: 1 << 30, MaxQueueBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	const subs = 1000
	r := s.hub.get("hot")
	r.subs = map[*Conn]*sub{}
	conns := make([]*Conn, subs)
	for i := range conns {
		// writing=true: a writer is "running", so queueing only appends
		// (spawning writers is measured by the fan-out benchmark).
		c := &Conn{srv: s, writing: true, items: make([]qItem, 0, 4096)}
		conns[i] = c
		r.subs[c] = &sub{epoch: "e", seq: 0}
	}
	seq := uint64(0)
	wire := benchPayload(1, 1, 200)
	frames := make([]*frameMsg, 3000)
	for i := range frames {
		frames[i] = &frameMsg{room: "hot", epoch: "e", seq: uint64(i + 1), ts: 1, recTS: time.Now().UnixMilli(), wire: wire}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		s.hub.addFrame(frames[seq])
		seq++
	})
	t.Logf("%.2f allocations per frame fanned out to %d subscribers", allocs, subs)
	if allocs > 2 {
		t.Fatalf("%.2f allocations per frame for %d subscribers; want at most 2 (window growth), none per subscriber", allocs, subs)
	}
	for _, c := range conns[:3] {
		if n := len(c.items); n < 1000 || c.items[0].f != frames[0] {
			t.Fatal(fmt.Sprint("queued ", n, " items; the frame is not shared"))
		}
	}
}
