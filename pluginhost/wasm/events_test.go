package wasm_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/pluginhost/wasm"
)

func projectEvent(t *testing.T, traceparent string) *eventbus.Event {
	t.Helper()
	return &eventbus.Event{
		Topic: "tracker/events/projects/created",
		Envelope: eventbus.Envelope{
			ID: "0190d3b4-0000-7000-8000-000000000001", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			TS: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Kind: "project_created",
			Payload: json.RawMessage(`{"name":"Apollo"}`), Traceparent: traceparent,
		},
		Attempt: 1,
	}
}

// A plugin handles an event on its subscription and publishes one; the
// event's trace continues into the plugin call and the published event.
func TestHandleEventContinuesTrace(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	b := setup(t, func(_ *wasm.Config, o *wasm.Options) { o.TracerProvider = tp })
	p := b.load(t, "publish", wasm.PluginSpec{Permissions: []string{"read:events", "publish:events"}})

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if err := p.EventHandler()(context.Background(), projectEvent(t, traceparent)); err != nil {
		t.Fatal(err)
	}
	evs := b.events.all()
	if len(evs) != 1 || evs[0].pluginID != "publish-plugin" || evs[0].kind != "project_seen" {
		t.Fatalf("published %+v", evs)
	}
	var payload map[string]any
	if err := json.Unmarshal(evs[0].payload, &payload); err != nil || payload["name"] != "Apollo" ||
		payload["topic"] != "tracker/events/projects/created" || payload["event_id"] != "0190d3b4-0000-7000-8000-000000000001" {
		t.Errorf("payload %s", evs[0].payload)
	}
	ended := spans.Ended()
	if len(ended) != 1 || ended[0].Name() != "plugin.call publish-plugin td_handle_event" {
		t.Fatalf("spans: %v", ended)
	}
	call := ended[0]
	if call.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || call.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("the call's span is not a child of the event's: trace %s parent %s", call.SpanContext().TraceID(), call.Parent().SpanID())
	}
	if sc := trace.SpanContextFromContext(evs[0].ctx); sc.SpanID() != call.SpanContext().SpanID() {
		t.Errorf("the publisher's context carries span %s, want the call's %s", sc.SpanID(), call.SpanContext().SpanID())
	}
	if !b.logs.contains("event 0190d3b4-0000-7000-8000-000000000001 of kind project_created") {
		t.Errorf("the plugin's log line is missing:\n%s", b.logs)
	}

	// without read:events the plugin is not called
	deaf := b.load(t, "publish", wasm.PluginSpec{ID: "deaf", Permissions: []string{"publish:events"}})
	if err := deaf.HandleEvent(context.Background(), projectEvent(t, "")); !errors.Is(err, wasm.ErrPermissionDenied) {
		t.Errorf("HandleEvent without read:events: %v", err)
	}
	if len(b.events.all()) != 1 || len(b.violations.all()) != 0 {
		t.Error("the plugin without read:events ran, or was charged a violation")
	}
}

// Untraced calls start no span.
func TestNoSpanWithoutParent(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	b := setup(t, func(_ *wasm.Config, o *wasm.Options) { o.TracerProvider = tp })
	p := b.load(t, "publish", wasm.PluginSpec{Permissions: []string{"publish:events"}})
	if _, err := p.Call(context.Background(), "td_publish", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if n := len(spans.Ended()); n != 0 {
		t.Errorf("%d spans without a parent", n)
	}
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b := setup(t, func(_ *wasm.Config, o *wasm.Options) { o.MeterProvider = mp })
	p := b.load(t, "denied", wasm.PluginSpec{})
	ctx := context.Background()
	_, _ = p.Call(ctx, "td_ping", nil)
	_, _ = p.Call(ctx, "td_publish", nil)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					key := m.Name
					for _, kv := range dp.Attributes.ToSlice() {
						key += " " + string(kv.Key) + "=" + kv.Value.String()
					}
					got[key] += dp.Value
				}
			}
		}
	}
	for key, want := range map[string]int64{
		"taylordash.plugin.calls function=td_ping plugin=denied-plugin result=ok":                                1,
		"taylordash.plugin.calls function=td_publish plugin=denied-plugin result=permission_denied":              1,
		"taylordash.plugin.violations kind=permission_denied plugin=denied-plugin":                               1,
		"taylordash.plugin.host_calls host_function=publish_event plugin=denied-plugin status=permission_denied": 1,
	} {
		if got[key] != want {
			t.Errorf("%s = %d, want %d (all: %v)", key, got[key], want, got)
		}
	}
}

// A Go guest's garbage collector finishes its cycles between calls: the
// SDK yields to the guest's background goroutines at the end of each call.
// Without that, a long-lived instance's heap grows until it runs out of
// memory (with 16 MiB, after about 6,500 echo calls of 64 KiB, or 340,000
// of 1 KiB), or, with the host's replacement of nearly full instances,
// the plugin keeps starting new instances. Here 20,000 calls of 64 KiB run
// on the one warm instance.
func TestLongLivedInstanceCollectsGarbage(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b := setup(t, func(_ *wasm.Config, o *wasm.Options) { o.MeterProvider = mp })
	p := b.load(t, "echo", wasm.PluginSpec{})
	in := make([]byte, 64<<10)
	for i := range 20_000 {
		if _, err := p.Call(context.Background(), "td_echo", in); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == wasm.MetricInstantiateDuration {
				if n := h.DataPoints[0].Count; n != 1 {
					t.Errorf("%d instances started for 20,000 calls, want the warm one only", n)
				}
				return
			}
		}
	}
	t.Fatal("no instantiation metric")
}
