package wasm

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"
)

// StartInstance starts an instance of p outside the pool (instantiation
// and _initialize), for benchmarks, and returns its close function.
func (p *Plugin) StartInstance(ctx context.Context) (func(), error) {
	inst, err := p.newInstance(ctx)
	if err != nil {
		return nil, err
	}
	return inst.close, nil
}

// StartInstanceWithoutInit instantiates p's module with its memory
// allocator but does not run _initialize, for benchmarks.
func (p *Plugin) StartInstanceWithoutInit(ctx context.Context) (func(), error) {
	alloc := &memoryAllocator{limit: uint64(p.limits.pages) * pageSize}
	mod, err := p.rt.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), p.compiled, p.modCfg.WithStartFunctions())
	if err != nil {
		return nil, err
	}
	return func() { _ = mod.Close(ctx); alloc.mem.release() }, nil
}

// CoalesceData exposes coalesceData to the tests.
var CoalesceData = coalesceData

// IdleMemoryPages returns the memory size, in pages, of an idle instance
// (0 if none is idle).
func (p *Plugin) IdleMemoryPages() uint32 {
	select {
	case inst := <-p.idle:
		defer func() { p.idle <- inst }()
		return inst.mod.Memory().Size() / pageSize
	default:
		return 0
	}
}
