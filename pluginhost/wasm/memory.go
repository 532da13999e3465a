package wasm

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is the size of a wasm page.
const pageSize = 65536

// memoryAllocator gives each instance a linear memory capped at the
// plugin's limit (the runtime's WithMemoryLimitPages caps all plugins at
// the host's limit; this lowers it per plugin). The backing array is
// allocated once at the cap, so growing never copies (the effect of
// WithMemoryCapacityFromMax), and a refused growth is remembered, which
// tells a memory exhaustion from another trap.
type memoryAllocator struct {
	limit uint64 // bytes
	mem   *linearMemory
}

// Allocate implements experimental.MemoryAllocator.
func (a *memoryAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	limit := min(a.limit, max)
	a.mem = &linearMemory{limit: limit, buf: make([]byte, 0, limit)}
	return a.mem
}

// linearMemory is one instance's memory.
type linearMemory struct {
	limit   uint64
	buf     []byte
	refused atomic.Bool // a growth past the limit was refused
}

// Reallocate implements experimental.LinearMemory: it grows within the
// capacity, and refuses (nil: memory.grow returns -1) past the limit.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused.Store(true)
		return nil
	}
	m.buf = m.buf[:size]
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() { m.buf = nil }
