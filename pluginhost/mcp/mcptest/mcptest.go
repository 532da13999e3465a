// Package mcptest builds the MCP server the tests of package mcp and of
// the applications that use it run: pluginhost/mcp/testdata/mcptestserver,
// written with the official Go SDK. Its tools are echo, add, slow
// (sleeps, honouring cancellation), crash (exits), env (its environment),
// spawn (starts a grandchild), limits (its open-files limit), noisy
// (writes to stderr) and pid.
package mcptest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var built struct {
	sync.Mutex
	path string
}

// ServerBinary returns the path of the test server, built with go build
// on first use and kept in the user's cache directory under the hash of
// its source, go.mod, go.sum and the Go version (a later test binary
// reuses it).
func ServerBinary(t testing.TB) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.path != "" {
		return built.path
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("mcptest: cannot locate the test server's source")
	}
	src := filepath.Join(filepath.Dir(file), "..", "testdata", "mcptestserver")
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	for _, f := range []string{filepath.Join(src, "main.go"), filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("mcptest: %v", err)
		}
		h.Write(b)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "taylordash-test", "mcp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("mcptest: %v", err)
	}
	out := filepath.Join(dir, "mcptestserver-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(out); err != nil {
		tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, ".")
		cmd.Dir = src
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("mcptest: build the test server: %v: %s", err, stderr.String())
		}
		if err := os.Rename(tmp, out); err != nil {
			t.Fatalf("mcptest: %v", err)
		}
	}
	built.path = out
	return out
}
