package plugintest_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"testing"

	"github.com/taylordash/taylordash/pluginhost/plugintest"
)

// ZipFiles makes an uploadable bundle from files in memory.
func ExampleZipFiles() {
	t := &testing.T{}
	archive := plugintest.ZipFiles(t, map[string][]byte{
		"plugin.json": []byte(`{"id":"demo-plugin"}`),
		"index.html":  []byte("<p>hi</p>"),
	})
	zr, _ := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	for _, f := range zr.File {
		fmt.Println(f.Name)
	}
	// Output:
	// index.html
	// plugin.json
}
