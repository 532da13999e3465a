package dashcore

import (
	"cmp"
	"io"
	"log/slog"
	"slices"

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

// LogHandlerWrapper is a module's contribution to the application logger:
// Wrap returns a handler that does something with each record (adds
// attributes, redacts, copies it to another sink) and passes it on to the
// handler it wraps. Contribute one with [AsLogHandlerWrapper]. Wrappers
// are applied sorted by Order, then Name: the lowest Order is applied
// first, so it is the innermost, nearest the output; the highest sees
// records first.
type LogHandlerWrapper struct {
	// Name identifies the wrapper and breaks ties of Order.
	Name string
	// Order places the wrapper; lower is applied first (innermost).
	Order int
	// Wrap returns h wrapped. A nil Wrap is skipped.
	Wrap func(h slog.Handler) slog.Handler
}

// WrapLogger returns log with its handler wrapped by every wrapper, in
// the order [LogHandlerWrapper] documents; log itself if there is none.
// Code that replaces the module's logger (testkit's test log) uses it to
// keep the wrappers.
func WrapLogger(log *slog.Logger, wrappers []LogHandlerWrapper) *slog.Logger {
	if len(wrappers) == 0 {
		return log
	}
	ws := slices.Clone(wrappers)
	slices.SortFunc(ws, func(a, b LogHandlerWrapper) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name))
	})
	h := log.Handler()
	for _, w := range ws {
		if w.Wrap != nil {
			h = w.Wrap(h)
		}
	}
	return slog.New(h)
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
