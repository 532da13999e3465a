package wasm

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is the size of a wasm page.
const pageSize = 65536

// memoryAllocator gives each instance a linear memory capped at the
// plugin's limit (the runtime's WithMemoryLimitPages caps all plugins at
// the host's limit; this lowers it per plugin). The whole cap is reserved
// at once, so growing never copies (the effect of
// WithMemoryCapacityFromMax): on Linux as an anonymous private mapping,
// which costs no physical memory until the guest touches it and needs no
// zeroing (a 16 MiB make would take milliseconds per instance). A refused
// growth is remembered, which tells a memory exhaustion from another trap.
type memoryAllocator struct {
	limit uint64 // bytes
	mem   *linearMemory
}

// Allocate implements experimental.MemoryAllocator.
func (a *memoryAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	limit := min(a.limit, max)
	buf, unmap := reserve(limit)
	a.mem = &linearMemory{limit: limit, buf: buf[:0], unmap: unmap}
	return a.mem
}

// linearMemory is one instance's memory.
type linearMemory struct {
	limit   uint64
	buf     []byte
	unmap   func()      // frees a mapping; nil for Go memory
	refused atomic.Bool // a growth past the limit was refused
}

// Reallocate implements experimental.LinearMemory: it grows within the
// reservation, and refuses (nil: memory.grow returns -1) past the limit.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused.Store(true)
		return nil
	}
	m.buf = m.buf[:size]
	return m.buf
}

// Free implements experimental.LinearMemory. wazero calls it when the
// module closes, which may happen (a deadline, a proc_exit) while the
// guest's call is still unwinding; the mapping is therefore released by
// release, which the instance calls once no call can run.
func (m *linearMemory) Free() {}

// release frees the memory; it must not be used afterwards.
func (m *linearMemory) release() {
	if m.unmap != nil {
		m.unmap()
		m.unmap = nil
	}
	m.buf = nil
}

// reserveGo allocates the memory on the Go heap (zeroed, which costs
// about a millisecond per 8 MiB).
func reserveGo(size uint64) ([]byte, func()) { return make([]byte, 0, size), nil }
