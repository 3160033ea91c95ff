package main

import (
	"context"
	"fmt"
	"io"
)

func runSink(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "ovation sink: not yet available in this build (tracked in issue #6); ovation dev runs what exists")
	return errUsage
}

// devSink wires this role into `ovation dev`.
func devSink(_ context.Context, _ *devEnv) error { return nil }
