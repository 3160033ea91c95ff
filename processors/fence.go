package processors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	if err := p.endHanging(fctx, cl, id, epoch); err != nil {
		return time.Since(start), fmt.Errorf("fence transactional id %s: %w", cfg.TransactionalID, err)
	}
	took := time.Since(start)
	p.log.Info("fenced the previous incarnation of this transactional id", "transactional_id", cfg.TransactionalID,
		"producer_id", id, "epoch", epoch, "took", took.Round(time.Millisecond))
	return took, nil
}

// endHanging ends transactions of this producer id that the partitions
// still hold open although its coordinator has closed them: after
// InitProducerID returned, the coordinator has no transaction open for
// the id, so one still open on a partition is hanging. Kafka 4.4 leaves
// them when a single broker is SIGKILLed with a transaction open and
// restarts: the coordinator times the transaction out while the restarted
// broker re-registers (leadership bounces), records it CompleteAbort, and
// the markers never reach the partitions. The group's offsets then stay
// unstable for good (its TxnOffsetCommit is pending on __consumer_offsets)
// and the output partitions' last stable offset stays put.
//
// A transaction of the same producer id, at the new epoch, that holds
// those partitions (AddPartitionsToTxn, and AddOffsetsToTxn for the group)
// and aborts makes the coordinator write abort markers there, which end
// the hanging one: no admin rights beyond what the processor has.
func (p *Processor) endHanging(ctx context.Context, cl *kgo.Client, id int64, epoch int16) error {
	cfg := &p.cfg
	t := cfg.Topics
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, t.Frames, t.Snapshots, t.Changelog, t.DLQ)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	producers, err := adm.DescribeProducers(ctx, details.TopicsSet())
	if err != nil {
		return fmt.Errorf("describe producers: %w", err)
	}
	hanging := map[string][]int32{}
	n := 0
	producers.EachPartition(func(dp kadm.DescribedProducersPartition) {
		for _, pr := range dp.ActiveProducers {
			if pr.ProducerID == id && pr.CurrentTxnStartOffset >= 0 {
				hanging[dp.Topic] = append(hanging[dp.Topic], dp.Partition)
				n++
			}
		}
	})
	unstable, err := groupOffsetsUnstable(ctx, cl, cfg.Group, t.Events)
	if err != nil {
		return fmt.Errorf("fetch the group's offsets: %w", err)
	}
	if n == 0 && !unstable {
		return nil
	}
	if n > 0 {
		p.log.Warn("ending transactions the partitions hold open although their coordinator closed them (a broker restarted with them open)",
			"transactional_id", cfg.TransactionalID, "producer_id", id, "partitions", hanging, "group_offsets_unstable", unstable)
	} else {
		// Another replica's commit in flight looks the same: the
		// empty abort below touches only this producer id's offsets.
		p.log.Info("the group's offsets are unstable at start; aborting an empty transaction over them in case the pending commit is this id's",
			"transactional_id", cfg.TransactionalID, "producer_id", id)
	}
	txnID := cfg.TransactionalID
	if n > 0 {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, id, epoch
		for topic, ps := range hanging {
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = topic, ps
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("add partitions to the ending transaction: %w", err)
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("add %s[%d] to the ending transaction: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
	}
	// The group's offsets partition too: its pending TxnOffsetCommit of
	// this producer id ends with the marker.
	oreq := kmsg.NewPtrAddOffsetsToTxnRequest()
	oreq.TransactionalID, oreq.ProducerID, oreq.ProducerEpoch, oreq.Group = txnID, id, epoch, cfg.Group
	oresp, err := oreq.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(oresp.ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("add the group's offsets to the ending transaction: %w", err)
	}
	ereq := kmsg.NewPtrEndTxnRequest()
	ereq.TransactionalID, ereq.ProducerID, ereq.ProducerEpoch, ereq.Commit = txnID, id, epoch, false
	eresp, err := ereq.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(eresp.ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("abort the ending transaction: %w", err)
	}
	return nil
}

// groupOffsetsUnstable reports whether group has a transactional offset
// commit pending for topic: a transaction holds its offsets.
func groupOffsetsUnstable(ctx context.Context, cl *kgo.Client, group, topic string) (bool, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.RequireStable = true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return false, err
	}
	for p := range details[topic].Partitions {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return false, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return errors.Is(err, kerr.UnstableOffsetCommit), nil
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if errors.Is(kerr.ErrorForCode(rp.ErrorCode), kerr.UnstableOffsetCommit) {
				return true, nil
			}
		}
	}
	return false, nil
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
