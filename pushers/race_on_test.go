//go:build race

package pushers

// raceDetector is true in -race builds, whose RSS is mostly the race
// detector's shadow memory, which is never returned.
const raceDetector = true
