//go:build !linux

package mcp

// limitsSupported tells whether [ProcessLimits] are applied on this system.
const limitsSupported = false

// applyLimits does nothing where prlimit(2) does not exist; the manager
// logs that the limits are ignored.
func applyLimits(int, ProcessLimits) error { return nil }
