package dashcore

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(LogConfig{Format: "json", Level: slog.LevelWarn}, &buf).Info("hidden")
	NewLogger(LogConfig{Format: "json", Level: slog.LevelWarn}, &buf).Warn("shown", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["k"] != float64(1) {
		t.Errorf("JSON logger wrote %q (%v)", buf.String(), err)
	}

	buf.Reset()
	NewLogger(LogConfig{Format: "text"}, &buf).Info("hello", "k", "v")
	if out := buf.String(); !strings.Contains(out, "msg=hello k=v") {
		t.Errorf("text logger wrote %q", out)
	}
}

func TestLoggerFromEnvIsLenient(t *testing.T) {
	tests := []struct {
		vars      map[string]string
		json      bool
		debugSeen bool
	}{
		{map[string]string{}, true, false},
		{map[string]string{"TAYLORDASH_LOG_FORMAT": "text", "TAYLORDASH_LOG_LEVEL": "debug"}, false, true},
		// Bad values fall back to the defaults; LoadConfig reports them.
		{map[string]string{"TAYLORDASH_LOG_FORMAT": "xml", "TAYLORDASH_LOG_LEVEL": "loud"}, true, false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		log := loggerFromEnv(NewEnvironment(tt.vars), &buf)
		log.Debug("debug")
		log.Info("info")
		out := buf.String()
		if got := strings.HasPrefix(out, "{"); got != tt.json {
			t.Errorf("%v: JSON = %v, want %v: %q", tt.vars, got, tt.json, out)
		}
		if got := strings.Contains(out, "debug"); got != tt.debugSeen {
			t.Errorf("%v: debug written = %v, want %v", tt.vars, got, tt.debugSeen)
		}
	}
}
