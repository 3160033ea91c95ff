package processors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fence ends what a previous incarnation of this replica left open, the
// way Java's initTransactions does, before the group session starts.
//
// franz-go sends InitProducerID lazily, at the first BeginTransaction,
// and a GroupTransactSession begins its first transaction only once it
// owns partitions. With RequireStableFetchOffsets the group assigns
// nothing while the group's offsets are unstable, and they are unstable
// while a SIGKILLed incarnation's transaction (its TxnOffsetCommit) is
// open. Without this, only the coordinator's transaction timeout could
// end the wait. InitProducerID with the same transactional id makes the
// coordinator abort that transaction and bump the epoch (fencing the old
// producer, were it still alive); the session's own client then inits
// again, at a higher epoch, at its first transaction.
//
// It returns how long the fence took.
func (p *Processor) fence(ctx context.Context) (time.Duration, error) {
	cfg := &p.cfg
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...),
		kgo.TransactionalID(cfg.TransactionalID), kgo.TransactionTimeout(cfg.TransactionTimeout))
	if err != nil {
		return 0, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	// The coordinator answers CONCURRENT_TRANSACTIONS (retried by the
	// client) until the abort's markers are written: a broker that is
	// loading its transaction log takes a while.
	fctx, cancel := context.WithTimeout(ctx, fenceTimeout(cfg.TransactionTimeout))
	defer cancel()
	id, epoch, err := cl.ProducerID(fctx)
	if err != nil {
		return time.Since(start), fmt.Errorf("fence transactional id %s: %w", cfg.TransactionalID, err)
	}
	took := time.Since(start)
	p.log.Info("fenced the previous incarnation of this transactional id", "transactional_id", cfg.TransactionalID,
		"producer_id", id, "epoch", epoch, "took", took.Round(time.Millisecond))
	return took, nil
}

// fenceTimeout bounds a fence: the coordinator aborts a timed-out
// transaction by itself after the transaction timeout, so waiting much
// longer than that means something else is wrong.
func fenceTimeout(txn time.Duration) time.Duration {
	return max(30*time.Second, 2*txn)
}

// leave takes the replica's static membership out of the group on a clean
// shutdown. Processors join with the transactional id as their group
// instance id, so a restarted replica (SIGKILLed, crashed, its session
// restarted) takes its place in the group at once instead of waiting out
// the dead member's session; a static member's client does not leave on
// close, so a replica that stops for good says so here and the group
// hands its partitions to the others without waiting the session out.
func (p *Processor) leave() {
	cfg := &p.cfg
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).LeaveGroup(ctx, kadm.LeaveGroup(cfg.Group).InstanceIDs(cfg.TransactionalID).Reason("processor shutting down"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !errors.Is(err, kerr.UnknownMemberID) {
		p.log.Warn("leaving the group at shutdown failed; the group waits out the session", "group", cfg.Group, "instance_id", cfg.TransactionalID, "err", err)
	}
}
