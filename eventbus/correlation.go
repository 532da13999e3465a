package eventbus

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// Correlation carries the event's trace into the handler's context: the
// trace id (TraceIDFrom, and so into every event the handler publishes
// with New) and, when the envelope has a W3C traceparent, the remote span
// context, so that spans the handler starts join the publisher's trace.
func Correlation() Middleware {
	tc := propagation.TraceContext{}
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) error {
			if ev.Envelope.TraceID != "" {
				ctx = WithTraceID(ctx, ev.Envelope.TraceID)
			}
			if tp := ev.Envelope.Traceparent; tp != "" {
				ctx = tc.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
			}
			return next(ctx, ev)
		}
	}
}
