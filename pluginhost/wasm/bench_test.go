package wasm_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

func benchRuntime(b *testing.B) *wasm.Runtime {
	b.Helper()
	ctx := context.Background()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{CacheDir: guestCacheDir(b) + "/compiled"}, wasm.Options{Logger: discard()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close(ctx) })
	return rt
}

func benchPlugin(b *testing.B, rt *wasm.Runtime, guest string, wasmBytes []byte) *wasm.Plugin {
	b.Helper()
	if wasmBytes == nil {
		wasmBytes = guestWasm(b, guest)
	}
	p, err := rt.Load(context.Background(), wasm.PluginSpec{ID: guest + "-bench", Wasm: wasmBytes})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkNoopCall is the whole cost of a call through the runtime: pool,
// deadline, call state, the guest's td_noop (a Go function returning 0),
// metrics off.
func BenchmarkNoopCall(b *testing.B) {
	p := benchPlugin(b, benchRuntime(b), "noop", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Call(ctx, "td_noop", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoopCallParallel runs no-op calls from GOMAXPROCS goroutines
// (the pool has 4 instances).
func BenchmarkNoopCallParallel(b *testing.B) {
	p := benchPlugin(b, benchRuntime(b), "noop", nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Call(ctx, "td_noop", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNoopWazero is the baseline: the same export called directly on
// one wazero instance, without the runtime (no pool, no call state), with
// and without a deadline (a deadline makes wazero watch the context).
func BenchmarkNoopWazero(b *testing.B) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithMemoryLimitPages(256))
	defer func() { _ = r.Close(ctx) }()
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	// the guest imports input_read and output_write: stub them
	if _, err := r.NewHostModuleBuilder("taylordash").
		NewFunctionBuilder().WithFunc(func(uint32, uint32) uint32 { return 0 }).Export("input_read").
		NewFunctionBuilder().WithFunc(func(uint32, uint32) uint32 { return 0 }).Export("output_write").
		Instantiate(ctx); err != nil {
		b.Fatal(err)
	}
	mod, err := r.InstantiateWithConfig(ctx, guestWasm(b, "noop"), wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		b.Fatal(err)
	}
	fn := mod.ExportedFunction("td_noop")
	b.Run("no deadline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fn.Call(ctx, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("deadline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			if _, err := fn.Call(cctx, 0); err != nil {
				b.Fatal(err)
			}
			cancel()
		}
	})
}

// BenchmarkEchoCall passes 1 KiB in and out.
func BenchmarkEchoCall(b *testing.B) {
	p := benchPlugin(b, benchRuntime(b), "echo", nil)
	ctx := context.Background()
	in := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := p.Call(ctx, "td_echo", in)
		if err != nil || len(out) != len(in) {
			b.Fatal(len(out), err)
		}
	}
}

// BenchmarkInstantiateFromCache starts an instance from the compiled
// module: for a Go guest (the wasm instantiation plus _initialize, which
// starts the Go runtime and runs the init functions), for the same module
// without _initialize (wazero's share), and for a tiny hand-written
// module.
func BenchmarkInstantiateFromCache(b *testing.B) {
	rt := benchRuntime(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		p    *wasm.Plugin
	}{
		{"go guest", benchPlugin(b, rt, "noop", nil)},
		{"hand-written module", benchPlugin(b, rt, "hello", helloModule().encode())},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				closeInstance, err := tc.p.StartInstance(ctx)
				if err != nil {
					b.Fatal(err)
				}
				closeInstance()
			}
		})
	}
	noop := benchPlugin(b, rt, "noop-raw", guestWasm(b, "noop"))
	b.Run("go guest without _initialize", func(b *testing.B) {
		for b.Loop() {
			closeInstance, err := noop.StartInstanceWithoutInit(ctx)
			if err != nil {
				b.Fatal(err)
			}
			closeInstance()
		}
	})
}

// BenchmarkLoadFromDiskCache is a restart: a new runtime loads a Go guest
// whose machine code is in the disk cache (and starts its warm instance).
func BenchmarkLoadFromDiskCache(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	mod := guestWasm(b, "noop")
	load := func() {
		rt, err := wasm.NewRuntime(ctx, wasm.Config{CacheDir: dir}, wasm.Options{Logger: discard()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rt.Load(ctx, wasm.PluginSpec{ID: "noop", Wasm: mod}); err != nil {
			b.Fatal(err)
		}
		_ = rt.Close(ctx)
	}
	load() // fill the cache
	for b.Loop() {
		load()
	}
}
