package processors

import (
	"context"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestFenceRestartKafka is issue 19's failback stall on one real broker:
// an `ovation process` child with a 2-minute transaction timeout is
// SIGKILLed exactly while its transaction holds the group's offsets (after
// its TxnOffsetCommit, before EndTxn: the group's offsets are unstable),
// and restarted with the same transactional id. The restarted one must
// fence that transaction itself (InitProducerID before the group session,
// fence.go) and take the dead member's place in the group (static
// membership) rather than wait out the transaction timeout and the dead
// member's session: new events are committed within 15 s, and in the end
// frames and snapshots fold exactly to every event sent.
//
// Without the fence the restarted processor loops on
// UNSTABLE_OFFSET_COMMIT until the coordinator times the transaction out
// (2 minutes here), and the test fails on the 15 s bound.
func TestFenceRestartKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	group := "fence-" + tp.Events
	p := newProc(t, bin, "a", brokers, tp, group, "--session-timeout", "150s", "--transaction-timeout", "2m")

	g := newGen(1919, 20)
	m := newModel()
	ts := time.Now().UnixMilli()
	const n = 24_000
	evs := make([]*schemas.Event, 0, n)
	for i := range n {
		e := g.next(t, ts+int64(i))
		evs = append(evs, e)
		m.apply(e)
	}
	p.start()
	// Load while the processor runs: a first third before the kill, a
	// second third during it, the rest after the restart.
	done := make(chan error, 1)
	go func() { done <- produceSteady(t, brokers, tp.Events, evs[:2*n/3], 1000) }()

	cl := kafkatest.Client(t, brokers)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	committed := func() int64 { return groupCommitted(ctx, adm, group) }
	unstable := func() bool { return groupUnstable(ctx, cl, group, tp.Events, 2) }
	for committed() < 1000 {
		if ctx.Err() != nil {
			t.Fatal("the processor committed nothing")
		}
		time.Sleep(100 * time.Millisecond)
	}
	tries := killInCommitWindow(t, p, unstable, func() bool { return committed() > 2*n/3-500 })
	before := committed()
	killed := time.Now()
	t.Logf("SIGKILLed the processor with its offsets in an open transaction (try %d; %d events committed)", tries, before)
	time.Sleep(time.Second)
	if !unstable() {
		t.Fatal("the killed processor's offsets were not left pending")
	}
	p.mark("restart")
	p.start()
	for committed() <= before {
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("the restarted processor committed nothing within 15 s of the kill (group offsets still unstable: %v)", unstable())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resumed := time.Since(killed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := produceSteady(t, brokers, tp.Events, evs[2*n/3:], 2000); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	frames := verifyOutput(t, brokers, tp, m)
	t.Logf("restarted processor committed new events %s after the kill (2 min transaction timeout, 150 s session); %d events, %d frames, folds exact",
		resumed.Round(time.Millisecond), n, len(frames.records))
}

// groupCommitted is the sum of group's committed offsets (-1 on error).
func groupCommitted(ctx context.Context, adm *kadm.Client, group string) int64 {
	os, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return -1
	}
	var sum int64
	os.Each(func(o kadm.OffsetResponse) { sum += o.At })
	return sum
}

// groupUnstable reports whether group has a transactional offset commit
// pending on topic's partitions: an open transaction holds its offsets.
func groupUnstable(ctx context.Context, cl *kgo.Client, group, topic string, partitions int32) bool {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.RequireStable = true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for i := range partitions {
		rt.Partitions = append(rt.Partitions, i)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return false
	}
	if errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.UnstableOffsetCommit) {
		return true
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if errors.Is(kerr.ErrorForCode(rp.ErrorCode), kerr.UnstableOffsetCommit) {
				return true
			}
		}
	}
	return false
}

// killInCommitWindow freezes p at random moments until one falls inside
// the window between its TxnOffsetCommit and its EndTxn (a few percent of
// the time under load), then SIGKILLs it there. It fails the test once
// over() says the load is over. It returns the tries it took.
func killInCommitWindow(t testing.TB, p *proc, unstable, over func() bool) int {
	t.Helper()
	for tries := 1; ; tries++ {
		if over() {
			t.Fatalf("never caught the processor with its offsets in an open transaction in %d tries", tries)
		}
		time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
		p.signal(syscall.SIGSTOP)
		// Still unstable a moment later, with the process frozen: the
		// coordinator is not completing an EndTxn already sent.
		if unstable() {
			time.Sleep(300 * time.Millisecond)
			if unstable() {
				p.kill()
				return tries
			}
		}
		p.signal(syscall.SIGCONT)
	}
}
