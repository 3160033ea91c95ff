package pushers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// buildOvation builds the ovation binary once per test binary run.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func ovationBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ovation-push-test")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "ovation")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "../cmd/ovation").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// pusherProc is an `ovation push` child process.
type pusherProc struct {
	cmd  *exec.Cmd
	addr string
	url  string
	logs *strings.Builder
}

func startPusher(t testing.TB, bin, node string, brokers []string, topics schemas.Topics, extra ...string) *pusherProc {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"push", "--node", node, "--http-addr", addr, "--kafka-brokers", strings.Join(brokers, ","),
		"--topic-events", topics.Events, "--topic-frames", topics.Frames, "--topic-snapshots", topics.Snapshots,
		"--auth-hs256-secrets", string(testSecret), "--publish=false", "--presence-interval", "1s",
		"--max-conns-per-user", "-1", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	var logs strings.Builder
	cmd.Stderr = &syncWriter{w: &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pusherProc{cmd: cmd, addr: addr, url: "ws://" + addr + "/v1/stream", logs: &logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pusher %s not ready: %v\n%s", node, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// frameSource is what writes a room's frames in a failover test: the
// fake processor (contract mimic, lagging snapshots) or the real `ovation
// process` fed with events.
type frameSource interface {
	// run writes until ctx ends; ticks counts its rounds.
	run(ctx context.Context, rooms []string, ticks *atomic.Int64) error
	// final returns each room's final (seq, state), once quiescent.
	final(t *testing.T, rooms []string) map[string]finalRoom
}

type finalRoom struct {
	seq   uint64
	state schemas.RoomState
}

// TestFailoverTwoPushers: two `ovation push` processes, 1,000 WebSocket
// clients (two rooms each, 20 rooms) against real Kafka while frames flow
// from a processor mimic. Pusher A is killed with SIGKILL; its clients
// reconnect to B and resume with their (epoch, seq). Every client must end
// with each room's final state, its frames exactly 1..N; recovered:false
// resets are counted and reported. B's presence reports must count every
// viewer.
func TestFailoverTwoPushers(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := schemas.Topics{
		Events:    kafkatest.Topic(t, brokers, 4),
		Frames:    kafkatest.Topic(t, brokers, 4),
		Snapshots: kafkatest.Topic(t, brokers, 4, "cleanup.policy=compact"),
	}.WithDefaults()
	p := newProc(t, brokers, topics)
	failover(t, brokers, topics, &procSource{p: p}, true)
}

// TestFailoverWithProcessor: the same with the real pipeline: events
// produced to Kafka, `ovation process` folding them into frames and
// snapshots, two `ovation push` processes, SIGKILL of one. Every client
// must end equal to each room's final snapshot in the snapshots topic,
// with frames exactly 1..N.
func TestFailoverWithProcessor(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := schemas.Topics{
		Events:    kafkatest.Topic(t, brokers, 4),
		Frames:    kafkatest.Topic(t, brokers, 4),
		Snapshots: kafkatest.Topic(t, brokers, 4, "cleanup.policy=compact"),
		Changelog: kafkatest.Topic(t, brokers, 4, "cleanup.policy=compact"),
		DLQ:       kafkatest.Topic(t, brokers, 1),
	}.WithDefaults()
	bin := ovationBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "process", "--kafka-brokers", strings.Join(brokers, ","), "--http-addr", addr,
		"--group", "push-test-"+fmt.Sprint(time.Now().UnixNano()), "--topic-events", topics.Events, "--topic-frames", topics.Frames,
		"--topic-snapshots", topics.Snapshots, "--topic-changelog", topics.Changelog, "--topic-dlq", topics.DLQ, "--log-level", "warn")
	var logs strings.Builder
	cmd.Stderr = &syncWriter{w: &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovation process not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	prod := kafkatest.Client(t, brokers, kgo.DefaultProduceTopic(topics.Events), kgo.RequiredAcks(kgo.AllISRAcks()))
	failover(t, brokers, topics, &eventSource{prod: prod, brokers: brokers, topics: topics}, false)
}

// procSource drives the fake processor.
type procSource struct{ p *fakeProc }

func (s *procSource) run(ctx context.Context, rooms []string, ticks *atomic.Int64) error {
	for i, r := range rooms {
		s.p.snapFor[r] = uint64(1 + i%3) // some rooms' snapshots lag their frames
	}
	for i := 0; ctx.Err() == nil; i++ {
		ds := map[string]*schemas.Delta{}
		for _, r := range rooms {
			if rand.IntN(3) > 0 {
				ds[r] = randomDelta(i, rand.IntN(2), 40)
			}
		}
		if err := s.p.tick(context.Background(), ds); err != nil {
			return err
		}
		ticks.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (s *procSource) final(_ *testing.T, rooms []string) map[string]finalRoom {
	out := map[string]finalRoom{}
	for _, r := range rooms {
		_, seq, st := s.p.room(r)
		out[r] = finalRoom{seq, st}
	}
	return out
}

// eventSource produces reactions and chat messages straight into the
// events topic (a trusted producer) for the real processor.
type eventSource struct {
	prod    *kgo.Client
	brokers []string
	topics  schemas.Topics
}

func (s *eventSource) run(ctx context.Context, rooms []string, ticks *atomic.Int64) error {
	n := 0
	for ctx.Err() == nil {
		var recs []*kgo.Record
		for _, r := range rooms {
			for k := 0; k < 1+rand.IntN(3); k++ {
				n++
				ev := schemas.Event{V: schemas.Version, ID: fmt.Sprintf("ev-%d", n), Room: r, User: fmt.Sprintf("u%d", n%50), TS: time.Now().UnixMilli()}
				if n%4 == 0 {
					ev.Type, ev.Data = schemas.ChatMessage, []byte(fmt.Sprintf(`{"text":"hello %d"}`, n))
				} else {
					ev.Type, ev.Data = schemas.Reaction, []byte(`{"emoji":"👏"}`)
				}
				b, _ := ev.Marshal()
				recs = append(recs, &kgo.Record{Key: []byte(r), Value: b})
			}
		}
		if err := s.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			return err
		}
		ticks.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// final waits until the snapshots topic stops changing, then returns each
// room's latest snapshot.
func (s *eventSource) final(t *testing.T, rooms []string) map[string]finalRoom {
	// The processors write a room's snapshot on a schedule (every N
	// frames or T seconds, a quiet room's catching up in an idle
	// transaction), so the latest snapshot may lag the room's last frame
	// for a while after the events stop: wait until every room's has
	// caught up with its last frame.
	var cur map[string]finalRoom
	var lag []string
	for attempt := 0; attempt < 30; attempt++ {
		cur = readSnapshots(t, s.brokers, s.topics.Snapshots)
		last := lastFrameSeqs(t, s.brokers, s.topics.Frames)
		lag = lag[:0]
		for _, r := range rooms {
			if cur[r].seq != last[r] {
				lag = append(lag, fmt.Sprintf("%s: snapshot %d, last frame %d", r, cur[r].seq, last[r]))
			}
		}
		if len(lag) == 0 {
			return cur
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("snapshots did not catch up with the frames in 30 s: %v", lag)
	return nil
}

// lastFrameSeqs reads a frames topic to its end: the last frame's seq of
// every room.
func lastFrameSeqs(t *testing.T, brokers []string, topic string) map[string]uint64 {
	out := map[string]uint64{}
	readToEnd(t, brokers, topic, func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			return
		}
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Errorf("frame record: %v", err)
			return
		}
		out[f.Room] = max(out[f.Room], f.Seq)
	})
	return out
}

// readToEnd reads topic from its start to the end it has now, read
// committed, and hands every record (control records included) to fn.
func readToEnd(t testing.TB, brokers []string, topic string, fn func(*kgo.Record)) {
	t.Helper()
	cl := kafkatest.Client(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			fn(r)
		})
	}
}

// readSnapshots reads a snapshots topic to its end: the latest snapshot
// of every room.
func readSnapshots(t *testing.T, brokers []string, topic string) map[string]finalRoom {
	out := map[string]finalRoom{}
	readToEnd(t, brokers, topic, func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			return
		}
		sn, err := schemas.UnmarshalSnapshot(r.Value)
		if err != nil {
			t.Errorf("snapshot record: %v", err)
			return
		}
		out[sn.Room] = finalRoom{sn.Seq, sn.State}
	})
	return out
}

// failover is the body of the failover tests.
func failover(t *testing.T, brokers []string, topics schemas.Topics, src frameSource, checkPresence bool) {
	bin := ovationBinary(t)
	extra := []string{}
	if !checkPresence {
		// The real processor folds presence into viewers; without reports
		// the rooms go quiet when events stop, so their final snapshot is
		// well defined.
		extra = []string{"--presence-interval", "1h"}
	}
	a := startPusher(t, bin, "push-a", brokers, topics, extra...)
	b := startPusher(t, bin, "push-b", brokers, topics, extra...)

	const clients, nrooms = 1000, 20
	run := fmt.Sprint(time.Now().UnixNano() % 1e9)
	room := func(i int) string { return fmt.Sprintf("fo-%s-%d", run, i) }
	roomsOf := func(i int) []string { return []string{room(i % nrooms), room((i*7 + 3) % nrooms)} }
	var allRoomIDs []string
	for i := 0; i < nrooms; i++ {
		allRoomIDs = append(allRoomIDs, room(i))
	}
	cs := make([]*tclient, clients)
	var dialWG sync.WaitGroup
	dialErr := make(chan error, clients)
	sem := make(chan struct{}, 50)
	for i := range cs {
		dialWG.Add(1)
		sem <- struct{}{}
		go func() {
			defer dialWG.Done()
			defer func() { <-sem }()
			url := a.url
			if i%2 == 1 {
				url = b.url
			}
			c, _, err := dialClient(url, allRooms(t, fmt.Sprint("v", i)), nil)
			if err != nil {
				dialErr <- err
				return
			}
			cs[i] = c
			for _, r := range roomsOf(i) {
				c.subscribe(r)
			}
		}()
	}
	dialWG.Wait()
	close(dialErr)
	for err := range dialErr {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.close()
			}
		}
	}()
	for i, c := range cs {
		for _, r := range roomsOf(i) {
			c.waitFor(t, 30*time.Second, "subscribed", func(c *tclient) bool { x := c.rooms[r]; return x != nil && x.hadState })
			if e, sq, _, _ := c.position(r); e != "" || sq != 0 {
				t.Fatalf("client %d starts %s at (%s,%d), want the empty room", i, r, e, sq)
			}
		}
	}
	// The rooms are new: every client starts from the empty snapshot at
	// ("", 0), so its frames must be exactly 1..N.
	ctx, stop := context.WithCancel(context.Background())
	var ticks atomic.Int64
	procDone := make(chan error, 1)
	go func() { procDone <- src.run(ctx, allRoomIDs, &ticks) }()

	t.Logf("1000 clients subscribed to empty rooms; frames start now")
	time.Sleep(2 * time.Second)

	// SIGKILL pusher A while frames flow.
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	killedAt := ticks.Load()
	var moved, reconnectErrs atomic.Int64
	before := make([]map[string]int, clients) // frames applied on the killed socket
	var wg sync.WaitGroup
	for i := 0; i < clients; i += 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			old := cs[i]
			code, _ := old.waitClosed(t, 30*time.Second)
			if code != 1006 {
				t.Errorf("client %d: close %d after SIGKILL, want 1006", i, code)
			}
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond) // reconnect jitter
			c, _, err := dialClient(b.url, allRooms(t, fmt.Sprint("v", i)), nil)
			if err != nil {
				reconnectErrs.Add(1)
				return
			}
			old.mu.Lock()
			if len(old.violations) > 0 {
				t.Errorf("client %d before the kill: %v", i, old.violations)
			}
			old.mu.Unlock()
			before[i] = map[string]int{}
			old.mu.Lock()
			for r, x := range old.rooms {
				before[i][r] = x.frames
			}
			old.mu.Unlock()
			for _, r := range roomsOf(i) {
				e, s, st, ok := old.position(r)
				if !ok {
					t.Errorf("client %d had no position in %s", i, r)
					continue
				}
				c.resume(r, e, s, st)
			}
			cs[i] = c
			old.ws.Close()
			moved.Add(1)
		}()
	}
	wg.Wait()
	if reconnectErrs.Load() > 0 {
		t.Fatalf("%d reconnects failed", reconnectErrs.Load())
	}
	time.Sleep(2 * time.Second)
	stop()
	if err := <-procDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("killed pusher A at round %d; %d clients moved to B; frames stopped at round %d", killedAt, moved.Load(), ticks.Load())

	finals := src.final(t, allRoomIDs)
	var resets, recovered, frames, merged int
	for i, c := range cs {
		for _, r := range roomsOf(i) {
			last, want := finals[r].seq, finals[r].state
			c.waitFor(t, 60*time.Second, fmt.Sprintf("client %d at %s's last frame %d", i, r, last), func(c *tclient) bool { return c.rooms[r].seq == last })
			c.mu.Lock()
			x := c.rooms[r]
			if len(c.violations) > 0 {
				t.Errorf("client %d: %v", i, c.violations)
			}
			if got := stateJSON(x.state); got != stateJSON(want) {
				t.Errorf("client %d room %s: state differs\n got %s\nwant %s", i, r, got, stateJSON(want))
			}
			if n := before[i][r] + x.frames; x.resets == 0 && uint64(n) != last {
				t.Errorf("client %d room %s: %d frames applied over its sockets, want exactly 1..%d", i, r, n, last)
			}
			resets += x.resets
			recovered += x.recovered
			frames += before[i][r] + x.frames
			merged += x.merged
			c.mu.Unlock()
		}
	}
	t.Logf("after failover: %d frames applied in all (each client-room exactly 1..N), %d resumes recovered:true, %d recovered:false resets, %d merged frames", frames, recovered, resets, merged)
	if recovered != clients/2*2 {
		t.Errorf("recovered resumes = %d, want %d (every moved client, both rooms, from B's window)", recovered, clients)
	}

	if !checkPresence {
		return
	}
	// Occupancy: B's latest presence report per room counts every viewer.
	want := map[string]int64{}
	for i := range cs {
		for _, r := range roomsOf(i) {
			want[r]++
		}
	}
	time.Sleep(2500 * time.Millisecond)
	got := latestPresence(t, brokers, topics.Events, "push-b")
	for r, n := range want {
		if got[r] != n {
			t.Errorf("presence of push-b in %s = %d, want %d", r, got[r], n)
		}
	}
}

// latestPresence reads the events topic to its current end and returns
// node's latest viewer count per room.
func latestPresence(t testing.TB, brokers []string, topic, node string) map[string]int64 {
	out := map[string]int64{}
	readToEnd(t, brokers, topic, func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			return
		}
		ev, err := schemas.ParseEvent(r.Value)
		if err != nil {
			t.Errorf("presence event does not validate: %v: %s", err, r.Value)
			return
		}
		var d schemas.PresenceData
		json.Unmarshal(ev.Data, &d)
		if ev.Type == schemas.Presence && d.Node == node && string(r.Key) == ev.Room && ev.User == "pusher:"+node {
			out[ev.Room] = d.Viewers
		}
	})
	return out
}
