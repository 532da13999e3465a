// Command alloc is a hostile test plugin whose td_alloc allocates without
// bound, past any memory cap.
package main

import "github.com/taylordash/taylordash/pluginhost/sdk"

var keep [][]byte

//go:wasmexport td_alloc
func alloc(int32) int32 {
	for {
		b := make([]byte, 1<<20)
		b[0] = 1
		keep = append(keep, b)
	}
}

// td_grow keeps 1 MiB more on every call: a slow leak.
//
//go:wasmexport td_grow
func grow(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) {
		b := make([]byte, 1<<20)
		b[0] = 1
		keep = append(keep, b)
		return nil, nil
	})
}

//go:wasmexport td_ping
func ping(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) { return []byte("pong"), nil })
}

func main() {}
