package deployments

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the repository root: this package is deployments/.
const repoRoot = ".."

// binary builds the ovation binary once per test process. The directory is
// removed by TestMain.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ovation-deployments-test-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "ovation")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"build", "-o", out}
	if raceBuild {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/ovation")...)
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ovation: %v\n%s", err, b)
	}
	return out, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func ovationBinary(t testing.TB) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runHelp runs `ovation args... --help` and returns what it printed.
func runHelp(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ovationBinary(t), append(slices.Clone(args), "--help")...)
	// No OVATION_* variable of the test's environment may change what a
	// role prints or does.
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// cleanEnv is the test's environment without OVATION_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OVATION_") {
			env = append(env, kv)
		}
	}
	return env
}

var (
	commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s{2,}\S`)
	flagLine    = regexp.MustCompile(`^  -{1,2}([A-Za-z0-9][A-Za-z0-9._-]*)`)
)

// subcommandCache holds the parsed `ovation --help`, read once per test
// process (a -race binary takes about a second to start on a busy machine).
var subcommandCache sync.Map // "" → map[string]bool

// subcommands parses the command list of `ovation --help`.
func subcommands(t testing.TB) map[string]bool {
	t.Helper()
	if v, ok := subcommandCache.Load(""); ok {
		return v.(map[string]bool)
	}
	out, err := runHelp(t)
	if err != nil {
		t.Fatalf("ovation --help: %v\n%s", err, out)
	}
	cmds := map[string]bool{}
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Commands:"):
			in = true
		case in && strings.TrimSpace(line) == "":
			in = len(cmds) == 0
		case in:
			if m := commandLine.FindStringSubmatch(line); m != nil {
				cmds[m[1]] = true
			}
		}
	}
	if len(cmds) < 5 {
		t.Fatalf("ovation --help lists %d commands (%v); the parser no longer matches its format:\n%s", len(cmds), keys(cmds), out)
	}
	subcommandCache.Store("", cmds)
	return cmds
}

// flagCache holds each subcommand's flags, parsed once per test process.
var flagCache sync.Map // string → flagSet

type flagSet struct {
	flags map[string]bool
	err   error
}

// flagsOf returns the flags `ovation path... --help` lists (Go's flag
// package prints each as "  -name type"). A subcommand that lists no
// flags is an error: it is a stub, or its --help format changed.
func flagsOf(t testing.TB, path ...string) (map[string]bool, error) {
	t.Helper()
	key := strings.Join(path, " ")
	if v, ok := flagCache.Load(key); ok {
		fs := v.(flagSet)
		return fs.flags, fs.err
	}
	out, runErr := runHelp(t, path...)
	flags := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := flagLine.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = true
		}
	}
	var err error
	if len(flags) == 0 {
		err = fmt.Errorf("`ovation %s --help` lists no flags (exit: %v); is the role wired? It printed:\n%s", key, runErr, strings.TrimSpace(out))
	}
	flagCache.Store(key, flagSet{flags, err})
	return flags, err
}

// envToFlag maps OVATION_KAFKA_BROKERS to kafka-brokers, as ff does.
func envToFlag(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "OVATION_")), "_", "-")
}

// invocation is one way a manifest runs the binary: the arguments after
// the binary, and the environment variables it sets.
type invocation struct {
	where string   // "compose service push-1", "k8s Deployment/ovation-push container push"
	args  []string // e.g. ["topics", "create", "--partitions", "12"]
	env   []string // variable names
}

// path is what selects the flag set: the subcommand, the action of
// `topics`, or the mode of `replay` ("replay --into epoch" has other flags
// than "replay --into clickhouse").
func (iv invocation) path() []string {
	if len(iv.args) == 0 || strings.HasPrefix(iv.args[0], "-") {
		return nil
	}
	switch iv.args[0] {
	case "topics":
		if len(iv.args) > 1 && !strings.HasPrefix(iv.args[1], "-") {
			return slices.Clone(iv.args[:2])
		}
	case "replay":
		for i, a := range iv.args {
			if a == "--into" && i+1 < len(iv.args) {
				return []string{"replay", "--into", iv.args[i+1]}
			}
			if v, ok := strings.CutPrefix(a, "--into="); ok {
				return []string{"replay", "--into", v}
			}
		}
	}
	return slices.Clone(iv.args[:1])
}

// checkInvocation reports every subcommand, flag or OVATION_* variable in
// iv that the binary does not have.
func checkInvocation(t *testing.T, iv invocation) {
	t.Helper()
	path := iv.path()
	if len(path) == 0 {
		t.Errorf("%s: runs ovation without a subcommand (args %q)", iv.where, iv.args)
		return
	}
	if !subcommands(t)[path[0]] {
		t.Errorf("%s: %q is not an ovation subcommand (have %v)", iv.where, path[0], keys(subcommands(t)))
		return
	}
	flags, err := flagsOf(t, path...)
	if err != nil {
		t.Errorf("%s: %v", iv.where, err)
		return
	}
	for _, a := range iv.args[1:] {
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value, or the action of topics
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "into" && path[0] == "replay" {
			continue // the mode, part of the path
		}
		if !flags[name] {
			t.Errorf("%s: `ovation %s` has no flag --%s", iv.where, strings.Join(path, " "), name)
		}
	}
	for _, e := range iv.env {
		if !strings.HasPrefix(e, "OVATION_") {
			continue
		}
		if !flags[envToFlag(e)] {
			t.Errorf("%s: %s sets nothing: `ovation %s` has no flag --%s", iv.where, e, strings.Join(path, " "), envToFlag(e))
		}
	}
}

// flagDefault returns the default `ovation path... --help` prints for
// --name, so that tests reason with the binary's defaults, not copies.
func flagDefault(t testing.TB, name string, path ...string) string {
	t.Helper()
	out, _ := runHelp(t, path...)
	re := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(name) + `\b.*\n\s+.*\(default "?([^")]*)"?\)$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ovation %s --help shows no default for --%s", strings.Join(path, " "), name)
	}
	return m[1]
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestHelpParsers checks the --help parsers on the binary itself, so a
// format change fails here with a clear message rather than as a flood of
// "no such flag" errors.
func TestHelpParsers(t *testing.T) {
	cmds := subcommands(t)
	for _, want := range []string{"dev", "ingest", "process", "push", "sink", "replay", "topics"} {
		if !cmds[want] {
			t.Errorf("ovation --help does not list %q: %v", want, keys(cmds))
		}
	}
	flags, err := flagsOf(t, "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kafka-brokers", "http-addr", "kafka-listen", "data-dir", "log-format"} {
		if !flags[want] {
			t.Errorf("ovation dev --help: flag --%s not found in %v", want, keys(flags))
		}
	}
	if got := flagDefault(t, "partitions", "dev"); got != "4" {
		t.Errorf("flagDefault(dev --partitions) = %q", got)
	}
	if flags["no-such-flag"] {
		t.Error("parser invents flags")
	}
	if got := envToFlag("OVATION_TOPIC_EVENTS"); got != "topic-events" {
		t.Errorf("envToFlag = %q", got)
	}
	for args, want := range map[string]string{
		"topics create --partitions 3":       "topics create",
		"replay --from-time 2h --into epoch": "replay --into epoch",
		"replay --into=clickhouse":           "replay --into clickhouse",
		"push --drain-window 1s":             "push",
		"--help":                             "",
	} {
		if got := strings.Join(invocation{args: strings.Fields(args)}.path(), " "); got != want {
			t.Errorf("path of %q = %q; want %q", args, got, want)
		}
	}
}
