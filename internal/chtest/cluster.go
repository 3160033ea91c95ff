package chtest

import (
	"crypto/rand"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/scripttest"
)

// ClusterName is the cluster deployments/clickhouse/cluster.sh configures.
const ClusterName = "ovation"

// ClusterNodes are the nodes of that cluster: shard 1 and shard 2, two
// replicas each.
var ClusterNodes = []string{"s1r1", "s1r2", "s2r1", "s2r2"}

// Cluster is a private ClickHouse cluster (2 shards x 2 replicas and a
// ZooKeeper) started for one test with deployments/clickhouse/cluster.sh.
// Its methods may be called from any goroutine; t.Cleanup stops it.
type Cluster struct {
	t      testing.TB
	script string
	dir    string
	addrs  []string

	mu       sync.Mutex
	finished bool
}

// StartCluster starts a private cluster and stops it when the test ends. It
// skips unless OVATION_CLICKHOUSE_FAULT=1, like Start.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	if !FaultEnabled() {
		t.Skip(EnvFault + "=1 not set: cluster tests start their own ClickHouse cluster and are opt-in")
	}
	root, err := scripttest.RepoRoot()
	if err != nil {
		t.Fatalf("chtest.StartCluster: %v", err)
	}
	c := &Cluster{t: t, script: filepath.Join(root, "deployments", "clickhouse", "cluster.sh")}
	if _, err := os.Stat("/usr/share/java/zookeeper.jar"); err != nil {
		if _, err := scripttest.Run(10*time.Minute, c.script, "install"); err != nil {
			t.Fatalf("chtest.StartCluster: %v", err)
		}
	}
	tmp := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		base, err := freeBlock(34)
		if err != nil {
			t.Fatalf("chtest.StartCluster: %v", err)
		}
		dir := filepath.Join(tmp, "attempt"+strconv.Itoa(attempt))
		start := time.Now()
		out, err := c.run(3*time.Minute, "start", dir, "--base-port", strconv.Itoa(base), "--owner", strconv.Itoa(os.Getpid()))
		if err != nil {
			lastErr = err
			_, _ = c.run(time.Minute, "stop", dir)
			continue
		}
		c.dir = dir
		c.addrs = strings.Split(strings.TrimSpace(out), ",")
		t.Logf("chtest: clickhouse cluster %v up in %v (dir %s)", c.addrs, time.Since(start).Round(10*time.Millisecond), dir)
		t.Cleanup(c.finish)
		return c
	}
	t.Fatalf("chtest.StartCluster: %v", lastErr)
	return nil
}

// Addrs returns the nodes' native-protocol addresses, in ClusterNodes order.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Dir returns the directory holding the cluster's config, data and logs.
func (c *Cluster) Dir() string { return c.dir }

// StopNode stops one node (SIGTERM) and waits until it is gone.
func (c *Cluster) StopNode(node string) {
	c.t.Helper()
	if _, err := c.run(time.Minute, "stop-node", c.dir, node); err != nil {
		c.t.Fatalf("chtest: stop %s: %v", node, err)
	}
}

// StartNode starts a stopped node again and waits until it answers.
func (c *Cluster) StartNode(node string) {
	c.t.Helper()
	if _, err := c.run(2*time.Minute, "start-node", c.dir, node); err != nil {
		c.t.Fatalf("chtest: start %s: %v", node, err)
	}
}

func (c *Cluster) finish() {
	c.mu.Lock()
	done := c.finished
	c.finished = true
	c.mu.Unlock()
	if done {
		return
	}
	if _, err := c.run(2*time.Minute, "stop", c.dir); err != nil {
		c.t.Errorf("chtest: stop cluster at cleanup: %v", err)
	}
}

func (c *Cluster) run(timeout time.Duration, args ...string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return scripttest.Run(timeout, c.script, args...)
}

// freeBlock finds n consecutive free loopback ports below the ephemeral
// range.
func freeBlock(n int) (int, error) {
	var err error
	for try := 0; try < 50; try++ {
		var v *big.Int
		v, err = rand.Int(rand.Reader, big.NewInt(11000))
		if err != nil {
			return 0, err
		}
		base := 20000 + int(v.Int64())
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, lerr := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if lerr != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, net.UnknownNetworkError("no block of free ports")
}
