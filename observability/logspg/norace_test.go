//go:build !race

package logspg_test

const raceEnabled = false
