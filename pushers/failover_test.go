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

// TestFailoverTwoPushers: two `ovation push` processes, 1,000 WebSocket
// clients (two rooms each, 20 rooms) against real Kafka while frames flow.
// Pusher A is killed with SIGKILL; its clients reconnect to B and resume
// with their (epoch, seq). Every client must end with each room's final
// state, its frames gapless and without repeats; recovered:false resets
// are counted and reported. B's presence reports must count every viewer.
func TestFailoverTwoPushers(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := schemas.Topics{
		Events:    kafkatest.Topic(t, brokers, 4),
		Frames:    kafkatest.Topic(t, brokers, 4),
		Snapshots: kafkatest.Topic(t, brokers, 4, "cleanup.policy=compact"),
	}.WithDefaults()
	bin := ovationBinary(t)
	a := startPusher(t, bin, "push-a", brokers, topics)
	b := startPusher(t, bin, "push-b", brokers, topics)

	const clients, nrooms = 1000, 20
	run := fmt.Sprint(time.Now().UnixNano() % 1e9)
	room := func(i int) string { return fmt.Sprintf("fo-%s-%d", run, i) }
	roomsOf := func(i int) []string { return []string{room(i % nrooms), room((i*7 + 3) % nrooms)} }
	p := newProc(t, brokers, topics)
	p.snapFor = map[string]uint64{}
	for i := 0; i < nrooms; i++ {
		p.snapFor[room(i)] = uint64(1 + i%3) // some rooms' snapshots lag their frames
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
	go func() {
		defer close(procDone)
		for i := 0; ctx.Err() == nil; i++ {
			ds := map[string]*schemas.Delta{}
			for r := 0; r < nrooms; r++ {
				if rand.IntN(3) > 0 {
					ds[room(r)] = randomDelta(i, rand.IntN(2), 40)
				}
			}
			if err := p.tick(context.Background(), ds); err != nil {
				procDone <- err
				return
			}
			ticks.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}()

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
	t.Logf("killed pusher A at tick %d; %d clients moved to B; processor stopped at tick %d", killedAt, moved.Load(), ticks.Load())

	var resets, recovered, frames, merged int
	for i, c := range cs {
		for _, r := range roomsOf(i) {
			_, last, want := p.room(r)
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	out := map[string]int64{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
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
	}
	return out
}
