package schemas

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRoomPartitionIsKafkaMurmur2 pins RoomPartition to the partitions
// Kafka's Java client picks: toPositive(murmur2(key)) % n, with the
// murmur2 values of Kafka's own UtilsTest.testMurmur2.
func TestRoomPartitionIsKafkaMurmur2(t *testing.T) {
	for key, h := range map[string]int32{
		"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
		"a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, "abc": 479470107,
	} {
		for _, n := range []int{1, 3, 4, 12, 1000} {
			if got, want := RoomPartition(key, n), int32(uint32(h)&0x7fffffff)%int32(n); got != want {
				t.Fatalf("RoomPartition(%q, %d) = %d, Kafka's partitioner picks %d", key, n, got, want)
			}
		}
	}
	// librdkafka's default (consistent_random) is CRC32: for most rooms it
	// picks another partition, which is why events get rerouted.
	differ := 0
	for i := range 100 {
		room := "room" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if int32(crc32.ChecksumIEEE([]byte(room))%8) != RoomPartition(room, 8) {
			differ++
		}
	}
	if differ < 60 {
		t.Fatalf("CRC32 and murmur2 agree on %d of 100 rooms; expected most to differ", 100-differ)
	}
}

func TestPlace(t *testing.T) {
	const n = 6
	p := RoomPartition("r1", n)
	other := (p + 1) % n
	mark := []kgo.RecordHeader{{Key: HeaderRerouted, Value: []byte("ovation.events/2@7")}}
	for _, c := range []struct {
		name string
		rec  kgo.Record
		want Placement
	}{
		{"placed", kgo.Record{Key: []byte("r1"), Partition: p}, Placed},
		{"placed copy", kgo.Record{Key: []byte("r1"), Partition: p, Headers: mark}, Placed},
		{"other partition", kgo.Record{Key: []byte("r1"), Partition: other}, Reroute},
		{"other key", kgo.Record{Key: []byte("user7"), Partition: p}, Reroute},
		{"no key", kgo.Record{Partition: other}, Reroute},
		{"copy misplaced", kgo.Record{Key: []byte("r1"), Partition: other, Headers: mark}, MisplacedAgain},
		{"copy wrong key", kgo.Record{Key: []byte("x"), Partition: p, Headers: mark}, MisplacedAgain},
	} {
		got, detail := Place(&c.rec, "r1", n)
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if (got == Placed) != (detail == "") {
			t.Errorf("%s: detail %q", c.name, detail)
		}
		if strings.Contains(detail, "user7") {
			t.Errorf("%s: the detail repeats the key: %q", c.name, detail)
		}
	}
}

