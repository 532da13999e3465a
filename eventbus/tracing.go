package eventbus

import (
	"context"
	"encoding/json"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName is the instrumentation scope of the spans of this package and
// of its transports and stores.
const TracerName = "github.com/taylordash/taylordash/eventbus"

// The span attributes of the event bus, from the OpenTelemetry messaging
// semantic conventions, plus the bus's own.
const (
	// AttrMessagingSystem is "messaging.system"; the bus sets it to "mqtt".
	AttrMessagingSystem = attribute.Key("messaging.system")
	// AttrDestination is "messaging.destination.name": the topic.
	AttrDestination = attribute.Key("messaging.destination.name")
	// AttrOperationType is "messaging.operation.type": create, send,
	// process.
	AttrOperationType = attribute.Key("messaging.operation.type")
	// AttrOperationName is "messaging.operation.name": outbox, publish,
	// process, store.
	AttrOperationName = attribute.Key("messaging.operation.name")
	// AttrMessageID is "messaging.message.id": the envelope's id.
	AttrMessageID = attribute.Key("messaging.message.id")
	// AttrBatchCount is "messaging.batch.message_count": the messages of
	// the batch an operation served.
	AttrBatchCount = attribute.Key("messaging.batch.message_count")
	// AttrTraceID is "eventbus.trace_id": the envelope's trace_id, set on
	// a consumer span that starts a new trace (the message had no
	// traceparent), so that the original correlation id stays searchable.
	AttrTraceID = attribute.Key("eventbus.trace_id")
	// AttrDuplicate is "eventbus.duplicate": the mirror held the event
	// already.
	AttrDuplicate = attribute.Key("eventbus.duplicate")
	// AttrReason is "eventbus.reason": the dead-letter Reason.
	AttrReason = attribute.Key("eventbus.reason")
)

// MessagingSystem is the value of AttrMessagingSystem.
const MessagingSystem = "mqtt"

// EventDeadLettered is the name of the span event recorded on a message's
// span when it is written to the dead-letter queue, with AttrReason.
const EventDeadLettered = "eventbus.dead_lettered"

// tracing is what a component needs to trace: a tracer, or none when the
// provider is nil or the noop one (so that the pipeline then pays one
// nil check per message, not a span).
type tracing struct {
	tracer trace.Tracer // nil: tracing off
}

func newTracing(tp trace.TracerProvider) tracing {
	if !TracingEnabled(tp) {
		return tracing{}
	}
	return tracing{tracer: tp.Tracer(TracerName)}
}

// TracingEnabled reports whether tp may record spans: false for nil and
// for the trace/noop provider. Components use it to skip building spans
// (and their attributes) when nobody records them.
func TracingEnabled(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	return true
}

// ContextWithTraceparent returns ctx carrying the remote span context of
// traceparent (a W3C traceparent, as in Envelope.Traceparent), so that a
// span started from it continues the publisher's trace. An empty or
// invalid traceparent returns ctx unchanged.
func ContextWithTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// TraceparentOf returns the traceparent of a marshalled envelope, or ""
// when it has none (or is not an envelope).
func TraceparentOf(raw []byte) string {
	var env struct {
		Traceparent string `json:"traceparent"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return ""
	}
	return env.Traceparent
}

type publishSpanKey struct{}

// StartPublishSpan starts the producer span "publish <topic>" of a
// publication to topic, as a child of ctx's span, with the messaging
// attributes, and returns a context marked with it. When ctx is already
// inside the publish span of the same topic (a relay started it and
// publishes through a traced transport), no second span is started: it
// returns ctx and a span that records nothing. tracer must not be nil.
func StartPublishSpan(ctx context.Context, tracer trace.Tracer, topic string) (context.Context, trace.Span) {
	if t, _ := ctx.Value(publishSpanKey{}).(string); t != "" && t == topic {
		return ctx, noop.Span{}
	}
	ctx, span := tracer.Start(ctx, "publish "+topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(AttrMessagingSystem.String(MessagingSystem), AttrDestination.String(topic),
			AttrOperationType.String("send"), AttrOperationName.String("publish")))
	return context.WithValue(ctx, publishSpanKey{}, topic), span
}

// deadLettered records on ctx's span that the message went to the
// dead-letter queue.
func deadLettered(ctx context.Context, reason Reason) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.AddEvent(EventDeadLettered, trace.WithAttributes(AttrReason.String(string(reason))))
	}
}

// startProcess starts the consumer span "process <topic>" of a message
// received, from its reception: a child of the envelope's traceparent
// (a remote parent), or the root of a new trace when the envelope has
// none or did not parse (env nil).
func (in *Ingest) startProcess(m *Message, env *Envelope) trace.Span {
	ctx := context.Background()
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, AttrMessagingSystem.String(MessagingSystem), AttrDestination.String(m.Topic),
		AttrOperationType.String("process"), AttrOperationName.String("process"))
	if env != nil {
		attrs = append(attrs, AttrMessageID.String(env.ID))
		ctx = ContextWithTraceparent(ctx, env.Traceparent)
		if !trace.SpanContextFromContext(ctx).IsValid() {
			attrs = append(attrs, AttrTraceID.String(env.TraceID))
		}
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if !m.ReceivedAt.IsZero() {
		opts = append(opts, trace.WithTimestamp(m.ReceivedAt))
	}
	_, span := in.tr.tracer.Start(ctx, "process "+m.Topic, opts...)
	return span
}

// startStoreBatch starts the span of a batch's storage, "store batch":
// the root of a trace of its own (the batch serves messages of many
// traces), linked to each message's consumer span. The Recorder's work
// (the SQL statements, with a traced pool) nests under it.
func (in *Ingest) startStoreBatch(ctx context.Context, b *batch) (context.Context, trace.Span) {
	links := make([]trace.Link, len(b.spans))
	for i, s := range b.spans {
		links[i] = trace.Link{SpanContext: s.SpanContext()}
	}
	return in.tr.tracer.Start(ctx, "store batch", trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(AttrMessagingSystem.String(MessagingSystem), AttrOperationName.String("store"),
			AttrBatchCount.Int(len(b.events))))
}

// endStore ends the batch's span and records, in each message's trace, a
// child of its consumer span, "store <topic>", with the batch's real start
// and end, linked to the batch's span: one INSERT serves messages of
// many traces, and each trace shows when its message was stored.
func (in *Ingest) endStore(b *batch, batchSpan trace.Span, start, end time.Time, attempts int, ok bool) {
	batchSpan.SetAttributes(attribute.Int("eventbus.store.attempts", attempts))
	if !ok {
		batchSpan.SetStatus(codes.Error, "stopped before the batch was stored")
	}
	batchSpan.End(trace.WithTimestamp(end))
	if !ok {
		return
	}
	link := trace.WithLinks(trace.Link{SpanContext: batchSpan.SpanContext()})
	count := AttrBatchCount.Int(len(b.events))
	for i, ev := range b.events {
		ctx := trace.ContextWithSpan(context.Background(), b.spans[i])
		_, s := in.tr.tracer.Start(ctx, "store "+ev.Topic, trace.WithTimestamp(start), link,
			trace.WithAttributes(AttrMessagingSystem.String(MessagingSystem), AttrDestination.String(ev.Topic),
				AttrOperationName.String("store"), count, AttrDuplicate.Bool(ev.Duplicate),
				attribute.Int("eventbus.store.attempts", attempts)))
		s.End(trace.WithTimestamp(end))
	}
}

// endSpans ends the consumer spans of a settled batch.
func endSpans(spans []trace.Span) {
	for _, s := range spans {
		s.End()
	}
}
