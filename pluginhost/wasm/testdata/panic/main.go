// Command panic is a hostile test plugin whose td_panic panics.
package main

import "github.com/taylordash/taylordash/pluginhost/sdk"

//go:wasmexport td_panic
func panicking(int32) int32 {
	var m map[string]int
	m["boom"] = 1 // assignment to entry in nil map
	return 0
}

//go:wasmexport td_ping
func ping(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) { return []byte("pong"), nil })
}

func main() {}
