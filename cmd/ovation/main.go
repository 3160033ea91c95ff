// Command ovation is Ovation's one binary: `ovation dev` runs everything in
// one process on an embedded broker; the other subcommands are the
// production roles against real Kafka and ClickHouse.
//
// main only wires: flags and OVATION_* env vars → a role's Config →
// Validate → signal.NotifyContext → run. A second signal, or a shutdown
// that overruns its timeout, exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run everything in one process on an embedded Kafka-compatible broker", runDev},
		{"ingest", "serve POST /v1/rooms/{room}/events and publish into Kafka", runIngest},
		{"process", "aggregate events into room frames and snapshots, exactly once", runProcess},
		{"push", "serve the WebSocket endpoint /v1/stream to viewers", runPush},
		{"sink", "write events and frames into ClickHouse and serve the analytics API", runSink},
		{"analytics", "serve the analytics API alone (stateless, scale by count)", runAnalytics},
		{"webhooks", "deliver room events to an HTTP endpoint: signed, retried, ordered per room", runWebhooks},
		{"replay", "re-read a topic into ClickHouse or into a fresh processor epoch", runReplay},
		{"takeover", "in the surviving region, rebuild a lost region's rooms from their mirrored events", runTakeover},
		{"failback", "give a region its rooms back after a takeover: copy the takeover's events home, rebuild", runFailback},
		{"topics", "create or describe Ovation's Kafka topics", runTopics},
		{"token", "issue an HS256 token for testing (never for production secrets)", runToken},
		{"bench", "end-to-end load and latency benchmark with a baseline", runBench},
		{"version", "print the version", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Ovation (version %s): real-time audience engagement on Kafka

Usage: ovation <command> [flags]

Commands:
`, version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every flag can also be set as an environment variable: --kafka-brokers is
OVATION_KAFKA_BROKERS, --http-addr is OVATION_HTTP_ADDR, and so on. Flags win.

Start here:   ovation dev            then open http://localhost:8080
Role help:    ovation <command> --help
`)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "ovation: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one (or an overrun shutdown)
		// exits at once: the person pressing Ctrl-C twice means it.
		<-ctx.Done()
		stop()
		second := make(chan os.Signal, 1)
		signal.Notify(second, os.Interrupt, syscall.SIGTERM)
		select {
		case <-second:
			fmt.Fprintln(stderr, "ovation: second signal, exiting now")
		case <-time.After(shutdownTimeout):
			fmt.Fprintf(stderr, "ovation: shutdown took longer than %s, exiting now\n", shutdownTimeout)
		}
		os.Exit(1)
	}()

	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "ovation %s: %v\n", cmd.name, err)
		return 1
	}
}

// shutdownTimeout bounds a graceful shutdown before the process exits anyway.
// Pushers' lame-duck drain window must fit inside it.
var shutdownTimeout = 30 * time.Second

// errUsage marks an error already reported as a usage problem.
var errUsage = errors.New("usage")

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "ovation", version)
	return nil
}
