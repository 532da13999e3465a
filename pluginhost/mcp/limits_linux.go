package mcp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// limitsSupported tells whether [ProcessLimits] are applied on this system.
const limitsSupported = true

// applyLimits sets the resource limits of the process pid with
// prlimit(2), soft and hard alike. Limits of zero are left as inherited.
func applyLimits(pid int, l ProcessLimits) error {
	for _, lim := range []struct {
		name     string
		resource int
		value    uint64
	}{
		{"address_space_bytes", unix.RLIMIT_AS, l.AddressSpaceBytes},
		{"cpu_seconds", unix.RLIMIT_CPU, l.CPUSeconds},
		{"open_files", unix.RLIMIT_NOFILE, l.OpenFiles},
	} {
		if lim.value == 0 {
			continue
		}
		rl := unix.Rlimit{Cur: lim.value, Max: lim.value}
		if err := unix.Prlimit(pid, lim.resource, &rl, nil); err != nil {
			return fmt.Errorf("mcp: prlimit %s=%d on pid %d: %w", lim.name, lim.value, pid, err)
		}
	}
	return nil
}
