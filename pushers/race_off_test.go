//go:build !race

package pushers

const raceDetector = false
