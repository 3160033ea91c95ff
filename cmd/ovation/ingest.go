package main

import (
	"context"
	"fmt"
	"io"
)

func runIngest(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "ovation ingest: not yet available in this build (tracked in issue #3); ovation dev runs what exists")
	return errUsage
}

// devIngest wires this role into `ovation dev`.
func devIngest(_ context.Context, _ *devEnv) error { return nil }
