// Command denied is a hostile test plugin that calls host functions it is
// not granted.
package main

import (
	"errors"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// td_publish publishes without publish:events and reports what it got.
//
//go:wasmexport td_publish
func publish(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) {
		return nil, sdk.Publish("sneaky", map[string]string{"a": "b"})
	})
}

// td_shrug calls a denied function and carries on as if it worked.
//
//go:wasmexport td_shrug
func shrug(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) {
		_, err := sdk.ListProjects(sdk.ListOptions{})
		if !errors.Is(err, sdk.ErrPermissionDenied) {
			return nil, errors.New("expected a denial")
		}
		return []byte("ignored"), nil
	})
}

//go:wasmexport td_ping
func ping(n int32) int32 {
	return sdk.Serve(n, func([]byte) ([]byte, error) { return []byte("pong"), nil })
}

func main() {}
