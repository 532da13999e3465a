package mcp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taylordash/taylordash/pluginhost/mcp"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcptest"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// allTools are the test server's tools.
var allTools = []string{"echo", "add", "slow", "crash", "env", "pid", "spawn", "limits", "noisy"}

// stdioSpec is the test server over stdio, every tool allowed, short
// timeouts and restart delays.
func stdioSpec(t *testing.T, id string) mcp.ServerSpec {
	t.Helper()
	return mcp.ServerSpec{ID: id, Transport: mcp.TransportStdio, Command: mcptest.ServerBinary(t),
		Args: []string{"-banner", "test server " + id + " up"}, AllowedTools: allTools,
		CallTimeout: mcp.Duration(2 * time.Second),
		Restart:     mcp.RestartPolicy{Backoff: mcp.Duration(50 * time.Millisecond), MaxBackoff: mcp.Duration(200 * time.Millisecond)}}
}

// logBuffer collects log records, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bundle is a manager of some servers, its log and its status changes.
type bundle struct {
	m       *mcp.Manager
	logs    *logBuffer
	mu      sync.Mutex
	changes []mcp.StatusChange
}

func (b *bundle) statuses(id string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, c := range b.changes {
		if c.ServerID == id {
			out = append(out, c.Status)
		}
	}
	return out
}

// newManager returns a started manager of specs (no database), stopped
// when the test ends.
func newManager(t *testing.T, cfg mcp.Config, specs ...mcp.ServerSpec) *bundle {
	t.Helper()
	reg, err := mcp.NewRegistry(nil, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{logs: &logBuffer{}}
	m, err := mcp.NewManager(reg, mcp.ManagerOptions{Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnStatus: func(c mcp.StatusChange) {
			b.mu.Lock()
			b.changes = append(b.changes, c)
			b.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("manager log:\n%s", b.logs.String())
		}
	})
	b.m = m
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// structured decodes a tool result's structured content.
func structured[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return out
}

// eventually polls cond until it holds, for at most 20s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpServer runs the test server over streamable HTTP as a child
// process and returns its endpoint; it is killed when the test ends.
func httpServer(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(mcptest.ServerBinary(t), "-http", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the HTTP test server said nothing: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("unexpected first line %q", line)
	}
	return url
}
