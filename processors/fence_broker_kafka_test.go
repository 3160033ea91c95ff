package processors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestFenceBrokerKillKafka is the region drill's failback stall on one
// real broker of its own: a processor is SIGKILLed while its transaction
// holds the group's offsets, then the broker is SIGKILLed and restarted,
// then the processor. Kafka 4.4 sometimes times that transaction out
// while the restarted broker re-registers and records it aborted without
// writing its markers: the partitions keep it open for good (a hanging
// transaction: the group's offsets stay unstable, the output's last
// stable offset stays put). The restarted processor must end it
// (fence.go, endHanging) and commit new events within 20 s of its start.
// It repeats the cycle until one hung (at most 3 cycles; about 35 s
// each: nothing shorter makes the broker hang a transaction), and checks
// the folds exactly at the end.
func TestFenceBrokerKillKafka(t *testing.T) {
	c := kafkatest.NewCluster(t, 1)
	brokers := c.Brokers()
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	group := "fencebk-" + tp.Events
	p := newProc(t, bin, "a", brokers, tp, group)

	g := newGen(1920, 20)
	m := newModel()
	ts := time.Now().UnixMilli()
	var evs []*schemas.Event
	next := func(k int) []*schemas.Event {
		from := len(evs)
		for range k {
			e := g.next(t, ts+int64(len(evs)))
			evs = append(evs, e)
			m.apply(e)
		}
		return evs[from:]
	}
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hung := 0
	for cycle := 1; cycle <= 3 && hung == 0; cycle++ {
		batch := next(12_000)
		done := make(chan error, 1)
		go func() { done <- produceSteady(t, brokers, tp.Events, batch, 1000) }()
		cl := kafkatest.Client(t, brokers)
		adm := kadm.NewClient(cl)
		committed := func() int64 { return groupCommitted(ctx, adm, group) }
		unstable := func() bool { return groupUnstable(ctx, cl, group, tp.Events, 2) }
		start := committed()
		for committed() < start+1000 {
			if ctx.Err() != nil {
				t.Fatal("the processor committed nothing")
			}
			time.Sleep(100 * time.Millisecond)
		}
		tries := killInCommitWindow(t, p, unstable, func() bool { return committed() > int64(len(evs))-2000 })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		cl.Close()
		c.Kill(0)
		killed := time.Now()
		c.Start(0)
		t.Logf("cycle %d: processor SIGKILLed with its offsets in an open transaction (try %d), then the broker; broker back after %s",
			cycle, tries, time.Since(killed).Round(time.Millisecond))
		cl = kafkatest.Client(t, brokers)
		adm = kadm.NewClient(cl)
		// Give the coordinator time to abort on its own (transaction
		// timeout 5 s, checked every second): what is still open then
		// hangs.
		time.Sleep(8 * time.Second)
		if hanging := hangingTxns(ctx, adm); hanging != "" {
			hung++
			t.Logf("cycle %d: the broker left transactions hanging:\n%s", cycle, hanging)
		}
		before := committed()
		p.mark(fmt.Sprintf("restart %d", cycle))
		restarted := time.Now()
		p.start()
		// New events, so that there is something to commit.
		go func() { done <- produceSteady(t, brokers, tp.Events, next(500), 1000) }()
		for committed() <= before {
			if time.Since(restarted) > 20*time.Second {
				t.Fatalf("cycle %d: the restarted processor committed nothing within 20 s (group offsets unstable: %v; transactions:\n%s)",
					cycle, unstable(), hangingTxns(ctx, adm))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		t.Logf("cycle %d: restarted processor committed new events %s after its start", cycle, time.Since(restarted).Round(time.Millisecond))
		cl.Close()
	}
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)
	frames := verifyOutput(t, brokers, tp, m)
	if hung == 0 {
		t.Logf("the broker hung no transaction in 3 cycles: only the restarts were checked")
	}
	t.Logf("%d events, %d frames, folds exact", len(evs), len(frames.records))
}

// hangingTxns names the open transactions of partitions whose producer
// has no transaction open at its coordinator.
func hangingTxns(ctx context.Context, adm *kadm.Client) string {
	txns, err := adm.DescribeTransactions(ctx)
	if err != nil {
		return err.Error()
	}
	open := map[int64]bool{}
	for _, d := range txns {
		if d.State == "Ongoing" || d.State == "PrepareAbort" || d.State == "PrepareCommit" {
			open[d.ProducerID] = true
		}
	}
	ps, err := adm.DescribeProducers(ctx, nil)
	if err != nil {
		return err.Error()
	}
	out := ""
	ps.EachPartition(func(p kadm.DescribedProducersPartition) {
		for _, pr := range p.ActiveProducers.Sorted() {
			if pr.CurrentTxnStartOffset >= 0 && !open[pr.ProducerID] {
				out += fmt.Sprintf("  %s[%d] from offset %d: producer %d epoch %d\n", pr.Topic, pr.Partition, pr.CurrentTxnStartOffset, pr.ProducerID, pr.ProducerEpoch)
			}
		}
	})
	return out
}
