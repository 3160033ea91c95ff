package processors

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestCustomCounterKillKafka is custom types exactly once on real Kafka:
// two `ovation process` processes loaded with a --custom-types file own
// the partitions of four rooms; a stream of custom events (a counter with
// amounts, a distinct-users type, a register), with client retries of the
// same ids and events the schema refuses, is produced while both
// processes are SIGKILLed and restarted. Then the events topic is read
// back (read committed) and folded independently: counts summed per key
// over first-seen (room, user, id), distinct users per key, the last
// register value by position. Every room's fold of frames (gapless seqs)
// and its latest snapshot must equal it, and the refused events must be
// in the dead-letter topic. About 20 s.
func TestCustomCounterKillKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	file := filepath.Join(t.TempDir(), "custom-types.yaml")
	if err := os.WriteFile(file, []byte(customRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := schemas.LoadRegistry(file)
	if err != nil {
		t.Fatal(err)
	}
	group := "customkill-" + tp.Events
	procs := []*proc{newProc(t, bin, "a", brokers, tp, group, "--custom-types", file), newProc(t, bin, "b", brokers, tp, group, "--custom-types", file)}
	for _, p := range procs {
		p.start()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(tp.Events),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var prodErr error
	send := func(room, id, user string, typ schemas.Type, data string) {
		e := schemas.Event{V: 1, ID: id, Room: room, User: user, Type: typ, TS: time.Now().UnixMilli(), Data: []byte(data)}
		b, _ := e.Marshal()
		cl.Produce(ctx, &kgo.Record{Key: []byte(room), Value: b}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				prodErr = cmp.Or(prodErr, err)
				mu.Unlock()
			}
		})
	}
	const events = 24_000
	rooms := []string{"hype-a", "hype-b", "hype-c", "hype-d"}
	rnd := rand.New(rand.NewPCG(16, 61))
	invalid, killed := 0, false
	start := time.Now()
	for i := range events {
		if i%500 == 0 {
			// About 8 s of traffic, at the wall clock's pace.
			if ahead := time.Duration(i)*8*time.Second/events - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
			if !killed && i >= events/2 {
				for _, p := range procs {
					p.kill()
				}
				t.Logf("SIGKILL both processors after %d events", i)
				for _, p := range procs {
					p.start()
				}
				killed = true
			}
		}
		room := rooms[rnd.IntN(len(rooms))]
		user := fmt.Sprintf("fan-%04d", rnd.IntN(3000))
		id := fmt.Sprintf("e%d", i)
		var typ schemas.Type
		var data string
		switch r := rnd.IntN(20); {
		case r < 12:
			typ, data = "custom.hype", fmt.Sprintf(`{"level":%q,"n":%d}`, []string{"fire", "clap", "wow"}[rnd.IntN(3)], rnd.IntN(10)+1)
		case r < 17:
			typ, data = "custom.fans", fmt.Sprintf(`{"team":"t%d"}`, rnd.IntN(4))
		case r < 19:
			typ, data = "custom.song", fmt.Sprintf(`{"slot":"s%d","song":"song %d"}`, rnd.IntN(3), i)
		default:
			// The schema refuses it: dead-lettered, counted nowhere.
			typ, data = "custom.hype", `{"level":"fire","n":11}`
		}
		sends := 1
		if rnd.IntN(40) == 0 {
			sends = 2 // a client retry: a duplicate
		}
		for range sends {
			send(room, id, user, typ, data)
			if data == `{"level":"fire","n":11}` {
				invalid++ // each record is dead-lettered
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if prodErr != nil {
		t.Fatal(prodErr)
	}

	// The independent fold of the events topic.
	type roomFold struct {
		counts map[string]map[string]int64
		values map[string]map[string]json.RawMessage
		users  map[string]map[string]map[string]bool
	}
	want := map[string]*roomFold{}
	seen := map[string]bool{}
	dups, counted := 0, 0
	for _, r := range readAll(t, brokers, tp.Events).records {
		e, err := reg.ParseEvent(r.Value)
		if err != nil {
			continue
		}
		k := e.Room + "\x00" + e.User + "\x00" + e.ID
		if seen[k] {
			dups++
			continue
		}
		seen[k] = true
		counted++
		f := want[e.Room]
		if f == nil {
			f = &roomFold{counts: map[string]map[string]int64{}, values: map[string]map[string]json.RawMessage{}, users: map[string]map[string]map[string]bool{}}
			want[e.Room] = f
		}
		var v struct {
			Level string `json:"level"`
			N     int64  `json:"n"`
			Team  string `json:"team"`
			Slot  string `json:"slot"`
			Song  string `json:"song"`
		}
		if err := json.Unmarshal(e.Data, &v); err != nil {
			t.Fatal(err)
		}
		typ := string(e.Type)
		switch e.Type {
		case "custom.hype":
			if f.counts[typ] == nil {
				f.counts[typ] = map[string]int64{}
			}
			f.counts[typ][v.Level] += v.N
		case "custom.fans":
			if f.users[v.Team] == nil {
				f.users[v.Team] = map[string]map[string]bool{}
			}
			if f.users[v.Team][typ] == nil {
				f.users[v.Team][typ] = map[string]bool{}
			}
			f.users[v.Team][typ][e.User] = true
		case "custom.song":
			if f.values[typ] == nil {
				f.values[typ] = map[string]json.RawMessage{}
			}
			f.values[typ][v.Slot] = json.RawMessage(fmt.Sprintf("%q", v.Song))
		}
	}
	expect := func(f *roomFold) (hype map[string]int64, fans map[string]int64, songs map[string]json.RawMessage) {
		fans = map[string]int64{}
		for team, m := range f.users {
			fans[team] = int64(len(m["custom.fans"]))
		}
		return f.counts["custom.hype"], fans, f.values["custom.song"]
	}

	// The frames, then the snapshots, must come to exactly that.
	deadline := time.Now().Add(60 * time.Second)
	frames := readAll(t, brokers, tp.Frames).records
	for {
		done := true
		for _, room := range rooms {
			st, _ := foldFrames(t, frames, room)
			h, fa, so := expect(want[room])
			c := st.Custom
			if c == nil || c["custom.hype"] == nil || c["custom.fans"] == nil || c["custom.song"] == nil ||
				!maps.Equal(c["custom.hype"].Counts, h) || !maps.Equal(c["custom.fans"].Counts, fa) || js(c["custom.song"].Values) != js(so) {
				done = false
				if time.Now().After(deadline) {
					t.Fatalf("room %s after 60 s: frames fold to\n%s\nthe independent fold is hype %v fans %v songs %s", room, js(c), h, fa, js(so))
				}
			}
		}
		if done {
			break
		}
		time.Sleep(500 * time.Millisecond)
		frames = readAll(t, brokers, tp.Frames).records
	}
	// A snapshot catches up with its room's last frame within
	// Config.SnapshotInterval.
	for snapDeadline := time.Now().Add(15 * time.Second); ; {
		snaps := map[string]schemas.Snapshot{}
		for _, r := range readAll(t, brokers, tp.Snapshots).records {
			if s, err := schemas.UnmarshalSnapshot(r.Value); err == nil {
				snaps[s.Room] = s
			}
		}
		behind := false
		for _, room := range rooms {
			st, seq := foldFrames(t, frames, room)
			s := snaps[room]
			if s.Seq < seq && time.Now().Before(snapDeadline) {
				behind = true
				continue
			}
			if s.Seq != seq || js(s.State.Custom) != js(st.Custom) {
				t.Fatalf("room %s: latest snapshot at seq %d (frames at %d) holds %s, frames fold to %s", room, s.Seq, seq, js(s.State.Custom), js(st.Custom))
			}
		}
		if !behind {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	dlq := 0
	for range readAll(t, brokers, tp.DLQ).records {
		dlq++
	}
	if dlq != invalid {
		t.Fatalf("%d records dead-lettered, %d events the schema refuses were sent", dlq, invalid)
	}
	if !killed || dups == 0 || invalid == 0 {
		t.Fatalf("killed %v, %d duplicates, %d invalid: the test did not exercise what it claims", killed, dups, invalid)
	}
	var hypeTotal int64
	for _, room := range rooms {
		h, _, _ := expect(want[room])
		for _, n := range h {
			hypeTotal += n
		}
	}
	t.Logf("%d events (%d counted, %d duplicates, %d records refused by the schema and dead-lettered) in %d rooms through a SIGKILL of both processors: every room's custom state (hype total %d) equals the independent fold, in frames and snapshots",
		events, counted, dups, invalid, len(rooms), hypeTotal)
}
