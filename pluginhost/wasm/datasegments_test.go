package wasm_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// Merging the data segments of a Go guest leaves its initial memory
// exactly as it was, with far fewer segments.
func TestCoalesceDataKeepsMemory(t *testing.T) {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(guestCacheDir(t), "compiled"))
	if err != nil {
		t.Fatal(err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer func() { _ = r.Close(ctx) }()
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	host := r.NewHostModuleBuilder("taylordash")
	for _, name := range []string{"input_read", "output_write", "result_read"} {
		host.NewFunctionBuilder().WithFunc(func(uint32, uint32) uint32 { return 0 }).Export(name)
	}
	host.NewFunctionBuilder().WithFunc(func(int32, uint32, uint32) {}).Export("log")
	host.NewFunctionBuilder().WithFunc(func() uint64 { return 0 }).Export("config_get")
	for _, name := range []string{"projects_list", "projects_get", "projects_create"} {
		host.NewFunctionBuilder().WithFunc(func(uint32, uint32) uint64 { return 0 }).Export(name)
	}
	host.NewFunctionBuilder().WithFunc(func(uint32, uint32, uint32, uint32) uint64 { return 0 }).Export("projects_update")
	if _, err := host.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	memory := func(mod []byte) []byte {
		t.Helper()
		m, err := r.InstantiateWithConfig(ctx, mod, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = m.Close(ctx) }()
		b, _ := m.Memory().Read(0, m.Memory().Size())
		return bytes.Clone(b)
	}
	for _, guest := range []string{"noop", "echo"} {
		orig := guestWasm(t, guest)
		merged := wasm.CoalesceData(orig)
		if bytes.Equal(orig, merged) {
			t.Fatalf("%s: nothing merged", guest)
		}
		if !bytes.Equal(memory(orig), memory(merged)) {
			t.Errorf("%s: the merged module's initial memory differs", guest)
		}
		t.Logf("%s: %d bytes, merged %d bytes", guest, len(orig), len(merged))
	}

	// a module of another form is left alone
	hello := helloModule().encode()
	if !bytes.Equal(wasm.CoalesceData(hello), hello) {
		t.Error("a module with one segment was rewritten")
	}
	twoOverlapping := helloModule()
	twoOverlapping.data = append(twoOverlapping.data, [2]any{20, []byte("x")})
	if b := twoOverlapping.encode(); !bytes.Equal(wasm.CoalesceData(b), b) {
		t.Error("overlapping segments were merged")
	}
	twoApart := helloModule()
	twoApart.data = append(twoApart.data, [2]any{100, []byte("later")})
	merged := wasm.CoalesceData(twoApart.encode())
	if bytes.Equal(merged, twoApart.encode()) || !bytes.Equal(memory(merged), memory(twoApart.encode())) {
		t.Error("two segments 69 bytes apart were not merged faithfully")
	}
}
