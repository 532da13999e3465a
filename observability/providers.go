package observability

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Options are the collaborators of [New] that do not come from
// configuration. The zero value is ready to use.
type Options struct {
	// SpanExporter, if set, receives every sampled span through a
	// [BatchProcessor], in addition to the configured OTLP exporter. Tests pass
	// tracetest.NewInMemoryExporter() here (and call ForceFlush).
	SpanExporter sdktrace.SpanExporter
	// SpanProcessors are added as they are, after the exporters: a test
	// that wants spans at once passes sdktrace.NewSimpleSpanProcessor(exp).
	SpanProcessors []sdktrace.SpanProcessor
	// Registry receives the metrics; nil means a new registry with the Go
	// runtime and process collectors registered.
	Registry *prometheus.Registry
}

// Providers are the telemetry pipelines of one application: a tracer
// provider, a meter provider exporting into a Prometheus registry, and the
// propagator. Nothing is installed globally: pass them to the components
// that record. Shutdown flushes and stops them.
type Providers struct {
	// TracerProvider creates the spans. Its concrete type is
	// *sdktrace.TracerProvider unless the SDK is disabled.
	TracerProvider trace.TracerProvider
	// MeterProvider creates the instruments; their values are served from
	// Registry (see the package documentation for the naming rule).
	MeterProvider metric.MeterProvider
	// Registry holds every metric: the meter provider's, the Go runtime
	// and process collectors', and any collector registered directly.
	Registry *prometheus.Registry
	// Propagator reads and writes W3C traceparent/tracestate and baggage.
	Propagator propagation.TextMapPropagator

	shutdownOnce sync.Once
	shutdownErr  error
	shutdowns    []func(context.Context) error
}

// NewPropagator returns the W3C trace context and baggage propagator.
func NewPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// New builds the providers for cfg (defaults applied, then validated).
// ctx bounds the creation of the exporters only; the OTLP exporters
// connect lazily and do not fail when the collector is down.
func New(ctx context.Context, cfg Config, opts Options) (*Providers, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("observability: register Go collector: %w", err)
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("observability: register process collector: %w", err)
		}
	}
	p := &Providers{Registry: reg, Propagator: NewPropagator()}
	if cfg.Disabled {
		p.TracerProvider = tracenoop.NewTracerProvider()
		p.MeterProvider = metricnoop.NewMeterProvider()
		return p, nil
	}

	res := newResource(cfg)
	promExporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("observability: prometheus exporter: %w", err)
	}
	// No exemplars: the text exposition does not carry them, and they
	// cost every measurement made under a sampled span.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(promExporter), sdkmetric.WithResource(res),
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(newSampler(cfg)),
	}
	if cfg.TracesExporter == ExporterOTLP {
		exp, err := newOTLPExporter(ctx, cfg)
		if err != nil {
			_ = mp.Shutdown(ctx)
			return nil, err
		}
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(NewBatchProcessor(exp, BatchOptions{})))
	}
	if opts.SpanExporter != nil {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(NewBatchProcessor(opts.SpanExporter, BatchOptions{})))
	}
	for _, sp := range opts.SpanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	p.TracerProvider = tp
	p.MeterProvider = mp
	// Traces first: ending spans may still record metrics.
	p.shutdowns = []func(context.Context) error{tp.Shutdown, mp.Shutdown}
	return p, nil
}

// ForceFlush exports every span ended so far; tests call it before
// reading an exporter.
func (p *Providers) ForceFlush(ctx context.Context) error {
	if tp, ok := p.TracerProvider.(*sdktrace.TracerProvider); ok {
		if err := tp.ForceFlush(ctx); err != nil {
			return fmt.Errorf("observability: flush spans: %w", err)
		}
	}
	return nil
}

// Shutdown flushes the pending spans and stops the providers, within
// ctx's deadline. It is safe to call more than once; later calls return
// the first result.
func (p *Providers) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		var errs []error
		for _, f := range p.shutdowns {
			if err := f(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			p.shutdownErr = fmt.Errorf("observability: shutdown: %w", err)
		}
	})
	return p.shutdownErr
}

func newResource(cfg Config) *resource.Resource {
	attrs := make([]attribute.KeyValue, 0, len(cfg.ResourceAttributes)+3)
	for k, v := range cfg.ResourceAttributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	attrs = append(attrs,
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.instance.id", cfg.InstanceID),
		attribute.String("telemetry.sdk.language", "go"),
		attribute.String("telemetry.sdk.name", "opentelemetry"),
	)
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	// Later attributes win, so the named fields override the list.
	return resource.NewSchemaless(attrs...)
}

func newSampler(cfg Config) sdktrace.Sampler {
	switch cfg.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample()
	case SamplerAlwaysOff:
		return sdktrace.NeverSample()
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(cfg.SamplerArg)
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplerArg))
	default:
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}

// newOTLPExporter returns the OTLP trace exporter for cfg. Every setting is
// passed explicitly, so the exporter's own environment lookups never
// decide anything that Config holds.
func newOTLPExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	endpoint := cfg.TracesEndpoint
	if cfg.Protocol == ProtocolGRPC {
		if endpoint == "" {
			endpoint = cfg.Endpoint
		}
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("observability: OTLP gRPC exporter for %s: %w", redactURL(endpoint), err)
		}
		return exp, nil
	}
	if endpoint == "" {
		endpoint = strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/traces"
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("observability: OTLP HTTP exporter for %s: %w", redactURL(endpoint), err)
	}
	return exp, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}
