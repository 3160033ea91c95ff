//go:build race

package processors

// raceSlowdown scales latency bounds of tests that measure how fast the
// processor works through a backlog: the race detector makes that Go code
// several times slower, and a neighbour's events queued behind the
// backlog in the partition's order wait for all of it.
const raceSlowdown = 4
