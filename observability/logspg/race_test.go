//go:build race

package logspg_test

// raceEnabled is set when the race detector is on: it makes every call
// several times slower, so time bounds are scaled.
const raceEnabled = true
