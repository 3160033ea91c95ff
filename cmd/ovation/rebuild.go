package main

import (
	"context"
	"fmt"
	"io"
)

// replayIntoEpoch runs `ovation replay --into epoch`: rebuild rooms' state
// from the events topic into a fresh processor epoch.
func replayIntoEpoch(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "ovation replay --into epoch: not yet available in this build (tracked in issue #6)")
	return errUsage
}
