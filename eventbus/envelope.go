package eventbus

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
)

// Envelope is an event as it travels on the bus and is stored in the
// mirror. Its JSON keys are the original TaylorDash's (trace_id, ts, kind,
// idempotency_key, payload), so that clients written for it keep working,
// plus id, source and, when a span is active, traceparent.
type Envelope struct {
	// ID identifies this event (a UUIDv7, so ids sort by time).
	ID string `json:"id"`
	// TraceID correlates the event with the request or event that caused
	// it: a UUID or a 32-hex W3C trace id.
	TraceID string `json:"trace_id"`
	// TS is when the event happened, in UTC.
	TS time.Time `json:"ts"`
	// Kind names what happened, e.g. "project_created".
	Kind string `json:"kind"`
	// IdempotencyKey is the same for every delivery of one event; the
	// mirror stores an event once per key.
	IdempotencyKey string `json:"idempotency_key"`
	// Source names the service that published the event.
	Source string `json:"source,omitempty"`
	// Payload is the event's data, a JSON object.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Traceparent is the W3C traceparent of the publishing span, if any.
	Traceparent string `json:"traceparent,omitempty"`
}

// Reason is a bounded code saying why a message went to the dead-letter
// queue. Metrics label by it, so the set is closed.
type Reason string

// The reasons a message is dead-lettered.
const (
	ReasonNotUTF8       Reason = "not_utf8"
	ReasonNotJSON       Reason = "not_json"
	ReasonMissingField  Reason = "missing_field"
	ReasonBadTimestamp  Reason = "bad_ts"
	ReasonBadTraceID    Reason = "bad_trace_id"
	ReasonBadPayload    Reason = "bad_payload"
	ReasonOversize      Reason = "oversize"
	ReasonUnknownKind   Reason = "unknown_kind"
	ReasonHandlerFailed Reason = "handler_failed"
)

// Reasons lists every Reason, for metrics and API documentation.
var Reasons = []Reason{ReasonNotUTF8, ReasonNotJSON, ReasonMissingField, ReasonBadTimestamp,
	ReasonBadTraceID, ReasonBadPayload, ReasonOversize, ReasonUnknownKind, ReasonHandlerFailed}

// InvalidError says why raw bytes are not an acceptable envelope.
type InvalidError struct {
	// Reason is the bounded code.
	Reason Reason
	// Detail explains it for people (the field, the limit).
	Detail string
}

// Error implements error.
func (e *InvalidError) Error() string {
	return "eventbus: invalid event: " + string(e.Reason) + ": " + e.Detail
}

// DefaultMaxSize is the largest message accepted on ingest by default.
const DefaultMaxSize = 256 << 10

// ParseOptions configures Parse.
type ParseOptions struct {
	// MaxSize is the largest message accepted, in bytes; zero means
	// DefaultMaxSize.
	MaxSize int
	// Kinds, when set, is the closed set of accepted kinds (a schema
	// registry); other kinds are rejected with ReasonUnknownKind.
	Kinds map[string]bool
	// Source fills Source when the message has none.
	Source string
}

