package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
)

func TestLogHandlerConformsToSlog(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return observability.NewLogHandler(slog.NewJSONHandler(&buf, nil))
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%v: %q", err, buf.String())
		}
		return m
	})
}

func TestLogHandlerConformsToSlogWithSinks(t *testing.T) {
	var base, sink bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		base.Reset()
		sink.Reset()
		return observability.NewLogHandler(slog.NewJSONHandler(&base, nil), slog.NewJSONHandler(&sink, nil))
	}, func(t *testing.T) map[string]any {
		if base.String() != sink.String() {
			t.Errorf("base wrote %q, sink %q", base.String(), sink.String())
		}
		var m map[string]any
		if err := json.Unmarshal(base.Bytes(), &m); err != nil {
			t.Fatalf("%v: %q", err, base.String())
		}
		return m
	})
}

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		out = append(out, m)
	}
	return out
}

func TestLogHandlerAddsIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(observability.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	ctx = dashcore.WithRequestID(ctx, "req-1")

	log.InfoContext(ctx, "with ids")
	log.Info("without")
	lines := decodeLines(t, &buf)
	if l := lines[0]; l["trace_id"] != tid.String() || l["span_id"] != sid.String() || l["request_id"] != "req-1" {
		t.Errorf("correlated line = %v", l)
	}
	if l := lines[1]; l["trace_id"] != nil || l["request_id"] != nil {
		t.Errorf("line without context carries ids: %v", l)
	}
}

func TestLogHandlerRedacts(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(observability.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("Authorization", "Bearer abc", "user", "ann")
	log.WithGroup("req").Info("request",
		slog.String("PASSWORD", "hunter2"),
		slog.String("db_password", "x"),
		slog.String("oidc_client_secret", "y"),
		slog.String("refresh_token", "z"),
		slog.String("tokens", "kept"), // not a secret key
		slog.Group("headers",
			slog.String("Cookie", "sid=1"),
			slog.String("X-Api-Key", "k"),
			slog.Group("deeper", slog.String("apikey", "k2"), slog.Int("n", 1)),
			slog.Any("set-cookie", []string{"a", "b"}),
		),
		slog.Any("secret", struct{ A int }{1}),
		slog.Any("valuer", groupValuer{}),
	)
	out := buf.String()
	for _, leaked := range []string{"abc", "hunter2", `"x"`, `"y"`, `"z"`, "sid=1", `"k"`, "k2", `"a"`, "groupsecret"} {
		if strings.Contains(out, leaked) {
			t.Errorf("log leaks %s: %s", leaked, out)
		}
	}
	for _, kept := range []string{`"user":"ann"`, `"tokens":"kept"`, `"n":1`, `"Authorization":"[REDACTED]"`, `"PASSWORD":"[REDACTED]"`, `"plain":"visible"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("log lacks %s: %s", kept, out)
		}
	}
}

// groupValuer resolves to a group holding a secret.
type groupValuer struct{}

func (groupValuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("session_token", "groupsecret"), slog.String("plain", "visible"))
}

// failingHandler fails every record, at every level.
type failingHandler struct{}

func (failingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (failingHandler) Handle(context.Context, slog.Record) error { return errors.New("sink down") }
func (h failingHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h failingHandler) WithGroup(string) slog.Handler           { return h }

func TestLogHandlerFansOut(t *testing.T) {
	var base, debugSink, warnSink bytes.Buffer
	h := observability.NewLogHandler(
		slog.NewJSONHandler(&base, &slog.HandlerOptions{Level: slog.LevelInfo}),
		failingHandler{},
		slog.NewJSONHandler(&debugSink, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&warnSink, &slog.HandlerOptions{Level: slog.LevelWarn}),
	)
	log := slog.New(h).With("password", "p")
	ctx := dashcore.WithRequestID(context.Background(), "r1")
	log.DebugContext(ctx, "debug")
	log.InfoContext(ctx, "info")
	if err := h.Handle(ctx, slog.NewRecord(time.Now(), slog.LevelWarn, "warn", 0)); err == nil || !strings.Contains(err.Error(), "sink down") {
		t.Errorf("Handle error = %v, want the failing sink's", err)
	}
	count := func(b *bytes.Buffer) int { return strings.Count(b.String(), "\n") }
	if count(&base) != 2 || count(&debugSink) != 3 || count(&warnSink) != 1 {
		t.Errorf("base %d, debug sink %d, warn sink %d lines; want 2, 3, 1:\n%s%s%s", count(&base), count(&debugSink), count(&warnSink), &base, &debugSink, &warnSink)
	}
	for _, l := range decodeLines(t, &debugSink)[:2] {
		if l["password"] != observability.Redacted || l["request_id"] != "r1" {
			t.Errorf("sink got %v, want redacted and correlated", l)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	for _, k := range []string{"authorization", "Cookie", "SET-COOKIE", "x-api-key", "api_key", "apikey", "password", "passwd",
		"secret", "token", "session_token", "client_secret", "bootstrap_admin_password", "smtp_password", "jwt_secret", "csrf_token"} {
		if !observability.IsSecretKey(k) {
			t.Errorf("IsSecretKey(%q) = false", k)
		}
	}
	for _, k := range []string{"user", "tokens", "password_hint_shown", "secretary", "id", "", "tok"} {
		if observability.IsSecretKey(k) {
			t.Errorf("IsSecretKey(%q) = true", k)
		}
	}
}
