package wasm_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/taylordash/taylordash/pluginhost/wasm"
)

// Load a plugin and call one of its exports. Real plugins are Go programs
// built with the SDK (see examples/wasmplugin); this one is a tiny module
// written by hand (helloModule, in the text format in wasmbin_test.go)
// whose td_hello writes "hello from wasm" as its output.
func Example() {
	ctx := context.Background()
	rt, err := wasm.NewRuntime(ctx, wasm.Config{}, wasm.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = rt.Close(ctx) }()

	p, err := rt.Load(ctx, wasm.PluginSpec{ID: "hello", Version: "1.0.0", Wasm: helloModule().encode()})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := p.Call(ctx, "td_hello", nil)
	fmt.Printf("%s %v\n", out, err)
	fmt.Println(p.Exports(), p.MemoryPages(), p.Timeout())

	_, err = p.Call(ctx, "td_missing", nil)
	fmt.Println(err)
	// Output:
	// hello from wasm <nil>
	// [td_hello] 256 1s
	// plugin hello: td_missing: wasm: no such plugin function
}
