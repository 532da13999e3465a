// Command noop is a test plugin whose td_noop does nothing: the cost of a
// call through the host.
package main

import "github.com/taylordash/taylordash/pluginhost/sdk"

//go:wasmexport td_noop
func noop(int32) int32 { return sdk.ResultOK }

func main() {}
