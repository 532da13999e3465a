package testkit

import (
	"bytes"
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
