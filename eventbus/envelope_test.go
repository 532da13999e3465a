package eventbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
)

func TestParseAcceptsTheOriginalsEnvelope(t *testing.T) {
	// What the original published: four keys plus payload, a UUID trace id,
	// ts with a +00:00 offset.
	raw := []byte(`{"trace_id":"0b6f9c1e-2c1a-4f3e-9a51-7f2b1c0d9e8a","ts":"2025-09-13T00:42:22.108497+00:00","kind":"project_created","idempotency_key":"project_created_1757724142108_1a2b3c4d","payload":{"id":"p1","name":"Demo"}}`)
	env, err := Parse(raw, ParseOptions{Source: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if env.Kind != "project_created" || env.IdempotencyKey != "project_created_1757724142108_1a2b3c4d" || env.Source != "svc" {
		t.Fatalf("envelope %+v", env)
	}
	if env.TS.Location() != time.UTC || env.TS.Format(time.RFC3339Nano) != "2025-09-13T00:42:22.108497Z" {
		t.Fatalf("ts %v", env.TS)
	}
	if _, err := uuid.Parse(env.ID); err != nil || uuid.MustParse(env.ID).Version() != 7 {
		t.Fatalf("id %q is not a UUIDv7", env.ID)
	}
	if string(env.Payload) != `{"id":"p1","name":"Demo"}` {
		t.Fatalf("payload %s", env.Payload)
	}
}

func TestParseKeepsIDAndSource(t *testing.T) {
	raw := []byte(`{"id":"given","source":"other","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","kind":"k","idempotency_key":"i"}`)
	env, err := Parse(raw, ParseOptions{Source: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != "given" || env.Source != "other" || env.Payload != nil {
		t.Fatalf("envelope %+v", env)
	}
}

func TestParseRejectsWithReason(t *testing.T) {
	valid := `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","kind":"k","idempotency_key":"i"`
	cases := []struct {
		name   string
		raw    []byte
		opts   ParseOptions
		reason Reason
	}{
		{"not utf-8", []byte{0xff, 0xfe, '{', '}'}, ParseOptions{}, ReasonNotUTF8},
		{"not json", []byte(`{"trace_id":`), ParseOptions{}, ReasonNotJSON},
		{"json array", []byte(`[1,2]`), ParseOptions{}, ReasonNotJSON},
		{"empty", []byte(``), ParseOptions{}, ReasonNotJSON},
		{"missing kind", []byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","idempotency_key":"i"}`), ParseOptions{}, ReasonMissingField},
		{"null key", []byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","kind":"k","idempotency_key":null}`), ParseOptions{}, ReasonMissingField},
		{"blank key", []byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","kind":"k","idempotency_key":"  "}`), ParseOptions{}, ReasonMissingField},
		{"number kind", []byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","kind":3,"idempotency_key":"i"}`), ParseOptions{}, ReasonMissingField},
		{"bad ts", []byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"yesterday","kind":"k","idempotency_key":"i"}`), ParseOptions{}, ReasonBadTimestamp},
		{"ts without zone", []byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00","kind":"k","idempotency_key":"i"}`), ParseOptions{}, ReasonBadTimestamp},
		{"bad trace id", []byte(`{"trace_id":"test-123","ts":"2025-01-01T00:00:00Z","kind":"k","idempotency_key":"i"}`), ParseOptions{}, ReasonBadTraceID},
		{"payload array", []byte(`{` + valid + `,"payload":[1]}`), ParseOptions{}, ReasonBadPayload},
		{"payload string", []byte(`{` + valid + `,"payload":"x"}`), ParseOptions{}, ReasonBadPayload},
		{"oversize", []byte(`{` + valid + `,"payload":{"x":"` + strings.Repeat("a", 300) + `"}}`), ParseOptions{MaxSize: 256}, ReasonOversize},
		{"unknown kind", []byte(`{` + valid + `}`), ParseOptions{Kinds: map[string]bool{"project_created": true}}, ReasonUnknownKind},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.raw, c.opts)
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason != c.reason {
				t.Fatalf("got %v, want reason %s", err, c.reason)
			}
			if ie.Detail == "" {
				t.Fatal("no detail")
			}
		})
	}
}

func TestParseDefaultMaxSize(t *testing.T) {
	big := `{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","kind":"k","idempotency_key":"i","payload":{"x":"` + strings.Repeat("a", DefaultMaxSize) + `"}}`
	var ie *InvalidError
	if _, err := Parse([]byte(big), ParseOptions{}); !errors.As(err, &ie) || ie.Reason != ReasonOversize {
		t.Fatalf("a message over 256 KiB: %v", err)
	}
}

func TestValidTraceID(t *testing.T) {
	for id, want := range map[string]bool{
		"0b6f9c1e-2c1a-4f3e-9a51-7f2b1c0d9e8a":          true,
		"4bf92f3577b34da6a3ce929d0e0e4736":              true,
		"4BF92F3577B34DA6A3CE929D0E0E4736":              true,
		"4bf92f3577b34da6a3ce929d0e0e473":               false,
		"test-123":                                      false,
		"":                                              false,
		"{0b6f9c1e-2c1a-4f3e-9a51-7f2b1c0d9e8a}":        false,
		"urn:uuid:0b6f9c1e-2c1a-4f3e-9a51-7f2b1c0d9e8a": false,
	} {
		if got := ValidTraceID(id); got != want {
			t.Errorf("ValidTraceID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestNewRoundTripsThroughParse(t *testing.T) {
	ctx := WithTraceID(context.Background(), "0b6f9c1e-2c1a-4f3e-9a51-7f2b1c0d9e8a")
	env, err := New(ctx, "svc", "project_created", map[string]any{"id": "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if env.TraceID != "0b6f9c1e-2c1a-4f3e-9a51-7f2b1c0d9e8a" || env.IdempotencyKey != env.ID || env.Traceparent != "" {
		t.Fatalf("envelope %+v", env)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(raw, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != env.ID || !back.TS.Equal(env.TS) || !bytes.Equal(back.Payload, env.Payload) || back.Source != "svc" {
		t.Fatalf("round trip: %+v vs %+v", back, env)
	}
}

func TestNewTakesTheActiveSpan(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	env, err := New(ctx, "svc", "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if env.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || env.Traceparent != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("envelope %+v", env)
	}
	// Correlation turns it back into the handler's span context.
	var got trace.SpanContext
	h := Correlation()(func(ctx context.Context, ev *Event) error {
		got = trace.SpanContextFromContext(ctx)
		if TraceIDFrom(ctx) != env.TraceID {
			t.Errorf("trace id in handler ctx %q", TraceIDFrom(ctx))
		}
		return nil
	})
	if err := h(context.Background(), &Event{Envelope: env}); err != nil {
		t.Fatal(err)
	}
	if got.TraceID() != tid || got.SpanID() != sid || !got.IsRemote() {
		t.Fatalf("handler span context %+v", got)
	}
}

func TestNewGeneratesTraceIDAndRejectsNonObjects(t *testing.T) {
	env, err := New(context.Background(), "svc", "k", struct{ A int }{1})
	if err != nil {
		t.Fatal(err)
	}
	if !ValidTraceID(env.TraceID) || len(env.TraceID) != 32 {
		t.Fatalf("trace id %q", env.TraceID)
	}
	if _, err := New(context.Background(), "svc", "k", []int{1}); err == nil {
		t.Fatal("an array payload was accepted")
	}
	if _, err := New(context.Background(), "svc", "k", func() {}); err == nil {
		t.Fatal("an unmarshallable payload was accepted")
	}
}

// FuzzParse: Parse never panics, and every error is an *InvalidError with a
// reason from the closed set.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","ts":"2025-01-01T00:00:00Z","kind":"k","idempotency_key":"i","payload":{}}`))
	f.Add([]byte{0xff})
	f.Add([]byte(`{"ts":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := Parse(raw, ParseOptions{MaxSize: 4096})
		if err == nil {
			if env.ID == "" || env.Kind == "" || !ValidTraceID(env.TraceID) {
				t.Fatalf("accepted an incomplete envelope %+v", env)
			}
			if _, err := json.Marshal(env); err != nil {
				t.Fatalf("accepted envelope does not marshal: %v", err)
			}
			return
		}
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Fatalf("error %v is not an *InvalidError", err)
		}
		found := false
		for _, r := range Reasons {
			found = found || r == ie.Reason
		}
		if !found {
			t.Fatalf("reason %q is not in Reasons", ie.Reason)
		}
	})
}
