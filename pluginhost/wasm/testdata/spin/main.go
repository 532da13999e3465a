// Command spin is a hostile test plugin whose td_spin never returns.
package main

import "github.com/taylordash/taylordash/pluginhost/sdk"

var counter int

//go:wasmexport td_spin
func spin(int32) int32 {
	for {
		counter++
	}
}

//go:wasmexport td_ping
func ping(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) { return []byte("pong"), nil })
}

func main() {}
