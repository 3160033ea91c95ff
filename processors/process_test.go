package processors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// buildOvation builds the ovation binary into a temporary directory.
func buildOvation(t testing.TB) string {
	t.Helper()
	root, err := kafkatest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ovation")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ovation")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ovation: %v\n%s", err, out)
	}
	return bin
}

// proc is one `ovation process` child process. Its logs go to a file in
// the test's directory, shown when the test fails.
type proc struct {
	t    testing.TB
	bin  string
	args []string
	name string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed once cmd.Wait returned
	starts int
}

func newProc(t testing.TB, bin, name string, brokers []string, tp schemas.Topics, group string, extra ...string) *proc {
	p := &proc{t: t, bin: bin, name: name, log: filepath.Join(t.TempDir(), name+".log"), args: append([]string{
		"process",
		"--kafka-brokers", strings.Join(brokers, ","),
		"--http-addr", "127.0.0.1:0",
		"--topic-events", tp.Events, "--topic-frames", tp.Frames, "--topic-snapshots", tp.Snapshots,
		"--topic-changelog", tp.Changelog, "--topic-dlq", tp.DLQ,
		"--group", group, "--transactional-id", group + "-" + name,
		"--session-timeout", "6s", "--transaction-timeout", "5s",
	}, extra...)}
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
	return p
}

func (p *proc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "---- start %d at %s\n", p.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.starts++
	p.cmd = cmd
	done := make(chan struct{})
	p.done = done
	// The waiter goroutine owns cmd.ProcessState; others learn the exit
	// from done, never by reading ProcessState (a data race).
	go func() { cmd.Wait(); f.Close(); close(done) }()
}

func (p *proc) signal(s syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(s)
	}
}

// kill SIGKILLs the process and waits until it is gone.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
		return
	case <-time.After(2 * time.Second):
	}
}

// mark appends a marker line to the process's log.
func (p *proc) mark(what string) {
	f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		fmt.Fprintf(f, "---- %s at %s\n", what, time.Now().Format(time.RFC3339Nano))
		f.Close()
	}
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// produceSteady writes evs at about rate events per second, in order,
// with an idempotent producer that rides out broker restarts.
func produceSteady(t testing.TB, brokers []string, topic string, evs []*schemas.Event, rate int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(10*time.Millisecond), kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for i, e := range evs {
		if i%500 == 0 {
			if ahead := time.Duration(i)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		b, _ := e.Marshal()
		cl.Produce(ctx, &kgo.Record{Key: []byte(e.Room), Value: b}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return firstErr
}

// TestFaultCluster is the exactly-once proof on a real three-broker
// Apache Kafka: three `ovation process` processes share 200,000 events
// across 200 rooms while one of them is SIGKILLed (and restarted) at a
// random moment every 5–20 s and one broker is killed and restarted. In
// the end every room's frames are gapless 1..N, their fold and the latest
// snapshot equal the test's own fold of the events, and a read_committed
// reader never saw aborted data (seqs would repeat).
func TestFaultCluster(t *testing.T) {
	cluster := kafkatest.NewCluster(t, 3)
	brokers := cluster.Brokers()
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 6, 3)

	g := newGen(2026, 200)
	m := newModel()
	ts := time.Now().UnixMilli()
	evs := make([]*schemas.Event, 0, 200_000)
	for i := range 200_000 {
		e := g.next(t, ts+int64(i/50))
		evs = append(evs, e)
		m.apply(e)
	}
	group := "fault-" + tp.Events
	procs := make([]*proc, 3)
	for i := range procs {
		procs[i] = newProc(t, bin, fmt.Sprintf("p%d", i), brokers, tp, group)
		procs[i].start()
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var kills int
	wg.Add(1)
	go func() {
		defer wg.Done()
		rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(5000+rnd.IntN(15000)) * time.Millisecond):
			}
			p := procs[rnd.IntN(len(procs))]
			p.kill()
			kills++
			t.Logf("SIGKILL %s (kill %d)", p.name, kills)
			p.start()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-stop:
			return
		case <-time.After(15 * time.Second):
		}
		t.Log("killing broker 1")
		cluster.Kill(1)
		time.Sleep(5 * time.Second)
		cluster.Start(1)
		t.Log("broker 1 back")
	}()

	start := time.Now()
	if err := produceSteady(t, brokers, tp.Events, evs, 5000); err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("produce: %v", err)
	}
	t.Logf("produced %d events in %s", len(evs), time.Since(start).Round(time.Millisecond))
	// Keep killing while the processors catch up, then let them finish.
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	waitCaughtUp(t, brokers, group, tp.Events, 120*time.Second)
	frames := verifyOutput(t, brokers, tp, m)
	all := readTopic(t, brokers, tp.Frames, false)
	t.Logf("%d SIGKILLs; %d frames read over %d rooms by the read_committed reader, with %d commit and %d abort markers; the log holds %d frame records in all, so %d aborted frames were written and none was read (seqs gapless, folds exact)",
		kills, len(frames.records), len(m.rooms), frames.commits, frames.aborts, len(all.records), len(all.records)-len(frames.records))
	if frames.aborts > 0 && len(all.records) <= len(frames.records) {
		t.Fatalf("abort markers but no aborted frames in the log: %d records uncommitted view, %d committed", len(all.records), len(frames.records))
	}
	if kills == 0 {
		t.Fatal("no processor was killed")
	}
}

// TestZombie stops a processor with SIGSTOP past its session timeout while
// events flow, then resumes it: its partitions moved to the other
// processor, its open transaction was aborted, and nothing it writes after
// waking is read — the output is exact.
func TestZombie(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 4, 1)
	g := newGen(99, 20)
	m := newModel()
	ts := time.Now().UnixMilli()
	var evs []*schemas.Event
	for i := range 60_000 {
		e := g.next(t, ts+int64(i/50))
		evs = append(evs, e)
		m.apply(e)
	}
	group := "zombie-" + tp.Events
	a := newProc(t, bin, "a", brokers, tp, group)
	b := newProc(t, bin, "b", brokers, tp, group)
	a.start()
	b.start()
	done := make(chan error, 1)
	go func() { done <- produceSteady(t, brokers, tp.Events, evs, 3000) }()
	time.Sleep(5 * time.Second)
	a.signal(syscall.SIGSTOP)
	t.Log("SIGSTOP a")
	time.Sleep(10 * time.Second) // > session timeout (6 s) and transaction timeout (5 s)
	a.mark("SIGCONT")
	a.signal(syscall.SIGCONT)
	t.Log("SIGCONT a")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, brokers, group, tp.Events, 90*time.Second)
	frames := verifyOutput(t, brokers, tp, m)
	logA := a.logText()
	_, logA, _ = strings.Cut(logA, "---- SIGCONT")
	fenced := strings.Contains(logA, "session failed") || strings.Contains(logA, "state dropped") || strings.Contains(logA, "revoked")
	if !fenced {
		t.Fatalf("the stopped processor did not notice it lost its partitions:\n%s", tail(logA, 3000))
	}
	var lines []string
	for _, l := range strings.Split(logA, "\n") {
		if !strings.Contains(l, "component=kafka") && (strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "dropped") || strings.Contains(l, "revoked")) {
			lines = append(lines, l)
		}
	}
	t.Logf("what the zombie logged after waking:\n%s", tail(strings.Join(lines, "\n"), 2500))
	t.Logf("%d frames exact, %d abort markers", len(frames.records), frames.aborts)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
