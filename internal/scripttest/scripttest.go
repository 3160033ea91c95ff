// Package scripttest runs the repository's service scripts
// (deployments/kafka/kafka.sh, deployments/clickhouse/clickhouse.sh) from
// tests: kafkatest and chtest build on it.
package scripttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RepoRoot returns the directory holding the module's go.mod, found by
// walking up from the working directory (a package directory under go test).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Run runs script with bash and args, bounded by timeout, and returns its
// stdout; a failure carries the script's name, arguments and stderr.
func Run(timeout time.Duration, script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The scripts start daemons that inherit no pipe of ours (they log to
	// files), so Wait returns when the script does.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(script), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
