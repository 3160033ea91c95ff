package processors

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFenceEmptyCommit shows why fenceEmptyCommit exists and that it
// works. Member a of a transactional consumer group is replaced (its
// heartbeats stop reaching the coordinator, which expires it and gives
// its partition to b) but has not learned it yet: the window a paused or
// partitioned processor wakes into. A transaction in which a consumed
// nothing (the processors' snapshot catch-ups, evictions, presence expiry)
// but produced a state record then commits, because franz-go sends no
// TxnOffsetCommit and so nothing checks a's generation; with fenceEmpty
// the coordinator refuses it and the transaction aborts.
func TestFenceEmptyCommit(t *testing.T) {
	for _, fence := range []bool{false, true} {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"), kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
		if err != nil {
			t.Fatal(err)
		}
		brokers := c.ListenAddrs()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		member := func(name string) *kgo.GroupTransactSession {
			s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("in"),
				kgo.TransactionalID("tx-"+name), kgo.ClientID(name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(2*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(), kgo.DefaultProduceTopic("out"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		prod, _ := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("in"))
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("1")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		a := member("a")
		// a consumes the record and commits it: a member of generation 1.
		for got := 0; got == 0; {
			f := a.PollFetches(ctx)
			for _, e := range f.Errors() {
				t.Fatalf("a's poll: %v", e.Err)
			}
			got = f.NumRecords()
		}
		if err := a.Begin(); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.End(ctx, kgo.TryCommit); !ok || err != nil {
			t.Fatalf("a's first commit: %v %v", ok, err)
		}
		// From now on a's heartbeats never reach the coordinator, and a
		// is told they succeeded: it does not learn it was replaced.
		aID, _ := a.Client().GroupMetadata()
		c.ControlKey(kmsg.Heartbeat.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			hb := req.(*kmsg.HeartbeatRequest)
			if hb.MemberID != aID {
				return nil, nil, false
			}
			resp := hb.ResponseKind().(*kmsg.HeartbeatResponse)
			return resp, nil, true
		})
		b := member("b")
		go func() {
			for ctx.Err() == nil {
				b.PollFetches(ctx)
			}
		}()
		// b owns the partition once the coordinator expired a.
		deadline := time.Now().Add(20 * time.Second)
		for {
			if describeOwner(ctx, prod) == "b" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("b never took a's partition")
			}
			time.Sleep(100 * time.Millisecond)
		}
		// a, the zombie, writes a state record in a transaction that
		// consumed nothing.
		if err := a.Begin(); err != nil {
			t.Fatal(err)
		}
		a.Produce(ctx, &kgo.Record{Value: []byte("stale state")}, nil)
		ectx := ctx
		if fence {
			ectx = kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
				fenceEmpty(req, "in", 0, 1)
				return nil
			})
		}
		committed, err := a.End(ectx, kgo.TryCommit)
		t.Logf("fence %v: the replaced member's empty transaction committed=%v err=%v", fence, committed, err)
		switch {
		case fence && committed:
			t.Fatal("with fenceEmpty the replaced member's transaction committed")
		case !fence && !committed:
			// The premise: without it, it commits. If franz-go or the
			// broker ever fence this themselves, fenceEmpty is moot.
			t.Fatalf("without fenceEmpty the replaced member's transaction did not commit (err %v): has franz-go started fencing empty commits?", err)
		}
		cancel()
		a.Close()
		b.Close()
		prod.Close()
		c.Close()
	}
}

// describeOwner returns the client id of the member of group g that
// owns partition 0 of "in" (empty when none does).
func describeOwner(ctx context.Context, cl *kgo.Client) string {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{"g"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Groups) != 1 {
		return ""
	}
	g := resp.Groups[0]
	if g.State != "Stable" {
		return ""
	}
	for _, m := range g.Members {
		var a kmsg.ConsumerMemberAssignment
		if a.ReadFrom(m.MemberAssignment) != nil {
			continue
		}
		for _, tp := range a.Topics {
			if tp.Topic == "in" && len(tp.Partitions) > 0 {
				return m.ClientID
			}
		}
	}
	return ""
}
