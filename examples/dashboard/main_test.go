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
	"strconv"
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
	// A free port, and a broker session of its own (a developer's dashboard
	// may be running with the default client id).
	cmd.Env = append(env, "TAYLORDASH_HTTP_ADDR=127.0.0.1:0",
		"TAYLORDASH_MQTT_CLIENT_ID=dashboard-main-test-"+strconv.Itoa(os.Getpid()), "TAYLORDASH_MQTT_CLEAN_SESSION=true")
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

	// Ready once the broker connection is up (it connects in the background).
	var status int
	var body []byte
	for deadline := time.Now().Add(15 * time.Second); status != http.StatusOK && time.Now().Before(deadline); {
		resp, err := http.Get("http://" + addr + "/health/ready")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if status = resp.StatusCode; status != http.StatusOK {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if status != http.StatusOK || !strings.Contains(string(body), `"database":"healthy"`) || !strings.Contains(string(body), `"mqtt":"healthy"`) {
		t.Fatalf("ready: %d %s", status, body)
	}

	// The API key it generated guards /api/.
	key, err := os.ReadFile(filepath.Join(cmd.Dir, ".taylordash", "api-key"))
	if err != nil {
		t.Fatalf("no generated API key: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/events", nil)
	req.Header.Set("X-API-Key", strings.TrimSpace(string(key)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1/events with the generated key: %d", resp.StatusCode)
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
