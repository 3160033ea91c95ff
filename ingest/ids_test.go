package ingest

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestGeneratedIDs: the ids one request makes are UUIDv7 in their
// canonical text form, carry the request's millisecond, sort in the order
// they were made, are all different, and stay what they were while the
// request makes more (they share one buffer that is replaced, not
// rewritten, when full).
func TestGeneratedIDs(t *testing.T) {
	now := time.UnixMilli(1_760_000_000_123)
	req := &request{now: now, n: 3} // a small hint: the buffer fills many times
	const n = 1500
	ids := make([]string, n)
	copies := make([]string, n)
	for i := range ids {
		id, err := req.newID()
		if err != nil {
			t.Fatal(err)
		}
		ids[i], copies[i] = id, string([]byte(id))
	}
	seen := make(map[string]bool, n)
	for i, id := range ids {
		if id != copies[i] {
			t.Fatalf("id %d changed from %s to %s after more were made", i, copies[i], id)
		}
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("id %d = %q: not a canonical UUIDv7 (%v)", i, id, err)
		}
		if sec, _ := u.Time().UnixTime(); sec != now.Unix() {
			t.Fatalf("id %d = %s: time %d s, want %d", i, id, sec, now.Unix())
		}
		if seen[id] {
			t.Fatalf("id %d = %s is a repeat", i, id)
		}
		seen[id] = true
		if i > 0 && id <= ids[i-1] {
			t.Fatalf("id %d = %s does not sort after id %d = %s", i, id, i-1, ids[i-1])
		}
	}
}

// FuzzPutUUID: the text of a generated id is exactly what the uuid
// package writes for the same 16 bytes.
func FuzzPutUUID(f *testing.F) {
	f.Add(make([]byte, 16))
	f.Add([]byte("\x01\x9a\x25\x65\x18\xa1\x78\x03\x94\x26\xff\xee\xdd\xcc\xbb\xaa"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var u [16]byte
		copy(u[:], b)
		var got [36]byte
		putUUID(&got, &u)
		if want := uuid.UUID(u).String(); string(got[:]) != want {
			t.Fatalf("% x: %s, uuid says %s", u, got, want)
		}
	})
}

// BenchmarkNewID: the ids of a batch of 100 events without ids of their
// own, on a pooled request (its id and random buffers kept).
func BenchmarkNewID(b *testing.B) {
	req := &request{now: time.Now(), n: 100}
	for b.Loop() {
		req.ids, req.seq = req.ids[:0], 0
		for range 100 {
			if _, err := req.newID(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/id")
}
