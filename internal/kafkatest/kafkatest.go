// Package kafkatest gives tests a real Apache Kafka: the shared broker that
// OVATION_KAFKA_BROKERS names, or a private cluster of their own started with
// deployments/kafka/kafka.sh for fault tests that kill brokers, plus
// throwaway topics. Tests that need Kafka skip when it is not configured, so
// `go test ./...` stays green on a machine without it; `make test` sets the
// variables (see deployments/test-env.sh).
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/ovation-live/ovation/internal/scripttest"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers names the environment variable holding the comma-separated
// bootstrap list of the shared test broker, e.g. "127.0.0.1:19092".
const EnvBrokers = "OVATION_KAFKA_BROKERS"

// EnvFault names the environment variable that opts in to fault tests, which
// start private clusters (a JVM per broker) and kill brokers; "1" enables them.
const EnvFault = "OVATION_KAFKA_FAULT"

// Brokers returns the shared test broker list from OVATION_KAFKA_BROKERS, or
// skips the test when the variable is unset.
func Brokers(t testing.TB) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvBrokers))
	if v == "" {
		t.Skip(EnvBrokers + " not set: start Kafka with `deployments/test-env.sh up DIR` (or `make test`) to run this test against a real broker")
	}
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// FaultEnabled reports whether OVATION_KAFKA_FAULT=1 opts in to fault tests.
func FaultEnabled() bool { return os.Getenv(EnvFault) == "1" }

// Cluster is a private Kafka cluster started for one test in a temporary
// directory. Every node is a combined broker and controller; a 3-node
// cluster has a controller quorum of 3, replication factor 3 and
// min.insync.replicas 2, so it survives the loss of any one node. Its methods
// may be called from any goroutine; the test owns the processes and
// t.Cleanup stops them.
type Cluster struct {
	t       testing.TB
	script  string
	dir     string
	brokers []string

	mu      sync.Mutex // serialises kafka.sh invocations
	stopped bool
}

// NewCluster starts a fresh cluster of n brokers (1 or 3) on free loopback
// ports and stops it when the test ends. It skips unless OVATION_KAFKA_FAULT=1,
// since each broker is a JVM that costs a couple of seconds and ~0.5 GB.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if !FaultEnabled() {
		t.Skip(EnvFault + "=1 not set: fault tests start their own Kafka cluster and are opt-in")
	}
	if n != 1 && n != 3 {
		t.Fatalf("kafkatest.NewCluster: %d brokers; want 1 or 3", n)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("kafkatest.NewCluster: %v", err)
	}
	c := &Cluster{
		t:      t,
		script: filepath.Join(root, "deployments", "kafka", "kafka.sh"),
		dir:    t.TempDir(),
	}
	// Another test (or package) may grab the same ports between the probe
	// and the broker's bind; kafka.sh then fails fast and we try elsewhere.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		base, cbase, err := freePortBlocks(n)
		if err != nil {
			t.Fatalf("kafkatest.NewCluster: %v", err)
		}
		dir := filepath.Join(c.dir, "attempt"+strconv.Itoa(attempt))
		start := time.Now()
		out, err := c.run(150*time.Second, "start", dir,
			"--brokers", strconv.Itoa(n),
			"--port", strconv.Itoa(base),
			"--controller-port", strconv.Itoa(cbase),
			"--owner", strconv.Itoa(os.Getpid()))
		if err != nil {
			lastErr = err
			_, _ = c.run(30*time.Second, "stop", dir, "--timeout", "5")
			continue
		}
		c.dir = dir
		c.brokers = strings.Split(strings.TrimSpace(out), ",")
		t.Logf("kafkatest: %d-broker cluster %s up in %v (dir %s)", n, strings.TrimSpace(out), time.Since(start).Round(10*time.Millisecond), dir)
		t.Cleanup(c.Stop)
		return c
	}
	t.Fatalf("kafkatest.NewCluster: %v", lastErr)
	return nil
}

// Brokers returns the cluster's bootstrap list; index i is broker i as
// Kill and Start number them.
func (c *Cluster) Brokers() []string { return append([]string(nil), c.brokers...) }

// Dir returns the directory holding the cluster's configuration, data and
// logs (broker-N.log), useful when a test fails.
func (c *Cluster) Dir() string { return c.dir }