// Parse validates raw bytes received on ingest and returns the envelope.
// Only the original's four keys are required (trace_id, ts, kind,
// idempotency_key); payload is optional (it must be an object when
// present); id is filled with a new UUIDv7 and source with opts.Source
// when absent. ts must be RFC 3339 and is returned in UTC; trace_id must be
// a UUID or 32 hex characters (a W3C trace id). Errors are *InvalidError.
func Parse(raw []byte, opts ParseOptions) (Envelope, error) {
	maxSize := opts.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(raw) > maxSize {
		return Envelope{}, &InvalidError{ReasonOversize, fmt.Sprintf("%d bytes, the limit is %d", len(raw), maxSize)}
	}
	if !utf8.Valid(raw) {
		return Envelope{}, &InvalidError{ReasonNotUTF8, "the message is not valid UTF-8"}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Envelope{}, &InvalidError{ReasonNotJSON, "not a JSON object: " + err.Error()}
	}
	var env Envelope
	str := func(key string, dst *string, required bool) error {
		v, ok := fields[key]
		if !ok || string(v) == "null" {
			if required {
				return &InvalidError{ReasonMissingField, key + " is required"}
			}
			return nil
		}
		s, ok := jsonString(v)
		if !ok {
			return &InvalidError{ReasonMissingField, key + " must be a string"}
		}
		*dst = s
		if required && strings.TrimSpace(*dst) == "" {
			return &InvalidError{ReasonMissingField, key + " must not be empty"}
		}
		return nil
	}
	var ts string
	for _, f := range []struct {
		key      string
		dst      *string
		required bool
	}{
		{"trace_id", &env.TraceID, true}, {"ts", &ts, true}, {"kind", &env.Kind, true},
		{"idempotency_key", &env.IdempotencyKey, true}, {"id", &env.ID, false},
		{"source", &env.Source, false}, {"traceparent", &env.Traceparent, false},
	} {
		if err := str(f.key, f.dst, f.required); err != nil {
			return Envelope{}, err
		}
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Envelope{}, &InvalidError{ReasonBadTimestamp, fmt.Sprintf("ts %q is not an RFC 3339 time", ts)}
	}
	env.TS = t.UTC()
	if !ValidTraceID(env.TraceID) {
		return Envelope{}, &InvalidError{ReasonBadTraceID, fmt.Sprintf("trace_id %q is neither a UUID nor 32 hex characters", env.TraceID)}
	}
	if p, ok := fields["payload"]; ok && string(p) != "null" {
		if b := bytes.TrimSpace(p); len(b) == 0 || b[0] != '{' {
			return Envelope{}, &InvalidError{ReasonBadPayload, "payload must be a JSON object"}
		}
		env.Payload = p
	}
	if opts.Kinds != nil && !opts.Kinds[env.Kind] {
		return Envelope{}, &InvalidError{ReasonUnknownKind, fmt.Sprintf("kind %q is not registered", env.Kind)}
	}
	if env.ID == "" {
		env.ID = uuid.Must(uuid.NewV7()).String()
	}
	if env.Source == "" {
		env.Source = opts.Source
	}
	return env, nil
}

// jsonString decodes v, a JSON value, if it is a string. Strings without
// escapes, the usual case, are taken as they are: Parse has checked that
// the message is valid JSON in valid UTF-8, so they need no decoding
// (this is most of Parse's time saved on a busy pipeline).
func jsonString(v json.RawMessage) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		inner := v[1 : len(v)-1]
		plain := true
		for _, c := range inner {
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), true
		}
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// isHex32 reports whether s is 32 hexadecimal digits.
func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ValidTraceID reports whether s is a UUID or a 32-hex W3C trace id.
func ValidTraceID(s string) bool {
	if isHex32(s) {
		return true
	}
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// New returns an envelope for a new event of kind with payload (marshalled
// to a JSON object; nil means none), stamped now. The trace id is the
// active span's (and traceparent is set), else the one carried by ctx
// with WithTraceID, else a new one. The idempotency key is the event id.
func New(ctx context.Context, source, kind string, payload any) (Envelope, error) {
	id := uuid.Must(uuid.NewV7()).String()
	env := Envelope{ID: id, TS: time.Now().UTC(), Kind: kind, IdempotencyKey: id, Source: source}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return Envelope{}, fmt.Errorf("eventbus: marshal payload of %s: %w", kind, err)
		}
		if bt := bytes.TrimSpace(b); len(bt) == 0 || bt[0] != '{' {
			return Envelope{}, fmt.Errorf("eventbus: payload of %s must marshal to a JSON object, got %.20s", kind, b)
		}
		env.Payload = b
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		env.TraceID = sc.TraceID().String()
		flags := "00"
		if sc.IsSampled() {
			flags = "01"
		}
		env.Traceparent = "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
	} else if t := TraceIDFrom(ctx); t != "" {
		env.TraceID = t
	} else {
		u := uuid.New()
		env.TraceID = hex.EncodeToString(u[:])
	}
	return env, nil
}

type traceIDKey struct{}

// WithTraceID returns a context carrying a trace id for New to use when no
// span is active (the X-Request-ID of an HTTP request, the trace id of the
// event being handled).
func WithTraceID(ctx context.Context, traceID string) context.Context {
	return context.WithValue(ctx, traceIDKey{}, traceID)
}

// TraceIDFrom returns the trace id set with WithTraceID, or "".
func TraceIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(traceIDKey{}).(string)
	return s
}

// Marshal returns the envelope's JSON form, as published.
func (e Envelope) Marshal() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("eventbus: marshal envelope %s: %w", e.ID, err)
	}
	return b, nil
}
