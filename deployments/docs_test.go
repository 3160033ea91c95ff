package deployments

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const operationsDoc = "docs/operations.md"

// TestOperationsCommands checks every `ovation` command line in the shell
// blocks of docs/operations.md (and the Compose `run --rm token` line)
// against the binary: a runbook whose command fails at 3 a.m. is worse
// than none.
func TestOperationsCommands(t *testing.T) {
	f, err := os.Open(repoRoot + "/" + operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inShell := false
	n := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		fence := strings.TrimSpace(text) // fences may be indented in lists
		switch {
		case strings.HasPrefix(fence, "```sh"):
			inShell = true
			continue
		case strings.HasPrefix(fence, "```"):
			inShell = false
			continue
		case !inShell:
			continue
		}
		text, _, _ = strings.Cut(text, "#")
		fields := strings.Fields(text)
		var env, args []string
		for i, f := range fields {
			if k, _, ok := strings.Cut(f, "="); ok && args == nil && strings.ToUpper(k) == k && !strings.HasPrefix(f, "-") {
				env = append(env, k)
				continue
			}
			// The command itself, or after `kubectl exec ... --`.
			if f == "ovation" && (i == len(env) || fields[i-1] == "--") {
				args = fields[i+1:]
				break
			}
			if f == "--rm" && i+1 < len(fields) && fields[i+1] == "token" {
				args = fields[i+1:]
				break
			}
		}
		if args == nil {
			continue
		}
		n++
		checkInvocation(t, invocation{where: operationsDoc + ":" + strconv.Itoa(line), args: args, env: env})
	}
	if n < 5 {
		t.Errorf("found %d ovation command lines in %s; the parser no longer sees them", n, operationsDoc)
	}
}

// TestOperationsCoversAlerts checks that the runbook's alert table lists
// every alert of the rules file.
func TestOperationsCoversAlerts(t *testing.T) {
	b, err := os.ReadFile(repoRoot + "/" + operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if !strings.Contains(string(b), "| `"+r.Alert+"` |") {
				t.Errorf("%s: the alert table has no row for %s", operationsDoc, r.Alert)
			}
		}
	}
}

// TestDocsNameRealVariables checks that every OVATION_* variable named
// anywhere in docs/operations.md and docs/metrics.md is a flag of some
// subcommand (the ones the tests themselves read are exempt).
func TestDocsNameRealVariables(t *testing.T) {
	paths := [][]string{{"ingest"}, {"process"}, {"push"}, {"sink"}, {"topics", "create"},
		{"replay", "--into", "epoch"}, {"replay", "--into", "clickhouse"}, {"token"}, {"dev"}}
	exempt := map[string]bool{"OVATION_KAFKA_FAULT": true, "OVATION_CLICKHOUSE_FAULT": true}
	re := regexp.MustCompile(`\bOVATION_[A-Z0-9_]*[A-Z0-9]\b`)
	for _, doc := range []string{operationsDoc, metricsDoc} {
		b, err := os.ReadFile(repoRoot + "/" + doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range re.FindAllString(string(b), -1) {
			if exempt[v] {
				continue
			}
			found := false
			for _, p := range paths {
				if flags, err := flagsOf(t, p...); err == nil && flags[envToFlag(v)] {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s names %s, which is a flag of no subcommand", doc, v)
			}
		}
	}
}
