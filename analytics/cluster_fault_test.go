package analytics

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestSinkClusterFaults is issue 17's must-show: three `ovation sink`
// processes share the partitions of the events and frames topics (the
// frames written by the real `ovation process`) and write the 2 shards x 2
// replicas ClickHouse cluster; every 20 s one sink is SIGKILLed and
// restarted as a new group member (so its partitions move while the
// others may still hold in-flight inserts of them), and one replica is
// stopped for 60 s. An `ovation analytics` process is asked for every
// room's summary every second of the outage and must always answer. At
// the end, per room, the API (reading the Distributed tables, frames with
// FINAL) equals the processors' final snapshots, the test's fold and the
// distinct accepted (user, id) pairs; the stopped replica catches up.
//
// About 2.5 minutes: the 60 s outage is the point, the rest is the
// production around it and the catch-up; OVATION_ANALYTICS_CH_DOWN
// shortens the outage on a slow machine.
func TestSinkClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: minutes long")
	}
	brokers := kafkatest.Brokers(t)
	cluster := chtest.StartCluster(t)
	down := faultStop(t)
	bin := buildOvation(t)
	if !processorAvailable(bin) {
		t.Skip("this build has no ovation process")
	}
	addrs := cluster.Addrs()
	events := kafkatest.Topic(t, brokers, 4)
	frames := kafkatest.Topic(t, brokers, 4)
	const db = "ovation_cluster_fault"
	proc := startProcessor(t, bin, brokers, events, frames)
	defer proc.stop()

	w := newWorkload(17, 20, 120_000, time.Now().Add(-2*time.Hour))
	t.Logf("workload: %d event records (%d invalid), %d rooms", len(w.events), w.invalid, len(w.rooms))

	common := []string{
		"--kafka-brokers", strings.Join(brokers, ","), "--topic-events", events, "--topic-frames", frames,
		"--clickhouse-addr", strings.Join(addrs, ","), "--clickhouse-database", db, "--clickhouse-cluster", chtest.ClusterName,
		"--auth-hs256-secrets", string(testSecret),
	}
	logDir := t.TempDir()
	var sinks []*sinkProc
	for i := range 3 {
		p := &sinkProc{t: t, bin: bin, logPath: filepath.Join(logDir, fmt.Sprintf("sink-%d.log", i)), args: append(append([]string(nil), common...),
			"--http-addr", freeAddr(t), "--batch-rows", "10000", "--flush-interval", "300ms", "--retry-max", "2s",
			"--sink-group", events+"-sinks", "--session-timeout", "6s", "--metadata-refresh", "5s")}
		sinks = append(sinks, p)
		defer p.kill()
	}
	apiAddr := freeAddr(t)
	api := &sinkProc{t: t, bin: bin, role: "analytics", logPath: filepath.Join(logDir, "analytics.log"),
		args: append(append([]string(nil), common...), "--http-addr", apiAddr)}
	defer api.kill()
	defer func() {
		if t.Failed() {
			for i, p := range sinks {
				t.Logf("sink %d log tail:\n%s", i, p.logTail(30))
			}
			t.Logf("analytics log tail:\n%s", api.logTail(20))
		}
	}()
	// The first sink creates the schema (ON CLUSTER) before the others
	// start, so no start races the DDL queue.
	sinks[0].start()
	waitHTTP(t, "http://"+sinks[0].args[len(common)+1]+"/readyz", 90*time.Second)
	sinks[1].start()
	sinks[2].start()
	api.start()
	base := "http://" + apiAddr
	waitHTTP(t, base+"/readyz", 30*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	cl := kafkatest.Client(t, brokers)
	produced := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(produced)
		const slices = 80
		pace := (down + 20*time.Second) / slices
		for i := range slices {
			if err := produce(cl, events, w.events[i*len(w.events)/slices:(i+1)*len(w.events)/slices]); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(pace):
			}
		}
	}()
	// Killer: every 20 s one sink (in turn) SIGKILLed, restarted 1 s later
	// as a new member.
	var kills atomic.Int64
	stopKiller := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopKiller:
				return
			case <-time.After(20 * time.Second):
			}
			p := sinks[i%len(sinks)]
			p.kill()
			kills.Add(1)
			time.Sleep(time.Second)
			p.start()
		}
	}()

	host := testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}})
	time.Sleep(5 * time.Second)
	const node = "s2r2"
	t.Logf("stopping replica %s for %v", node, down)
	cluster.StopNode(node)
	outage := time.Now()
	asked, failed := 0, 0
	var firstErr string
	for time.Since(outage) < down {
		for _, room := range []string{w.rooms[asked%len(w.rooms)]} {
			code, body := apiDo(t, base, host, "/v1/rooms/"+room+"/analytics/summary")
			asked++
			// 404 unknown_room is an answer too: early in the run a room
			// may have no rows yet.
			if code != http.StatusOK && code != http.StatusNotFound {
				failed++
				if firstErr == "" {
					firstErr = fmt.Sprintf("%d %s", code, body)
				}
			}
		}
		time.Sleep(time.Second)
	}
	cluster.StartNode(node)
	t.Logf("replica %s is back after %v; the analytics API answered %d of %d summaries meanwhile", node, time.Since(outage).Round(time.Second), asked-failed, asked)
	if failed > 0 || asked < int(down/time.Second)/2 {
		t.Errorf("analytics API during the outage: %d of %d requests failed (first: %s)", failed, asked, firstErr)
	}
	<-produced
	close(stopKiller)
	wg.Wait()
	t.Logf("sinks SIGKILLed %d times in all", kills.Load())
	if kills.Load() < 3 {
		t.Errorf("only %d kills: the run was too short to show anything", kills.Load())
	}

	proc.waitDone(t, events, 120*time.Second)
	snaps := lastSnapshots(t, brokers, proc.topics.Snapshots)
	waitCaughtUp(t, addrs[0], db, brokers, []string{events, frames}, 120*time.Second)
	checkRooms(t, base, host, w, snaps)
	if !t.Failed() {
		t.Logf("all %d rooms: API over the Distributed tables == processors' final snapshots == test fold == distinct accepted (user, id)", len(w.rooms))
	}

	// The replica that was down caught up with its shard.
	localCount := func(addr string) (n uint64) {
		err := chtest.Open(t, addr, "").QueryRow(context.Background(), "SELECT count() FROM "+db+".frames_local").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, b := localCount(addrs[2]), localCount(addrs[3])
		if a == b {
			t.Logf("shard 2 replicas agree: %d frame rows each", a)
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("shard 2 replicas differ after 60 s: s2r1 %d frame rows, s2r2 %d", a, b)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, p := range sinks {
		if err := p.stop(); err != nil {
			t.Errorf("graceful stop: %v", err)
		}
	}
}
