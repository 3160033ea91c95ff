package processors

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/analytics"
	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// rrCount is what a room should show: reactions per emoji and chat lines.
type rrCount struct {
	reactions map[string]int64
	chat      int64
}

// TestRerouteProducers writes the same rooms from three producers at once,
// each with its own partitioner: plain `kcat -P -K` (librdkafka's default
// consistent_random, CRC32 of the key; its events leave out id and ts), a
// franz-go producer picking CRC32(key) % n by hand (its events leave out
// ts) and a franz-go producer with the default murmur2 partitioner, while
// one of two `ovation process` children is SIGKILLed and restarted. The
// misplaced events are rerouted into their rooms' partitions exactly once
// (one committed copy per source record, a room's copies from one source
// partition in their source order), nothing is dead-lettered, and
// the snapshots, the frames and ClickHouse (an analytics sink running
// throughout) all hold exactly the counts the producers sent. About 40 s.
func TestRerouteProducers(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: deployments/test-env.sh installs it (apt package kcat)")
	}
	bin := buildOvation(t)
	tp := testTopics(t)
	const nparts, nrooms, perProducer = 4, 20, 120
	createTopics(t, brokers, tp, nparts, 1)

	crc := func(room string) int32 { return int32(crc32.ChecksumIEEE([]byte(room)) % nparts) }
	var rooms []string
	differ := 0
	for i := range nrooms {
		r := fmt.Sprintf("rr%d", i)
		rooms = append(rooms, r)
		if crc(r) != schemas.RoomPartition(r, nparts) {
			differ++
		}
	}
	if differ < nrooms/2 {
		t.Fatalf("only %d of %d rooms differ between CRC32 and murmur2: the test would prove little", differ, nrooms)
	}

	// Each producer writes perProducer events to every room: reactions
	// and chat lines, whose counts do not depend on how the producers'
	// events interleave.
	emojis := []string{"👏", "🔥", "😂"}
	want := map[string]*rrCount{}
	for _, r := range rooms {
		want[r] = &rrCount{reactions: map[string]int64{}}
	}
	type item struct{ room, value string }
	mk := func(prod string, withID, withTS bool) []item {
		var out []item
		for i := range perProducer {
			for _, r := range rooms {
				user := fmt.Sprintf("u%d", i%7)
				var typ, data string
				if i%3 == 2 {
					typ, data = "chat.message", fmt.Sprintf(`{"text":"%s line %d"}`, prod, i)
					want[r].chat++
				} else {
					e := emojis[(i+len(r))%len(emojis)]
					typ, data = "reaction", fmt.Sprintf(`{"emoji":%q}`, e)
					want[r].reactions[e]++
				}
				v := `{"v":1`
				if withID {
					v += fmt.Sprintf(`,"id":"%s-%s-%d"`, prod, r, i)
				}
				v += fmt.Sprintf(`,"room":%q,"user":%q,"type":%q`, r, user, typ)
				if withTS {
					v += fmt.Sprintf(`,"ts":%d`, time.Now().UnixMilli())
				}
				out = append(out, item{r, v + `,"data":` + data + `}`})
			}
		}
		return out
	}
	kcatItems := mk("kcat", false, false)
	crcItems := mk("crc", true, false)
	murItems := mk("mur", true, true)
	misplaced := 0
	for _, r := range rooms {
		if crc(r) != schemas.RoomPartition(r, nparts) {
			misplaced += 2 * perProducer
		}
	}

	// The analytics sink runs throughout.
	db := chtest.Database(t, chAddr)
	sink, err := analytics.NewSink(analytics.SinkConfig{Brokers: brokers, Topics: tp,
		ClickHouse: analytics.ClickHouseConfig{Addr: []string{chAddr}, Database: db}, Group: "rr-sink-" + tp.Events,
		FlushInterval: 200 * time.Millisecond, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- sink.Run(sctx) }()
	defer func() { scancel(); <-sinkDone }()

	group := "rr-" + tp.Events
	a := newProc(t, bin, "a", brokers, tp, group)
	b := newProc(t, bin, "b", brokers, tp, group)
	a.start()
	b.start()

	// Pace: every producer spreads its events over about 8 s, so the kill
	// lands in the middle of rerouting.
	const spread = 8 * time.Second
	pace := func(i, n int, start time.Time) {
		if d := time.Duration(i)*spread/time.Duration(n) - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { // kcat with its default partitioner
		defer wg.Done()
		cmd := exec.CommandContext(ctx, kcat, "-b", strings.Join(brokers, ","), "-t", tp.Events, "-P", "-K", "\t",
			"-X", "enable.idempotence=true", "-X", "linger.ms=5")
		in, err := cmd.StdinPipe()
		if err != nil {
			errs <- err
			return
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			errs <- err
			return
		}
		w := bufio.NewWriter(in)
		start := time.Now()
		for i, it := range kcatItems {
			fmt.Fprintf(w, "%s\t%s\n", it.room, it.value)
			if i%50 == 49 {
				w.Flush()
				pace(i, len(kcatItems), start)
			}
		}
		w.Flush()
		in.Close()
		if err := cmd.Wait(); err != nil {
			errs <- fmt.Errorf("kcat: %v: %s", err, stderr.String())
		}
	}()
	produce := func(items []item, opts ...kgo.Opt) {
		defer wg.Done()
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(tp.Events), kgo.ProducerLinger(5 * time.Millisecond)}, opts...)...)
		if err != nil {
			errs <- err
			return
		}
		defer cl.Close()
		manual := len(opts) > 0
		start := time.Now()
		for i, it := range items {
			r := &kgo.Record{Key: []byte(it.room), Value: []byte(it.value)}
			if manual {
				r.Partition = crc(it.room)
			}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					errs <- err
				}
			})
			if i%50 == 49 {
				pace(i, len(items), start)
			}
		}
		if err := cl.Flush(ctx); err != nil {
			errs <- err
		}
	}
	go produce(crcItems, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	go produce(murItems)

	time.Sleep(spread / 2)
	a.kill()
	t.Log("SIGKILL a")
	time.Sleep(time.Second)
	a.start()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	waitConsumed(t, brokers, group, tp.Events, 90*time.Second)

	// Exactly one committed copy per misplaced record, each in its
	// room's partition, and nothing dead-lettered.
	evs := readAll(t, brokers, tp.Events)
	sources := map[string]bool{}
	for _, r := range evs.records {
		src := schemas.Rerouted(r)
		if src == "" {
			continue
		}
		if sources[src] {
			t.Fatalf("record %s rerouted twice", src)
		}
		sources[src] = true
		var e struct{ Room, ID string }
		json.Unmarshal(r.Value, &e)
		if string(r.Key) != e.Room || r.Partition != schemas.RoomPartition(e.Room, nparts) || e.ID == "" {
			t.Fatalf("rerouted copy of %s at %d/%d: key %q room %q id %q", src, r.Partition, r.Offset, r.Key, e.Room, e.ID)
		}
	}
	// Order per source partition: a room's copies from one source
	// partition sit in the room's partition in their source order.
	lastSrc := map[string]int64{}
	for _, r := range evs.records {
		src := schemas.Rerouted(r)
		if src == "" {
			continue
		}
		part, off, _ := strings.Cut(src[strings.LastIndexByte(src, '/')+1:], "@")
		o, _ := strconv.ParseInt(off, 10, 64)
		k := string(r.Key) + "/" + part
		if prev, ok := lastSrc[k]; ok && o <= prev {
			t.Fatalf("room %s: the copy of source offset %d (partition %s) comes after that of %d", r.Key, o, part, prev)
		}
		lastSrc[k] = o
	}
	if len(sources) != misplaced {
		t.Fatalf("%d rerouted copies committed, %d records were misplaced", len(sources), misplaced)
	}
	if dlq := readAll(t, brokers, tp.DLQ); len(dlq.records) != 0 {
		t.Fatalf("%d records dead-lettered; first: %s", len(dlq.records), dlq.records[0].Headers)
	}

	// Frames: gapless per room, their fold has exactly the counts sent;
	// the latest snapshot is at the last frame and says the same.
	checkCounts := func(what, room string, st *schemas.RoomState) {
		w := want[room]
		got := st.Reactions
		var total int64
		for _, n := range w.reactions {
			total += n
		}
		for e, n := range w.reactions {
			if got[e] != n {
				t.Fatalf("%s of room %s: %d %s reactions, %d sent", what, room, got[e], e, n)
			}
		}
		if st.Totals.Reactions != total || st.Totals.Chat != w.chat {
			t.Fatalf("%s of room %s: totals %+v, sent %d reactions and %d chat lines", what, room, st.Totals, total, w.chat)
		}
	}
	frames := readAll(t, brokers, tp.Frames)
	folds := map[string]*schemas.RoomState{}
	seqs := map[string]uint64{}
	for _, r := range frames.records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if f.Seq != seqs[f.Room]+1 {
			t.Fatalf("room %s: frame seq %d after %d", f.Room, f.Seq, seqs[f.Room])
		}
		seqs[f.Room] = f.Seq
		if folds[f.Room] == nil {
			st := schemas.NewRoomState()
			folds[f.Room] = &st
		}
		folds[f.Room].Apply(&f.Delta)
	}
	snaps := map[string]schemas.Snapshot{}
	for _, r := range readAll(t, brokers, tp.Snapshots).records {
		s, err := schemas.UnmarshalSnapshot(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		snaps[s.Room] = s
	}
	for _, r := range rooms {
		if folds[r] == nil {
			t.Fatalf("room %s: no frames", r)
		}
		checkCounts("fold of frames", r, folds[r])
		s := snaps[r]
		if s.Seq != seqs[r] {
			t.Fatalf("room %s: latest snapshot at seq %d, frames end at %d", r, s.Seq, seqs[r])
		}
		checkCounts("snapshot", r, &s.State)
	}

	// ClickHouse: every event once, under the identity the processors
	// counted it by; nothing the processors rerouted counted twice.
	conn := chtest.Open(t, chAddr, db)
	total := int64(len(kcatItems) + len(crcItems) + len(murItems))
	var got uint64
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		row := conn.QueryRow(ctx, "SELECT count() FROM (SELECT room, user, id FROM events GROUP BY room, user, id)")
		if err := row.Scan(&got); err != nil {
			t.Fatal(err)
		}
		if int64(got) >= total {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if int64(got) != total {
		t.Fatalf("ClickHouse holds %d distinct events, %d were sent", got, total)
	}
	rows, err := conn.Query(ctx, "SELECT room, type, count() FROM (SELECT room, user, id, any(type) AS type FROM events GROUP BY room, user, id) GROUP BY room, type ORDER BY room, type")
	if err != nil {
		t.Fatal(err)
	}
	chat, reactions := map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var room, typ string
		var n uint64
		if err := rows.Scan(&room, &typ, &n); err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "chat.message":
			chat[room] = int64(n)
		case "reaction":
			reactions[room] = int64(n)
		default:
			t.Fatalf("ClickHouse: room %s has %d %s events, none were sent", room, n, typ)
		}
	}
	rows.Close()
	for _, r := range rooms {
		var wr int64
		for _, n := range want[r].reactions {
			wr += n
		}
		if chat[r] != want[r].chat || reactions[r] != wr {
			t.Fatalf("ClickHouse room %s: %d chat, %d reactions; sent %d and %d", r, chat[r], reactions[r], want[r].chat, wr)
		}
	}
	t.Logf("%d events from kcat (CRC32, no id/ts), franz-go CRC32 (no ts) and murmur2 into %d rooms over %d partitions, one processor SIGKILLed: %d misplaced records rerouted once each, 0 dead-lettered; frames (%d, %d abort markers), snapshots and ClickHouse (%d events) exact",
		total, nrooms, nparts, len(sources), len(frames.records), frames.aborts, got)
}

// waitConsumed waits until group has committed past the last record of
// every events partition. Unlike waitCaughtUp it does not count the
// transaction markers the processors' own rerouted copies leave at a
// partition's end: no record follows them, so no consumer commits past
// them.
func waitConsumed(t testing.TB, brokers []string, group, topic string, timeout time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		c := readAll(t, brokers, topic)
		lastRec := map[int32]int64{}
		for _, r := range c.records {
			lastRec[r.Partition] = max(lastRec[r.Partition], r.Offset)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		committed, err := adm.FetchOffsets(ctx, group)
		cancel()
		if err == nil {
			done := true
			var lag int64
			for p, o := range lastRec {
				got, ok := committed.Lookup(topic, p)
				if !ok || got.At <= o {
					done = false
					lag += o + 1 - max(got.At, 0)
				}
			}
			if done {
				return
			}
			last = fmt.Sprintf("%d records not consumed", lag)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("group %s did not consume %s in %s: %s", group, topic, timeout, last)
}
