package main

import "context"

// devDemo serves the demo page and runs the simulated audience in `ovation dev`.
func devDemo(_ context.Context, _ *devEnv) error { return nil }
