//go:build !race

package processors

// raceSlowdown: see race_on_test.go.
const raceSlowdown = 1