// Kill sends SIGKILL to broker i (0-based, as in Brokers) and waits until it
// is gone: a crash, not a clean shutdown.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.check(i)
	if _, err := c.run(30*time.Second, "kill-broker", c.dir, strconv.Itoa(i+1)); err != nil {
		c.t.Fatalf("kafkatest: kill broker %d: %v", i, err)
	}
}

// Start restarts broker i (0-based) with its old configuration and data and
// waits until it serves again.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	c.check(i)
	if _, err := c.run(120*time.Second, "start-broker", c.dir, strconv.Itoa(i+1)); err != nil {
		c.t.Fatalf("kafkatest: start broker %d: %v", i, err)
	}
}

// Stop stops every broker of the cluster: SIGTERM, then SIGKILL after two
// seconds, since a quorum that loses all its nodes at once spends seconds
// on a graceful raft shutdown and the data goes away with the test. It is
// safe to call more than once; t.Cleanup calls it too.
func (c *Cluster) Stop() {
	c.mu.Lock()
	stopped := c.stopped
	c.stopped = true
	c.mu.Unlock()
	if stopped {
		return
	}
	if _, err := c.run(60*time.Second, "stop", c.dir, "--timeout", "2"); err != nil {
		c.t.Errorf("kafkatest: stop cluster: %v", err)
	}
}

func (c *Cluster) check(i int) {
	c.t.Helper()
	if i < 0 || i >= len(c.brokers) {
		c.t.Fatalf("kafkatest: no broker %d in a %d-broker cluster", i, len(c.brokers))
	}
}

// run invokes kafka.sh and returns its stdout; stderr is part of the error.
func (c *Cluster) run(timeout time.Duration, args ...string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return scripttest.Run(timeout, c.script, args...)
}

// RepoRoot returns the directory holding the module's go.mod.
func RepoRoot() (string, error) { return scripttest.RepoRoot() }

// freePortBlocks finds a block of n free broker ports and a block of n free
// controller ports below the kernel's ephemeral range (32768+), so that
// outgoing connections never take them between probe and bind.
func freePortBlocks(n int) (base, cbase int, err error) {
	for try := 0; try < 200; try++ {
		b := randInt(20000, 32000-2*n)
		if !portsFree(b, n) {
			continue
		}
		cb := randInt(20000, 32000-2*n)
		if (cb < b+n && b < cb+n) || !portsFree(cb, n) {
			continue
		}
		return b, cb, nil
	}
	return 0, 0, errors.New("no free loopback port block found")
}

func portsFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

func randInt(lo, hi int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo)))
	if err != nil {
		panic(err)
	}
	return lo + int(v.Int64())
}

// TopicName returns a topic name unique to this run that still tells which
// test made it: "test-<test name>-<random>", with characters Kafka does not
// allow replaced by '-'.
func TopicName(t testing.TB) string {
	var b strings.Builder
	b.WriteString("test-")
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 120 {
			break
		}
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic(err)
	}
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}

// Topic creates a uniquely named topic with the given number of partitions,
// the cluster's default replication factor and optional "key=value" topic
// configs (e.g. "cleanup.policy=compact"), waits until every partition has
// a leader, and deletes the topic when the test ends.
func Topic(t testing.TB, brokers []string, partitions int, configs ...string) string {
	t.Helper()
	name := TopicName(t)
	cfg := make(map[string]*string, len(configs))
	for _, kv := range configs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("kafkatest.Topic: config %q is not key=value", kv)
		}
		cfg[k] = &v
	}
	adm := newAdmin(t, brokers)
	defer adm.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, int32(partitions), -1, cfg, name); err != nil {
		t.Fatalf("kafkatest.Topic: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		adm := newAdmin(t, brokers)
		defer adm.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopic(ctx, name); err != nil {
			t.Logf("kafkatest.Topic: delete %s: %v", name, err)
		}
	})
	if err := waitLeaders(ctx, adm, name, partitions); err != nil {
		t.Fatalf("kafkatest.Topic: %s: %v", name, err)
	}
	return name
}

// waitLeaders polls metadata until every partition of topic has a leader:
// right after CreateTopics the brokers may not know it yet.
func waitLeaders(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			td, ok := md.Topics[topic]
			if ok && td.Err == nil && len(td.Partitions) == partitions {
				ready := true
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
				if ready {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions have no leader yet: %w (last metadata error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func newAdmin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("kafkatest: client for %v: %v", brokers, err)
	}
	return kadm.NewClient(cl)
}

// Client returns a franz-go client seeded with brokers and the given
// options, closed when the test ends.
func Client(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest.Client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}
