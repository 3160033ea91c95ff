package main

import (
	"context"
	"fmt"
	"io"
)

func runPush(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "ovation push: not yet available in this build (tracked in issue #5); ovation dev runs what exists")
	return errUsage
}

// devPush wires this role into `ovation dev`.
func devPush(_ context.Context, _ *devEnv) error { return nil }
