package main

import (
	"context"
	"fmt"
	"io"
)

func runBench(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "ovation bench: not yet available in this build (tracked in issue #8); ovation dev runs what exists")
	return errUsage
}
