package region

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnDiagnosis describes, for a failed drill, what Kafka at brokers holds
// open: what kafka-transactions.sh list/describe and find-hanging would
// show (every transactional id's state; producers with a transaction open
// on a partition whose coordinator does not know it as ongoing), and
// whether group's offsets are stable. A failback that stalls leaves this
// in the test's output, so the next failure is diagnosable.
func txnDiagnosis(brokers, group string) string {
	var b strings.Builder
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := time.Now().UnixMilli()
	ongoing := map[int64]bool{}
	txns, err := adm.DescribeTransactions(ctx)
	if err != nil {
		fmt.Fprintf(&b, "describe transactions: %v\n", err)
	}
	for _, d := range txns.Sorted() {
		age := ""
		if d.StartTimestamp > 0 {
			age = fmt.Sprintf(" started %s ago", time.Duration(now-d.StartTimestamp)*time.Millisecond)
		}
		fmt.Fprintf(&b, "transaction %s: %s producer %d epoch %d timeout %dms%s partitions %v err %v\n",
			d.TxnID, d.State, d.ProducerID, d.ProducerEpoch, d.TimeoutMillis, age, d.Topics, d.Err)
		if d.State == "Ongoing" || strings.HasPrefix(d.State, "Prepare") {
			ongoing[d.ProducerID] = true
		}
	}
	producers, err := adm.DescribeProducers(ctx, nil)
	if err != nil {
		fmt.Fprintf(&b, "describe producers: %v\n", err)
	}
	producers.EachPartition(func(p kadm.DescribedProducersPartition) {
		for _, pr := range p.ActiveProducers.Sorted() {
			if pr.CurrentTxnStartOffset < 0 {
				continue
			}
			hanging := ""
			if !ongoing[pr.ProducerID] {
				hanging = " HANGING (its coordinator has no open transaction for it)"
			}
			fmt.Fprintf(&b, "open transaction on %s[%d] from offset %d: producer %d epoch %d, last write %s ago%s\n",
				pr.Topic, pr.Partition, pr.CurrentTxnStartOffset, pr.ProducerID, pr.ProducerEpoch,
				time.Duration(now-pr.LastTimestamp)*time.Millisecond, hanging)
		}
	})
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.RequireStable = true
	resp, err := req.RequestWith(ctx, cl)
	switch {
	case err != nil:
		fmt.Fprintf(&b, "group %s offsets: %v\n", group, err)
	case resp.ErrorCode != 0:
		fmt.Fprintf(&b, "group %s offsets: %v\n", group, kerr.ErrorForCode(resp.ErrorCode))
	default:
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					fmt.Fprintf(&b, "group %s offset of %s[%d]: %v\n", group, t.Topic, p.Partition, err)
				}
			}
		}
	}
	return b.String()
}

// brokerLogLines are the lines of a Kafka server log worth reading after
// a stalled failback: warnings, errors and what the transaction and group
// coordinators did.
var brokerLogLines = regexp.MustCompile(`WARN|ERROR|Transaction|transaction|GroupCoordinator|ProducerState|Loaded|Completed load|Fenc|fenc|abort|Abort`)

// brokerLogTail returns the last n interesting lines of the log at path.
func brokerLogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if brokerLogLines.MatchString(l) {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}
