package mcp

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the client's spans and
// metrics.
const ScopeName = "github.com/taylordash/taylordash/pluginhost/mcp"

// The names of the client's metrics (the Prometheus exporter turns dots
// into underscores, adds _total to counters and _seconds to durations).
// Labels are bounded: server is a known server's id, method one of the
// forwarded methods, result one of the Result* values.
const (
	// MetricCalls counts calls by server, method and result.
	MetricCalls = "taylordash.mcp.calls"
	// MetricCallDuration is the histogram of call durations in seconds,
	// by server and method.
	MetricCallDuration = "taylordash.mcp.call_duration"
	// MetricRestarts counts restarts of servers by server.
	MetricRestarts = "taylordash.mcp.restarts"
	// MetricUptime is the time, in seconds, that each connected server
	// has been running since it last (re)started; 0 when not running.
	MetricUptime = "taylordash.mcp.uptime"
)

// The span attributes of a call.
const (
	AttrServer = attribute.Key("mcp.server")
	AttrMethod = attribute.Key("mcp.method")
	AttrTool   = attribute.Key("mcp.tool")
	AttrResult = attribute.Key("mcp.result")
)

// durationBuckets are the bucket boundaries, in seconds, of the call
// duration histogram: from 100 µs to the longest timeout.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

type telemetry struct {
	tracer   trace.Tracer
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	restarts metric.Int64Counter
	uptime   metric.Float64ObservableGauge
	reg      metric.Registration
}

// newTelemetry makes the instruments; uptimes reports every server's
// uptime for the gauge. Nil providers turn tracing and metrics off.
func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, uptimes func() map[string]time.Duration) (*telemetry, error) {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	t := &telemetry{tracer: tp.Tracer(ScopeName)}
	meter := mp.Meter(ScopeName)
	var err error
	if t.calls, err = meter.Int64Counter(MetricCalls, metric.WithDescription("Calls to MCP servers by server, method and result.")); err != nil {
		return nil, err
	}
	if t.duration, err = meter.Float64Histogram(MetricCallDuration, metric.WithUnit("s"),
		metric.WithDescription("Durations of calls to MCP servers."), metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	if t.restarts, err = meter.Int64Counter(MetricRestarts, metric.WithDescription("Restarts of MCP servers.")); err != nil {
		return nil, err
	}
	if t.uptime, err = meter.Float64ObservableGauge(MetricUptime, metric.WithUnit("s"),
		metric.WithDescription("Time since each connected MCP server last (re)started.")); err != nil {
		return nil, err
	}
	t.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for id, d := range uptimes() {
			o.ObserveFloat64(t.uptime, d.Seconds(), metric.WithAttributes(AttrServer.String(id)))
		}
		return nil
	}, t.uptime)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) call(ctx context.Context, server, method, result string, d time.Duration) {
	t.calls.Add(ctx, 1, metric.WithAttributes(AttrServer.String(server), AttrMethod.String(method), AttrResult.String(result)))
	t.duration.Record(ctx, d.Seconds(), metric.WithAttributes(AttrServer.String(server), AttrMethod.String(method)))
}

func (t *telemetry) restart(server string) {
	t.restarts.Add(context.Background(), 1, metric.WithAttributes(AttrServer.String(server)))
}

func (t *telemetry) close() {
	if t.reg != nil {
		_ = t.reg.Unregister()
	}
}
