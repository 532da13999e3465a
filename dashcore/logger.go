package dashcore

import (
	"io"
	"log/slog"

	"go.uber.org/fx/fxevent"
)

// NewLogger returns the process logger: JSON or text on w, at cfg.Level.
func NewLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// loggerFromEnv reads the LOG_ variables leniently: a bad value falls back
// to the default here and is reported by the strict config load, so that
// the logger (and fx's event log through it) exists even when the
// configuration is wrong.
func loggerFromEnv(env Environment, w io.Writer) *slog.Logger {
	cfg := DefaultConfig().Log
	if v, ok := env.Lookup(EnvPrefix + "LOG_FORMAT"); ok && (v == "json" || v == "text") {
		cfg.Format = v
	}
	if v, ok := env.Lookup(EnvPrefix + "LOG_LEVEL"); ok {
		var lvl slog.Level
		if lvl.UnmarshalText([]byte(v)) == nil {
			cfg.Level = lvl
		}
	}
	return NewLogger(cfg, w)
}

// newFxLogger routes fx's own events to log: lifecycle events at debug
// level, failures at errorLevel.
func newFxLogger(log *slog.Logger, errorLevel slog.Level) fxevent.Logger {
	l := &fxevent.SlogLogger{Logger: log.With(slog.String("component", "fx"))}
	l.UseLogLevel(slog.LevelDebug)
	l.UseErrorLevel(errorLevel)
	return l
}
