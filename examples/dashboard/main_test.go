package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunWithNoConfiguration builds the command and runs it as a user
// would, with no TAYLORDASH_ variable but a free port: it must pick a
// database by itself, say which, serve /health/ready and stop cleanly on
// SIGINT.
func TestRunWithNoConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin := filepath.Join(t.TempDir(), "dashboard")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAYLORDASH_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "TAYLORDASH_HTTP_ADDR=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var picked, addr string
	logs := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	for addr == "" && logs.Scan() {
		var rec map[string]any
		if json.Unmarshal(logs.Bytes(), &rec) != nil {
			t.Logf("log: %s", logs.Text())
			continue
		}
		msg, _ := rec["msg"].(string)
		if strings.HasPrefix(msg, "database: using") {
			picked = msg
		}
		if msg == "HTTP server listening" {
			addr, _ = rec["addr"].(string)
		}
	}
	deadline.Stop()
	if addr == "" {
		t.Fatal("the command never logged its address")
	}
	if !strings.Contains(picked, "local server") {
		t.Fatalf("picked %q, want the local server that runs on this machine", picked)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	resp, err := http.Get("http://" + addr + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"database":"healthy"`) {
		t.Fatalf("ready: %d %s", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the command did not stop within 20s of SIGINT")
	}
}
