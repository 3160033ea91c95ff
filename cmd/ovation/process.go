package main

import (
	"context"
	"fmt"
	"io"
)

func runProcess(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "ovation process: not yet available in this build (tracked in issue #4); ovation dev runs what exists")
	return errUsage
}

// devProcess wires this role into `ovation dev`.
func devProcess(_ context.Context, _ *devEnv) error { return nil }
