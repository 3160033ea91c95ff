package kafkatest

import (
	"context"
	"github.com/ovation-live/ovation/internal/scripttest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTopicNameIsValidAndUnique(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	t.Run("sub test/with spaces & ünïcode", func(t *testing.T) {
		a, b := TopicName(t), TopicName(t)
		if !valid.MatchString(a) {
			t.Errorf("TopicName = %q, not a valid Kafka topic name", a)
		}
		if !strings.HasPrefix(a, "test-TestTopicNameIsValidAndUnique-sub_test-with_spaces") {
			t.Errorf("TopicName = %q, does not name the test", a)
		}
		if a == b {
			t.Errorf("two calls returned the same name %q", a)
		}
	})
}

func TestRepoRootFindsScript(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot = %q: %v", root, err)
	}
	// An unknown command must fail loudly, with the reason on stderr.
	_, err = scripttest.Run(10*time.Second, filepath.Join(root, "deployments", "kafka", "kafka.sh"), "no-such-command")
	if err == nil || !strings.Contains(err.Error(), "unknown command no-such-command") {
		t.Errorf("kafka.sh no-such-command: err = %v; want an error naming the command", err)
	}
}

// produceSeq produces values "from".."to-1" keyed by their number modulo
// keys, synchronously, and fails the test on any error.
func produceSeq(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, from, to, keys int) {
	t.Helper()
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{
			Topic: topic,
			Key:   []byte("k" + strconv.Itoa(i%keys)),
			Value: []byte(strconv.Itoa(i)),
		})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d..%d: %v", from, to, err)
	}
}

// consumeAll reads topic from the start until want records arrived or ctx
// ends, and returns them in the order the client delivered them.
func consumeAll(ctx context.Context, t *testing.T, brokers []string, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := Client(t, brokers, append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), want, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Logf("fetch %s/%d: %v", topic, p, err)
		})
		got = append(got, fs.Records()...)
	}
	// Nothing beyond what was produced: poll briefly for strays.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	got = append(got, cl.PollFetches(short).Records()...)
	return got
}

func TestProduceConsumeRealBroker(t *testing.T) {
	brokers := Brokers(t)
	topic := Topic(t, brokers, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const n = 1000
	producer := Client(t, brokers, kgo.RequiredAcks(kgo.AllISRAcks()))
	produceSeq(ctx, t, producer, topic, 0, n, 7)

	got := consumeAll(ctx, t, brokers, topic, n)
	if len(got) != n {
		t.Fatalf("consumed %d records, want exactly %d", len(got), n)
	}
	for i, r := range got {
		if string(r.Value) != strconv.Itoa(i) || r.Offset != int64(i) || string(r.Key) != "k"+strconv.Itoa(i%7) {
			t.Fatalf("record %d: key %q value %q offset %d; want key k%d value %d offset %d",
				i, r.Key, r.Value, r.Offset, i%7, i, i)
		}
	}
}

// TestTransactionsReadCommitted checks that the broker's transactions work
// with franz-go the way the processors use them: a read_committed consumer
// sees committed records only, once each.
func TestTransactionsReadCommitted(t *testing.T) {
	brokers := Brokers(t)
	topic := Topic(t, brokers, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cl := Client(t, brokers,
		kgo.TransactionalID("kafkatest-"+TopicName(t)),
		kgo.TransactionTimeout(10*time.Second),
		kgo.DefaultProduceTopic(topic))
	txn := func(commit bool, from, to int) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			cl.Produce(ctx, &kgo.Record{Key: []byte{byte(i % 2)}, Value: []byte(strconv.Itoa(i))}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit=%v): %v", commit, err)
		}
	}
	txn(true, 0, 100)
	txn(false, 100, 200) // aborted: must never be read
	txn(true, 200, 300)

	got := consumeAll(ctx, t, brokers, topic, 200, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]bool{}
	for _, r := range got {
		v, _ := strconv.Atoi(string(r.Value))
		if v >= 100 && v < 200 {
			t.Errorf("read aborted record %d", v)
		}
		if seen[string(r.Value)] {
			t.Errorf("record %s read twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	if len(got) != 200 {
		t.Errorf("read %d committed records, want 200", len(got))
	}
}

// TestClusterSurvivesBrokerLoss kills one of three brokers in the middle of
// an acks=all stream: every acknowledged record must be read back exactly
// once and in order per partition, and the broker must rejoin.
func TestClusterSurvivesBrokerLoss(t *testing.T) {
	c := NewCluster(t, 3)
	brokers := c.Brokers()
	if len(brokers) != 3 {
		t.Fatalf("Brokers() = %v, want 3", brokers)
	}
	topic := Topic(t, brokers, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	producer := Client(t, brokers,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(90*time.Second))
	produceSeq(ctx, t, producer, topic, 0, 500, 30)

	c.Kill(1)
	start := time.Now()
	produceSeq(ctx, t, producer, topic, 500, 1000, 30)
	t.Logf("500 acks=all records with broker 1 down took %v", time.Since(start).Round(time.Millisecond))

	got := consumeAll(ctx, t, brokers, topic, 1000)
	checkExactlyOnceInOrder(t, got, 1000)

	c.Start(1)
	produceSeq(ctx, t, producer, topic, 1000, 1100, 30)
	got = consumeAll(ctx, t, brokers, topic, 1100)
	checkExactlyOnceInOrder(t, got, 1100)
}

func checkExactlyOnceInOrder(t *testing.T, got []*kgo.Record, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("consumed %d records, want exactly %d", len(got), n)
	}
	seen := make([]bool, n)
	last := map[int32]int{}
	for _, r := range got {
		v, err := strconv.Atoi(string(r.Value))
		if err != nil || v < 0 || v >= n {
			t.Fatalf("unexpected record value %q", r.Value)
		}
		if seen[v] {
			t.Fatalf("record %d consumed twice", v)
		}
		seen[v] = true
		if prev, ok := last[r.Partition]; ok && v <= prev {
			t.Fatalf("partition %d: record %d after %d", r.Partition, v, prev)
		}
		last[r.Partition] = v
	}
}

func TestClusterSkipsWithoutOptIn(t *testing.T) {
	if FaultEnabled() {
		t.Skip("fault tests enabled; the skip path is not taken")
	}
	ran := false
	ok := t.Run("inner", func(t *testing.T) {
		defer func() { ran = true }()
		NewCluster(t, 3)
		t.Error("NewCluster returned without OVATION_KAFKA_FAULT=1")
	})
	if !ok || !ran {
		t.Errorf("inner test failed or did not run: ok=%v ran=%v", ok, ran)
	}
}
