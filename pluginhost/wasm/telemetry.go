package wasm

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/taylordash/taylordash/pluginhost/sdk"
)

// ScopeName is the instrumentation scope of the runtime's spans and
// metrics.
const ScopeName = "github.com/taylordash/taylordash/pluginhost/wasm"

// The names of the runtime's metrics (see observability for how the
// Prometheus exporter names them: dots become underscores, counters get
// _total, seconds get _seconds). Labels are bounded: plugin is an
// installed plugin's id, function one of its exports, the rest closed
// sets.
const (
	// MetricCalls counts calls by plugin, function and result (ok, error,
	// a violation kind, canceled, disabled, closed, invalid,
	// unavailable).
	MetricCalls = "taylordash.plugin.calls"
	// MetricCallDuration is the histogram of call durations in seconds,
	// by plugin and function.
	MetricCallDuration = "taylordash.plugin.call_duration"
	// MetricViolations counts violations by plugin and kind.
	MetricViolations = "taylordash.plugin.violations"
	// MetricHostCalls counts host function calls by plugin, host_function
	// and status (ok, permission_denied, invalid_argument, not_found,
	// unavailable, too_large, canceled).
	MetricHostCalls = "taylordash.plugin.host_calls"
	// MetricInstantiateDuration is the histogram of the time, in seconds,
	// to start an instance (instantiation and the guest's _initialize).
	MetricInstantiateDuration = "taylordash.plugin.instantiate_duration"
)

// The span attributes of a plugin call.
const (
	AttrPluginID      = attribute.Key("plugin.id")
	AttrPluginVersion = attribute.Key("plugin.version")
	AttrFunction      = attribute.Key("plugin.function")
	AttrResult        = attribute.Key("plugin.result")
)

// DurationBuckets are the bucket boundaries, in seconds, of the duration
// histograms: from 10 µs (a no-op call) to 30 s (the largest timeout).
var DurationBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type telemetry struct {
	tracer trace.Tracer // nil: tracing off

	metrics       bool
	calls         metric.Int64Counter
	duration      metric.Float64Histogram
	violations    metric.Int64Counter
	hostCalls     metric.Int64Counter
	instantiation metric.Float64Histogram
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (*telemetry, error) {
	t := &telemetry{}
	switch tp.(type) {
	case nil, tracenoop.TracerProvider, *tracenoop.TracerProvider:
	default:
		t.tracer = tp.Tracer(ScopeName)
	}
	switch mp.(type) {
	case nil, metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return t, nil
	}
	m := mp.Meter(ScopeName)
	var err error
	t.metrics = true
	if t.calls, err = m.Int64Counter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Plugin calls by plugin, function and result.")); err != nil {
		return nil, fmt.Errorf("wasm: metrics: %w", err)
	}
	if t.duration, err = m.Float64Histogram(MetricCallDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of plugin calls."), metric.WithExplicitBucketBoundaries(DurationBuckets...)); err != nil {
		return nil, fmt.Errorf("wasm: metrics: %w", err)
	}
	if t.violations, err = m.Int64Counter(MetricViolations, metric.WithUnit("{violation}"),
		metric.WithDescription("Plugin violations (traps, panics, timeouts, memory, denied host calls) by plugin and kind.")); err != nil {
		return nil, fmt.Errorf("wasm: metrics: %w", err)
	}
	if t.hostCalls, err = m.Int64Counter(MetricHostCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Host function calls by plugin, host function and status.")); err != nil {
		return nil, fmt.Errorf("wasm: metrics: %w", err)
	}
	if t.instantiation, err = m.Float64Histogram(MetricInstantiateDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to start a plugin instance."), metric.WithExplicitBucketBoundaries(DurationBuckets...)); err != nil {
		return nil, fmt.Errorf("wasm: metrics: %w", err)
	}
	return t, nil
}

// start starts the call's span if a span is active in ctx.
func (t *telemetry) start(ctx context.Context, p *Plugin, function string) (context.Context, trace.Span) {
	if t.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return t.tracer.Start(ctx, "plugin.call "+p.id+" "+function, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrPluginID.String(p.id), AttrPluginVersion.String(p.version), AttrFunction.String(function)))
}

func (t *telemetry) end(span trace.Span, result string, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(AttrResult.String(result))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, result)
	}
	span.End()
}

// pluginTelemetry records one plugin's metrics.
type pluginTelemetry struct {
	t      *telemetry
	plugin attribute.KeyValue
}

func (t *telemetry) forPlugin(id string) *pluginTelemetry {
	return &pluginTelemetry{t: t, plugin: attribute.String("plugin", id)}
}

func (pt *pluginTelemetry) called(ctx context.Context, function, result string, d time.Duration) {
	if !pt.t.metrics {
		return
	}
	fn := attribute.String("function", function)
	pt.t.calls.Add(ctx, 1, metric.WithAttributes(pt.plugin, fn, attribute.String("result", result)))
	pt.t.duration.Record(ctx, d.Seconds(), metric.WithAttributes(pt.plugin, fn))
}

func (pt *pluginTelemetry) violated(ctx context.Context, kind ViolationKind) {
	if !pt.t.metrics {
		return
	}
	pt.t.violations.Add(ctx, 1, metric.WithAttributes(pt.plugin, attribute.String("kind", string(kind))))
}

func (pt *pluginTelemetry) hostCalled(ctx context.Context, fn string, st sdk.Status) {
	if !pt.t.metrics {
		return
	}
	pt.t.hostCalls.Add(ctx, 1, metric.WithAttributes(pt.plugin, attribute.String("host_function", fn), attribute.String("status", statusLabel(st))))
}

func (pt *pluginTelemetry) instantiated(ctx context.Context, d time.Duration) {
	if !pt.t.metrics {
		return
	}
	pt.t.instantiation.Record(ctx, d.Seconds(), metric.WithAttributes(pt.plugin))
}

func statusLabel(st sdk.Status) string {
	switch st {
	case sdk.StatusOK:
		return "ok"
	case sdk.StatusPermissionDenied:
		return "permission_denied"
	case sdk.StatusInvalidArgument:
		return "invalid_argument"
	case sdk.StatusNotFound:
		return "not_found"
	case sdk.StatusUnavailable:
		return "unavailable"
	case sdk.StatusTooLarge:
		return "too_large"
	case sdk.StatusCanceled:
		return "canceled"
	default:
		return strconv.Itoa(int(st))
	}
}
