package chtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/scripttest"
)

// TestClusterScriptWatchdog starts the 2x2 cluster with cluster.sh for an
// owner process that then exits: the watchdog stops ZooKeeper and all four
// servers by itself, and no process started for the directory is left.
func TestClusterScriptWatchdog(t *testing.T) {
	if !FaultEnabled() {
		t.Skip(EnvFault + "=1 not set: cluster tests start their own ClickHouse cluster and are opt-in")
	}
	root, err := scripttest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "deployments", "clickhouse", "cluster.sh")
	if _, err := os.Stat("/usr/share/java/zookeeper.jar"); err != nil {
		if _, err := scripttest.Run(10*time.Minute, script, "install"); err != nil {
			t.Fatal(err)
		}
	}
	owner := exec.Command("sleep", "600")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	base, err := freeBlock(34)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Cleanup(func() { scripttest.Run(time.Minute, script, "stop", dir) })
	out, err := scripttest.Run(3*time.Minute, script, "start", dir, "--base-port", strconv.Itoa(base), "--owner", strconv.Itoa(owner.Process.Pid))
	if err != nil {
		owner.Process.Kill()
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSpace(out), ","); len(got) != 4 {
		t.Fatalf("start printed %q, want 4 addresses", out)
	}
	if _, err := scripttest.Run(time.Minute, script, "status", dir); err != nil {
		t.Fatalf("status of a running cluster: %v", err)
	}
	owner.Process.Kill() // the owner (a test binary, say) dies
	owner.Wait()
	deadline := time.Now().Add(90 * time.Second)
	for {
		left := ownedProcesses(t, dir)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("90 s after the owner exited, still running for %s: %v", dir, left)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := scripttest.Run(time.Minute, script, "status", dir); err == nil {
		t.Error("status says running after the watchdog stopped the cluster")
	}
}

// ownedProcesses lists the command lines of processes that name dir.
func ownedProcesses(t *testing.T, dir string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, dir+"/") {
			if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie awaiting its parent
			}
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}