func TestParseRecordFillsIDAndTS(t *testing.T) {
	ts := time.UnixMilli(1_760_000_000_123)
	rec := func(v string, h ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: "ovation.events", Partition: 3, Offset: 42, Timestamp: ts, Key: []byte("r1"), Value: []byte(v), Headers: h}
	}
	const noIDTS = `{"v":1,"room":"r1","user":"u","type":"reaction","data":{"emoji":"👏"}}`
	ev, filled, err := ParseRecord(rec(noIDTS))
	if err != nil || !filled {
		t.Fatalf("filled %v, err %v", filled, err)
	}
	if ev.ID != DerivedID("ovation.events/3@42") || ev.TS != ts.UnixMilli() {
		t.Fatalf("id %q ts %d", ev.ID, ev.TS)
	}
	if err := CheckID(ev.ID); err != nil {
		t.Fatalf("derived id %q: %v", ev.ID, err)
	}
	// Same source, same id; another offset, another id.
	again, _, _ := ParseRecord(rec(noIDTS))
	r2 := rec(noIDTS)
	r2.Offset = 43
	next, _, _ := ParseRecord(r2)
	if again.ID != ev.ID || next.ID == ev.ID {
		t.Fatalf("derived ids: %q %q %q", ev.ID, again.ID, next.ID)
	}
	// A copy that lost its id keeps the one of its source.
	cp := rec(noIDTS, kgo.RecordHeader{Key: HeaderRerouted, Value: []byte("ovation.events/0@9")})
	if c, _, _ := ParseRecord(cp); c.ID != DerivedID("ovation.events/0@9") {
		t.Fatalf("copy id %q", c.ID)
	}
	// What was given is kept, and nothing is filled.
	ev, filled, err = ParseRecord(rec(`{"v":1,"id":"e1","room":"r1","user":"u","type":"reaction","ts":5,"data":{"emoji":"👏"}}`))
	if err != nil || filled || ev.ID != "e1" || ev.TS != 5 {
		t.Fatalf("%+v filled %v err %v", ev, filled, err)
	}
	// The filled event encodes and parses back to the same.
	ev, _, _ = ParseRecord(rec(noIDTS))
	b, _ := ev.Marshal()
	back, err := ParseEvent(b)
	if err != nil || back.ID != ev.ID || back.TS != ev.TS {
		t.Fatalf("re-encoded: %+v %v", back, err)
	}
	// Everything else is still refused, with the same errors as ParseEvent.
	for _, v := range []string{`{"v":1,"room":"r1","type":"reaction","data":{"emoji":"👏"}}`, `{"v":1,"room":"r1","user":"u","type":"reaction","ts":-1,"data":{"emoji":"👏"}}`, `nope`} {
		_, _, err := ParseRecord(rec(v))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: %v", v, err)
		}
	}
	// A producer's timestamp-less record (none set) still needs ts.
	r := rec(noIDTS)
	r.Timestamp = time.Time{}
	if _, _, err := ParseRecord(r); err == nil || !strings.Contains(err.Error(), "ts") {
		t.Fatalf("no ts anywhere: %v", err)
	}
}

func TestCountedEvent(t *testing.T) {
	v := []byte(`{"v":1,"room":"r1","user":"u","type":"reaction","ts":5,"data":{"emoji":"👏"}}`)
	p := RoomPartition("r1", 4)
	src := &kgo.Record{Topic: "ovation.events", Key: []byte("r1"), Partition: (p + 1) % 4, Offset: 9, Value: v}
	ev, ok := CountedEvent(src)
	if !ok {
		t.Fatal("a valid event does not count")
	}
	// The processors' copy has the same identity, so the two collapse.
	copied := &kgo.Record{Topic: "ovation.events", Key: []byte("r1"), Partition: p, Offset: 3, Value: v,
		Headers: []kgo.RecordHeader{{Key: HeaderRerouted, Value: []byte(RecordSource(src))}}}
	cp, ok := CountedEvent(copied)
	if !ok || cp.Room != ev.Room || cp.User != ev.User || cp.ID != ev.ID {
		t.Fatalf("copy %+v, source %+v", cp, ev)
	}
	if _, ok := CountedEvent(&kgo.Record{Key: []byte("r1"), Partition: p, Value: v[:20]}); ok {
		t.Fatal("an invalid event counts")
	}
}

// FuzzParseRecord: ParseRecord never panics, accepts exactly what
// ParseEvent accepts once id and ts are given, and what it accepts
// encodes and parses back to itself.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"v":1,"room":"r1","user":"u","type":"reaction","data":{"emoji":"👏"}}`), int64(7))
	f.Add([]byte(`{"v":1,"id":"","room":"r1","user":"u","type":"chat.message","ts":0,"data":{"text":"hi"}}`), int64(0))
	f.Add([]byte(`{"v":1,"id":"x","room":"r1","user":"u","type":"reaction","ts":1,"data":{"emoji":"👏"}}`), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, off int64) {
		r := &kgo.Record{Topic: "t", Partition: 1, Offset: off, Timestamp: time.UnixMilli(1_700_000_000_000), Value: b}
		ev, filled, err := ParseRecord(r)
		if err != nil {
			return
		}
		out, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseEvent(out)
		if err != nil {
			if filled && len(out) > MaxEventBytes {
				return // filling may pass the limit; copies get slack (ParseRecord)
			}
			t.Fatalf("accepted %q (filled %v) but its encoding %q fails: %v", b, filled, out, err)
		}
		if back.ID != ev.ID || back.TS != ev.TS || back.Room != ev.Room {
			t.Fatalf("round trip changed the envelope: %+v vs %+v", back, ev)
		}
	})
}
