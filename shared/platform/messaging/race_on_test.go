//go:build race

package messaging_test

// raceEnabled reports that this test binary runs under the race detector.
const raceEnabled = true
