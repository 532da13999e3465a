// Command fetch is a test plugin whose td_fetch GETs the URL it is given.
package main

import (
	"fmt"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

//go:wasmexport td_fetch
func fetch(n int32) int32 {
	return sdk.Serve(n, func(in []byte) ([]byte, error) {
		resp, err := sdk.Fetch(sdk.FetchRequest{URL: string(in), Header: map[string][]string{"Cookie": {"no"}}})
		if err != nil {
			return nil, err
		}
		return []byte(fmt.Sprintf("%d %s", resp.Status, resp.Body)), nil
	})
}

func main() {}
