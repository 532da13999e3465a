package observability

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
)

// Redacted replaces the value of every attribute whose key names a secret.
const Redacted = "[REDACTED]"

// LogWrapperOrder places the log handler among dashcore's log handler
// wrappers: high, so that it sees records first and every other wrapper
// and sink receives them correlated and redacted.
const LogWrapperOrder = 1000

// NewLogHandler returns a handler that, for every record:
//
//   - adds trace_id and span_id (from the span in the record's context,
//     when it is valid) and request_id (dashcore.RequestID(ctx), when set);
//   - replaces with "[REDACTED]" the value of every attribute, at any group
//     depth, whose key names a secret (see [IsSecretKey]);
//   - passes the result to base and to each sink whose Enabled accepts the
//     record's level. A failing handler does not stop the others; their
//     errors are joined.
//
// A record that already has a trace_id or request_id attribute keeps its
// own. Attributes added with WithAttrs are redacted once, when added. The ids
// are added to the record, so under a handler opened with WithGroup they
// appear inside that group. Sinks that keep a record past Handle must
// Clone it, as the slog.Handler contract says.
func NewLogHandler(base slog.Handler, sinks ...slog.Handler) slog.Handler {
	hs := make([]slog.Handler, 0, 1+len(sinks))
	if base != nil {
		hs = append(hs, base)
	}
	for _, s := range sinks {
		if s != nil {
			hs = append(hs, s)
		}
	}
	return &logHandler{handlers: hs}
}

type logHandler struct {
	handlers []slog.Handler
}

// Enabled reports whether any of the handlers is enabled at level.
func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	for _, c := range h.handlers {
		if c.Enabled(ctx, level) {
			return true
		}
	}
	return false
}

// Handle correlates, redacts and fans the record out.
func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	var hasTrace, hasRequest, secret bool
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "trace_id":
			hasTrace = true
		case "request_id":
			hasRequest = true
		}
		if !secret && needsRedaction(a) {
			secret = true
		}
		return true
	})
	var out slog.Record
	if secret {
		out = slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool {
			out.AddAttrs(redactAttr(a))
			return true
		})
	} else {
		out = r.Clone() // cheap: AddAttrs below then cannot touch r's attrs
	}
	if ctx != nil {
		var ids [3]slog.Attr
		n := 0
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !hasTrace {
			ids[0] = slog.String("trace_id", sc.TraceID().String())
			ids[1] = slog.String("span_id", sc.SpanID().String())
			n = 2
		}
		if id := dashcore.RequestID(ctx); id != "" && !hasRequest {
			ids[n] = slog.String("request_id", id)
			n++
		}
		if n > 0 {
			out.AddAttrs(ids[:n]...)
		}
	}
	if len(h.handlers) == 1 {
		return h.handlers[0].Handle(ctx, out)
	}
	var errs []error
	for _, c := range h.handlers {
		if !c.Enabled(ctx, r.Level) {
			continue
		}
		if err := c.Handle(ctx, out); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// needsRedaction reports whether a, or a member of its group at any
// depth, has a secret key; a LogValuer counts, to be resolved by redact.
func needsRedaction(a slog.Attr) bool {
	if IsSecretKey(a.Key) {
		return true
	}
	switch a.Value.Kind() {
	case slog.KindGroup:
		for _, m := range a.Value.Group() {
			if needsRedaction(m) {
				return true
			}
		}
	case slog.KindLogValuer:
		return true
	}
	return false
}

// WithAttrs redacts attrs and adds them to every handler.
func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	hs := make([]slog.Handler, len(h.handlers))
	for i, c := range h.handlers {
		hs[i] = c.WithAttrs(red)
	}
	return &logHandler{handlers: hs}
}

// WithGroup opens the group in every handler.
func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	hs := make([]slog.Handler, len(h.handlers))
	for i, c := range h.handlers {
		hs[i] = c.WithGroup(name)
	}
	return &logHandler{handlers: hs}
}

// redactAttr returns a with its value redacted if its key names a secret,
// or with the members of its group redacted, recursively.
func redactAttr(a slog.Attr) slog.Attr {
	r, _ := redact(a)
	return r
}

// redact is redactAttr that also reports whether a changed.
func redact(a slog.Attr) (slog.Attr, bool) {
	if IsSecretKey(a.Key) {
		return slog.String(a.Key, Redacted), true
	}
	switch a.Value.Kind() {
	case slog.KindGroup:
		if g, changed := redactGroup(a.Key, a.Value.Group()); changed {
			return g, true
		}
		return a, false
	case slog.KindLogValuer:
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			g, _ := redactGroup(a.Key, v.Group())
			return g, true
		}
		return slog.Attr{Key: a.Key, Value: v}, true
	}
	return a, false
}

func redactGroup(key string, members []slog.Attr) (slog.Attr, bool) {
	var out []slog.Attr
	for i, m := range members {
		r, changed := redact(m)
		if changed && out == nil {
			out = make([]slog.Attr, len(members))
			copy(out, members[:i])
		}
		if out != nil {
			out[i] = r
		}
	}
	if out == nil {
		return slog.Attr{Key: key, Value: slog.GroupValue(members...)}, false
	}
	return slog.Attr{Key: key, Value: slog.GroupValue(out...)}, true
}

var secretKeys = map[string]bool{
	"authorization": true, "cookie": true, "set-cookie": true, "x-api-key": true,
	"api_key": true, "apikey": true, "password": true, "passwd": true, "secret": true,
	"token": true, "session_token": true, "client_secret": true, "bootstrap_admin_password": true,
}

// IsSecretKey reports whether an attribute key names a secret whose value
// the log handler redacts. Case does not matter. Secret keys are
// authorization, cookie, set-cookie, x-api-key, api_key, apikey, password,
// passwd, secret, token, session_token, client_secret,
// bootstrap_admin_password, and any key ending in _password, _secret or
// _token.
func IsSecretKey(key string) bool {
	if len(key) < 5 { // shortest secret key: "token"
		return false
	}
	k := strings.ToLower(key)
	return secretKeys[k] ||
		strings.HasSuffix(k, "_password") || strings.HasSuffix(k, "_secret") || strings.HasSuffix(k, "_token")
}
