package main

import (
	"context"
	"fmt"
	"io"
)

func runReplay(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "ovation replay: not yet available in this build (tracked in issue #6); ovation dev runs what exists")
	return errUsage
}
