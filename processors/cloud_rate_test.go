package processors

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestWordCloudFrameRate is the "frame rate unchanged" half of the word
// cloud's must-show, on real Kafka with the processor's own loop: in one
// run, a room with a cloud poll gets TestWordCloudMillion's load
// (1,000,000 words: 50,000 users × 4 answers of 5 Zipf-distributed words)
// and another room the same number of single-choice votes (50,000 users ×
// 4 votes, moving), at the same pace, in alternating phases on the same
// processor (votes, cloud, votes, cloud: two answers or votes per user
// each), so that each room's frames show its own cost. Per phase it
// measures the frames per second written while the load ran, their
// encoded bytes and the delay from an event's ingest time to its frame's
// write. On a shared machine a phase is only ever slowed by the
// neighbours, so each room is judged by its best phase (as the package's
// benchmarks take the fastest run): the cloud's must be at least 80 % of
// the votes' frame rate (not asserted when the load average passes twice
// the CPUs: then the neighbours decide). The table is in docs/processors.md. About 25 s;
// skipped with -short and -race (it measures rates, and the race detector
// is many times slower).
func TestWordCloudFrameRate(t *testing.T) {
	if testing.Short() || raceSlowdown > 1 {
		t.Skip("a rate measurement: not in -short or -race")
	}
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	const (
		users   = 50_000
		answers = 4
		perAns  = 5
		vocab   = 20_000
		pace    = 20_000 // events per second
	)
	rooms := [2]string{"cloud-room", "votes-room"}
	if schemas.RoomPartition(rooms[0], 2) == schemas.RoomPartition(rooms[1], 2) {
		t.Fatalf("the rooms share a partition; pick names in different ones")
	}
	group := "cloudrate-" + tp.Events
	runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t)})

	cl := kafkatest.Client(t, brokers, kgo.DefaultProduceTopic(tp.Events), kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	send(rooms[0], "open", "host", schemas.PollOpen, `{"poll_id":"c","question":"One word?","kind":"cloud","stop_words":["en"]}`)
	send(rooms[1], "open", "host", schemas.PollOpen, `{"poll_id":"v","question":"Best?","options":["a","b","c","d"]}`)
	time.Sleep(500 * time.Millisecond) // the processor joins
	rnd := rand.New(rand.NewPCG(16, 3))
	zipf := rand.NewZipf(rnd, 1.1, 4, vocab-1)
	type phase struct {
		room     int
		from, to int64 // ms
	}
	var phases []phase
	for i, room := range []int{1, 0, 1, 0} {
		start := time.Now()
		n := 0
		for a := (i / 2) * answers / 2; a < (i/2+1)*answers/2; a++ {
			for u := range users {
				user := fmt.Sprintf("user-%05d", u)
				if room == 0 {
					parts := make([]string, perAns)
					for j := range parts {
						parts[j] = fmt.Sprintf("W%d", zipf.Uint64())
					}
					send(rooms[0], fmt.Sprintf("a%d", a), user, schemas.PollTextAnswer, fmt.Sprintf(`{"poll_id":"c","answer":%q}`, strings.Join(parts, ", ")))
				} else {
					send(rooms[1], fmt.Sprintf("v%d", a), user, schemas.PollVote, fmt.Sprintf(`{"poll_id":"v","option":%d}`, (u+a)%4))
				}
				if n++; n%500 == 0 {
					if ahead := time.Duration(n)*time.Second/pace - time.Since(start); ahead > 0 {
						time.Sleep(ahead)
					}
				}
			}
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		phases = append(phases, phase{room: room, from: start.UnixMilli(), to: time.Now().UnixMilli()})
		time.Sleep(time.Second) // the phase's last frames out of the next one's window
	}
	if prodErr != nil {
		t.Fatal(prodErr)
	}

	// Wait until both rooms have folded every event, then measure each
	// phase's frames of its room.
	type stats struct {
		frames, bytes, maxBytes int
		delays                  []int64
	}
	st := make([]stats, len(phases))
	deadline := time.Now().Add(90 * time.Second)
	for {
		st = make([]stats, len(phases))
		var state [2]schemas.RoomState
		var seqs [2]uint64
		for i := range state {
			state[i] = schemas.NewRoomState()
		}
		for _, r := range readAll(t, brokers, tp.Frames).records {
			f, err := schemas.UnmarshalFrame(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.Index(rooms[:], f.Room)
			if i < 0 {
				continue
			}
			if f.Seq != seqs[i]+1 {
				t.Fatalf("%s: frame seq %d after %d", f.Room, f.Seq, seqs[i])
			}
			seqs[i] = f.Seq
			state[i].Apply(&f.Delta)
			at := r.Timestamp.UnixMilli()
			for j, ph := range phases {
				if ph.room == i && at >= ph.from && at <= ph.to {
					st[j].frames++
					st[j].bytes += len(r.Value)
					st[j].maxBytes = max(st[j].maxBytes, len(r.Value))
					st[j].delays = append(st[j].delays, at-f.TS)
				}
			}
		}
		c, v := state[0].Polls["c"], state[1].Polls["v"]
		if c != nil && v != nil && c.Voters == users && state[1].Totals.Votes == users*answers {
			if len(c.Words) != schemas.CloudTop {
				t.Fatalf("cloud top has %d words", len(c.Words))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s the rooms have not folded the load: cloud %+v, votes %+v", c, state[1].Totals)
		}
		time.Sleep(time.Second)
	}
	pct := func(d []int64, p float64) int64 {
		slices.Sort(d)
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(float64(len(d))*p))]
	}
	var best [2]float64
	for j, ph := range phases {
		s := st[j]
		rate := float64(s.frames) / (float64(ph.to-ph.from) / 1000)
		best[ph.room] = max(best[ph.room], rate)
		t.Logf("phase %d %-10s %5.1f frames/s  %5d B/frame mean  %5d B max  ingest→frame delay p50 %4d ms, p99 %4d ms",
			j+1, rooms[ph.room], rate, s.bytes/max(s.frames, 1), s.maxBytes, pct(s.delays, 0.5), pct(s.delays, 0.99))
	}
	t.Logf("load: %d events per room in two phases each, %d events/s; tick 50 ms; best phase: cloud %.1f frames/s, votes %.1f", users*answers, pace, best[0], best[1])
	if load := loadAverage(); load > 2*float64(runtime.NumCPU()) {
		// The processor then gets a fraction of a core, and which phase
		// the neighbours starve decides the ratio: measured, not judged.
		t.Logf("load average %.1f on %d CPUs: the machine is overloaded, the ratio is reported and not asserted", load, runtime.NumCPU())
		return
	}
	if best[0] < 0.8*best[1] {
		t.Fatalf("the cloud room wrote at best %.1f frames/s, the vote room %.1f: the cloud slows its room's frames", best[0], best[1])
	}
}

// loadAverage returns the 1-minute load average (0 where it cannot be
// read).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// BenchmarkCloudFold measures the fold's CPU per event of a cloud answer
// (five Zipf-distributed words) against a single-choice vote, side by
// side in one run (events parsed beforehand; a flush every 1,000 events
// as a tick under load would). It reports ns/event of each and the ratio.
func BenchmarkCloudFold(b *testing.B) {
	const users, per = 50_000, 5
	rnd := rand.New(rand.NewPCG(16, 3))
	zipf := rand.NewZipf(rnd, 1.1, 4, 20_000-1)
	mk := func(cloud bool) []*schemas.Event {
		var out []*schemas.Event
		if cloud {
			out = append(out, ev(b, "open", "r", "host", schemas.PollOpen, 1, schemas.PollOpenData{PollID: "c", Question: "q", Kind: schemas.PollCloud, StopWords: []string{"en"}}))
		} else {
			out = append(out, ev(b, "open", "r", "host", schemas.PollOpen, 1, schemas.PollOpenData{PollID: "v", Question: "q", Options: []string{"a", "b", "c", "d"}}))
		}
		for a := range 4 {
			for u := range users {
				user := fmt.Sprintf("user-%05d", u)
				if cloud {
					parts := make([]string, per)
					for i := range parts {
						parts[i] = fmt.Sprintf("W%d", zipf.Uint64())
					}
					out = append(out, ev(b, fmt.Sprint("a", a), "r", user, schemas.PollTextAnswer, 2, schemas.PollTextData{PollID: "c", Answer: strings.Join(parts, ", ")}))
				} else {
					out = append(out, ev(b, fmt.Sprint("v", a), "r", user, schemas.PollVote, 2, schemas.PollVoteData{PollID: "v", Option: (u + a) % 4}))
				}
			}
		}
		return out
	}
	cloudEvs, voteEvs := mk(true), mk(false)
	run := func(evs []*schemas.Event) time.Duration {
		cfg := testConfig()
		p := NewPartition(cfg)
		var batch Batch
		start := time.Now()
		for i, e := range evs {
			p.Apply(e, &batch)
			if i%1000 == 999 {
				p.Flush(int64(i), &batch)
				batch = Batch{}
			}
		}
		p.Flush(1<<40, &batch)
		return time.Since(start)
	}
	var tc, tv time.Duration
	for b.Loop() {
		tc += run(cloudEvs)
		tv += run(voteEvs)
	}
	c := float64(tc.Nanoseconds()) / float64(b.N*len(cloudEvs))
	v := float64(tv.Nanoseconds()) / float64(b.N*len(voteEvs))
	b.ReportMetric(c, "ns/answer")
	b.ReportMetric(v, "ns/vote")
	b.ReportMetric(c/v, "ratio")
}
