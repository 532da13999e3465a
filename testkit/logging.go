package testkit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// NewLogger returns a logger that writes text records into the test's log
// (shown for failed tests, or with -v). Records written after the test
// ended (from a goroutine that outlived it) are dropped rather than
// crashing the test binary. The level is debug when TAYLORDASH_TEST_LOG
// is "debug", else info.
func NewLogger(tb testing.TB) *slog.Logger {
	return testLogger(tb)
}

func testLogger(tb testing.TB) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.close)
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("TAYLORDASH_TEST_LOG"), "debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tbWriter struct {
	mu     sync.Mutex
	tb     testing.TB
	closed bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.tb.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *tbWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

// LogCapture records log output so that a test can assert on it (that an
// error was logged, that a secret was not). It is safe for the concurrent
// writes of a server. The zero value is ready to use.
type LogCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (c *LogCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// String returns everything written so far.
func (c *LogCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Logger returns a logger writing JSON records at every level into c.
func (c *LogCapture) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Records decodes the JSON records written so far (by Logger), failing
// the test on a line that is not JSON.
func (c *LogCapture) Records(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(c.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}
