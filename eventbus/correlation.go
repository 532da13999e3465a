package eventbus

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Correlation carries the event's trace into the handler's context: the
// trace id (TraceIDFrom, and so into every event the handler publishes
// with New) and, when the envelope has a W3C traceparent, the remote span
// context, so that spans the handler starts join the publisher's trace.
// When ctx's span is already in that trace (the ingest pipeline's
// consumer span "process <topic>", a child of the traceparent), it is
// kept: the handler's spans are the consumer span's children.
func Correlation() Middleware {
	tc := propagation.TraceContext{}
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) error {
			if ev.Envelope.TraceID != "" {
				ctx = WithTraceID(ctx, ev.Envelope.TraceID)
			}
			if tp := ev.Envelope.Traceparent; tp != "" && !inTrace(ctx, tp) {
				ctx = tc.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
			}
			return next(ctx, ev)
		}
	}
}

// inTrace reports whether ctx's span belongs to the trace of traceparent
// ("00-<trace id>-<span id>-<flags>").
func inTrace(ctx context.Context, traceparent string) bool {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return false
	}
	id, ok := strings.CutPrefix(traceparent, "00-")
	return ok && len(id) > 32 && id[:32] == sc.TraceID().String()
}
