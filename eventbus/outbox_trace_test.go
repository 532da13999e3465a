package eventbus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/testkit"
)

// newTracing returns an SDK tracer provider that exports every span, at
// its end, to the returned in-memory exporter.
func newTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// spanNamed returns the ended span of trace id called name, waiting for
// it (consumer spans end when the batch is acknowledged).
func spanNamed(t *testing.T, exp *tracetest.InMemoryExporter, id trace.TraceID, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	eventually(t, 20*time.Second, "the span "+name, func() bool {
		found = found[:0]
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == id && s.Name == name {
				found = append(found, s)
			}
		}
		return len(found) > 0
	})
	if len(found) != 1 {
		t.Fatalf("%d spans %q in the trace, want 1", len(found), name)
	}
	return found[0]
}

// checkParent fails the test unless child's parent is parent.
func checkParent(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() {
		t.Errorf("the parent of %q is %s, want %q (%s)", child.Name, child.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
	}
}

// One trace from the writer's span through the outbox, the relay, the
// broker and the ingest pipeline to the mirror and a handler: an event
// written with PublishTx under a parent span, relayed and ingested,
// leaves in one trace, whose id is the envelope's trace_id, the parent
// span, "outbox <topic>" (its child, named by the envelope's
// traceparent), the relay's "publish <topic>" and the consumer's
// "process <topic>" (children of the outbox span, through the
// traceparent), and "store <topic>" and the handler's span (children of
// the consumer span). The batch's own span links to the consumer span.
// A direct Publish of an envelope made under a span gets a publish span
// of its own in the same trace.
func TestTraceOutboxToHandler(t *testing.T) {
	tp, exp := newTracing(t)
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	handler := eventbus.Route{Name: "traced", Pattern: "tracker/events/#", Handler: func(ctx context.Context, ev *eventbus.Event) error {
		_, span := tp.Tracer("handler").Start(ctx, "handle "+ev.Envelope.Kind)
		span.End()
		return nil
	}}
	p := startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB, TracerProvider: tp, Routes: []eventbus.Route{handler}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relay := eventbuspg.NewRelay(db.DB, p.client, eventbuspg.RelayConfig{PollInterval: 100 * time.Millisecond},
		testkit.NewLogger(t), eventbuspg.WithTracerProvider(tp))
	if err := relay.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := relay.Stop(sctx); err != nil {
			t.Errorf("stop relay: %v", err)
		}
	})
	outbox := eventbuspg.NewOutbox(db.DB, eventbuspg.OutboxConfig{Source: "trace-test"}, eventbuspg.WithTracerProvider(tp))

	const topic = "tracker/events/projects/created"
	reqCtx, req := tp.Tracer("http").Start(ctx, "POST /api/v1/projects", trace.WithSpanKind(trace.SpanKindServer))
	env, err := outbox.Publish(reqCtx, topic, "project_created", map[string]string{"name": "traced"})
	req.End()
	if err != nil {
		t.Fatal(err)
	}
	id := req.SpanContext().TraceID()
	if env.TraceID != id.String() {
		t.Errorf("the envelope's trace_id is %s, want the request's trace id %s", env.TraceID, id)
	}
	eventually(t, 30*time.Second, "the event is handled", func() bool { return p.handled.get(env.IdempotencyKey) == 1 })

	parent := spanNamed(t, exp, id, "POST /api/v1/projects")
	outboxSpan := spanNamed(t, exp, id, "outbox "+topic)
	publish := spanNamed(t, exp, id, "publish "+topic)
	process := spanNamed(t, exp, id, "process "+topic)
	stored := spanNamed(t, exp, id, "store "+topic)
	handled := spanNamed(t, exp, id, "handle project_created")
	checkParent(t, outboxSpan, parent)
	checkParent(t, publish, outboxSpan)
	checkParent(t, process, outboxSpan)
	checkParent(t, stored, process)
	checkParent(t, handled, process)
	if want := outboxSpan.SpanContext.SpanID().String(); !strings.Contains(env.Traceparent, "-"+want+"-") {
		t.Errorf("the envelope's traceparent %s does not name the outbox span %s", env.Traceparent, want)
	}
	if !process.Parent.IsRemote() {
		t.Error("the consumer span's parent is not remote: it must come from the envelope's traceparent")
	}
	for _, s := range []tracetest.SpanStub{outboxSpan, publish, process, stored} {
		if attrs := attrMap(s); attrs["messaging.system"] != "mqtt" || attrs["messaging.destination.name"] != topic {
			t.Errorf("span %q has attributes %v, want messaging.system=mqtt and messaging.destination.name=%s", s.Name, attrs, topic)
		}
	}
	if k := publish.SpanKind; k != trace.SpanKindProducer {
		t.Errorf("the publish span's kind is %s, want producer", k)
	}
	if k := process.SpanKind; k != trace.SpanKindConsumer {
		t.Errorf("the process span's kind is %s, want consumer", k)
	}
	if stored.StartTime.Before(process.StartTime) || stored.EndTime.After(process.EndTime) {
		t.Errorf("the store span (%s to %s) is not within the consumer span (%s to %s)",
			stored.StartTime, stored.EndTime, process.StartTime, process.EndTime)
	}
	var batchLinked bool
	for _, s := range exp.GetSpans() {
		if s.Name != "store batch" {
			continue
		}
		for _, l := range s.Links {
			batchLinked = batchLinked || l.SpanContext.SpanID() == process.SpanContext.SpanID()
		}
	}
	if !batchLinked {
		t.Error("no span \"store batch\" links to the consumer span")
	}

	// A direct publication of an envelope made under a span.
	const direct = "tracker/events/projects/renamed"
	pubCtx, job := tp.Tracer("job").Start(ctx, "job")
	denv, err := eventbus.New(pubCtx, "trace-test", "project_renamed", map[string]string{"name": "direct"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := denv.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.client.Publish(pubCtx, direct, raw); err != nil {
		t.Fatal(err)
	}
	job.End()
	eventually(t, 30*time.Second, "the direct event is handled", func() bool { return p.handled.get(denv.IdempotencyKey) == 1 })
	jobID := job.SpanContext().TraceID()
	jobSpan := spanNamed(t, exp, jobID, "job")
	checkParent(t, spanNamed(t, exp, jobID, "publish "+direct), jobSpan)
	checkParent(t, spanNamed(t, exp, jobID, "process "+direct), jobSpan)
}

// Dead letters are events on the message's consumer span: an invalid
// message's (a root span: it has no usable traceparent) and a failing
// handler's; messages without traceparent start traces of their own.
func TestTraceDeadLetters(t *testing.T) {
	tp, exp := newTracing(t)
	broker := startBroker(t, e2eBrokerConfig)
	db := testkit.Postgres(t, eventbuspg.Migrations)
	failing := eventbus.Route{Name: "failing", Pattern: "tracker/events/boom/#", Handler: func(context.Context, *eventbus.Event) error {
		return errors.New("boom")
	}}
	startPipeline(t, pipelineOptions{URL: broker.URL(), DB: db.DB, TracerProvider: tp, Routes: []eventbus.Route{failing},
		Config: eventbus.Config{HandlerAttempts: 1, SkipDLQTopic: true}})
	pub := newPublisher(t, broker.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boom, _ := envelope(t, "boom", nil) // made without a span: no traceparent
	if err := pub.publish(ctx, "tracker/events/boom/1", boom); err != nil {
		t.Fatal(err)
	}
	if err := pub.publish(ctx, "tracker/events/bad/1", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	eventually(t, 30*time.Second, "both consumer spans end with a dead-letter event", func() bool {
		for _, s := range exp.GetSpans() {
			for _, e := range s.Events {
				if e.Name == eventbus.EventDeadLettered {
					for _, a := range e.Attributes {
						if a.Key == eventbus.AttrReason {
							reasons[s.Name] = a.Value.AsString()
						}
					}
					if s.Parent.IsValid() {
						t.Errorf("span %q has a parent; a message without traceparent starts a new trace", s.Name)
					}
				}
			}
		}
		return len(reasons) == 2
	})
	want := map[string]string{"process tracker/events/boom/1": "handler_failed", "process tracker/events/bad/1": "not_json"}
	for name, reason := range want {
		if reasons[name] != reason {
			t.Errorf("span %q: dead-letter reason %q, want %q", name, reasons[name], reason)
		}
	}
}

// attrMap returns a span's attributes as strings.
func attrMap(s tracetest.SpanStub) map[string]string {
	m := make(map[string]string, len(s.Attributes))
	for _, a := range s.Attributes {
		m[string(a.Key)] = a.Value.String()
	}
	return m
}
