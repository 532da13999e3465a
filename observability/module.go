package observability

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Module provides, from the OTEL_* variables (read from dashcore's
// Environment): *Providers and their parts trace.TracerProvider,
// metric.MeterProvider, propagation.TextMapPropagator, *prometheus.Registry
// (also as prometheus.Registerer and prometheus.Gatherer), and the
// pgx.QueryTracer that store.Module uses. It contributes to dashcore the
// HTTP instrumentation middleware, the /metrics route
// (TAYLORDASH_METRICS_*) and the log handler wrapper that correlates,
// redacts and fans records out to the [LogSinksGroup] sinks. With
// store.Module in the application, the pool statistics are collected too.
// Providers are flushed and shut down on stop; nothing is set globally.
// The OTLP endpoint is checked with the application's dashcore.TLSPolicy,
// if any: http:// to another machine is warned about, or refused with
// TAYLORDASH_REQUIRE_TLS.
// It needs dashcore.Module (or a supplied dashcore.Environment).
//
// An optional sdktrace.SpanExporter in the graph receives every span in
// addition to the configured exporter (tests supply an in-memory one).
var Module = fx.Module("observability",
	dashcore.ProvideConfig[MetricsConfig](),
	fx.Provide(
		newModuleConfig,
		newModuleProviders,
		func(p *Providers) trace.TracerProvider { return p.TracerProvider },
		func(p *Providers) metric.MeterProvider { return p.MeterProvider },
		func(p *Providers) propagation.TextMapPropagator { return p.Propagator },
		func(p *Providers) *prometheus.Registry { return p.Registry },
		func(r *prometheus.Registry) prometheus.Registerer { return r },
		func(r *prometheus.Registry) prometheus.Gatherer { return r },
		newModuleQueryTracer,
		dashcore.AsMiddleware(newModuleMiddleware),
		dashcore.AsRoutes(newModuleMetricsRoutes),
		dashcore.AsLogHandlerWrapper(newModuleLogWrapper),
		dashcore.AsRoutes(newModuleStackRoutes),
	),
)

type stackParams struct {
	fx.In
	Checks []dashcore.HealthCheck `group:"dashcore.health"`
	Config dashcore.Config
	Logger *slog.Logger `optional:"true"`
}

// newModuleStackRoutes serves GET /api/v1/health/stack over every health
// check of the application.
func newModuleStackRoutes(p stackParams) dashcore.Routes {
	return StackRoutes(p.Checks, p.Config.HTTP.HealthTimeout, p.Logger)
}

// LogSinksGroup collects extra log destinations: every record of the
// application logger is sent, correlated and redacted, to each of them.
const LogSinksGroup = "observability.log_sinks"

// AsLogSink annotates a constructor returning slog.Handler as a log sink:
// fx.Provide(observability.AsLogSink(newPostgresSink)). The constructor
// must not depend on *slog.Logger, directly or through its dependencies
// (a sink needing *store.DB would close a cycle, since store takes the
// logger): such a sink should start queueing at once and receive its
// dependencies later, from an fx.Invoke or OnStart hook. Sinks must not
// block: Handle runs on the logging goroutine.
func AsLogSink(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"`+LogSinksGroup+`"`))
}

type moduleConfigParams struct {
	fx.In
	Env       dashcore.Environment
	Core      dashcore.Config     `optional:"true"`
	Info      dashcore.Info       `optional:"true"`
	TLSPolicy *dashcore.TLSPolicy `optional:"true"`
}

func newModuleConfig(p moduleConfigParams) (Config, error) {
	cfg, err := ConfigFromEnv(p.Env, p.Core.ServiceName, p.Info.Version)
	if err != nil {
		return Config{}, fmt.Errorf("observability: configuration: %w", err)
	}
	if err := p.TLSPolicy.Check(cfg.Endpoints()...); err != nil {
		return Config{}, fmt.Errorf("observability: %w", err)
	}
	return cfg, nil
}

type moduleProvidersParams struct {
	fx.In
	Config       Config
	SpanExporter sdktrace.SpanExporter `optional:"true"`
	Lifecycle    fx.Lifecycle
}

func newModuleProviders(p moduleProvidersParams) (*Providers, error) {
	prov, err := New(context.Background(), p.Config, Options{SpanExporter: p.SpanExporter})
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(prov.Shutdown))
	return prov, nil
}

func newModuleMiddleware(p *Providers) (dashcore.Middleware, error) {
	h, err := NewHTTPInstrumentation(p.TracerProvider, p.MeterProvider, p.Propagator)
	if err != nil {
		return dashcore.Middleware{}, err
	}
	return h.Middleware(), nil
}

type moduleMetricsParams struct {
	fx.In
	Config   MetricsConfig
	Registry *prometheus.Registry
	DB       *store.DB `optional:"true"`
}

// newModuleMetricsRoutes registers the pool collector here rather than in
// newModuleProviders: *store.DB depends on the pgx tracer, which depends
// on the providers.
func newModuleMetricsRoutes(p moduleMetricsParams) (dashcore.Routes, error) {
	if p.DB != nil {
		if err := p.Registry.Register(NewPoolCollector(p.DB)); err != nil {
			return dashcore.Routes{}, fmt.Errorf("observability: register pool collector: %w", err)
		}
	}
	return MetricsRoutes(p.Registry, p.Config), nil
}

type moduleLogParams struct {
	fx.In
	Sinks []slog.Handler `group:"observability.log_sinks"`
}

func newModuleLogWrapper(p moduleLogParams) dashcore.LogHandlerWrapper {
	return dashcore.LogHandlerWrapper{
		Name:  "observability",
		Order: LogWrapperOrder,
		Wrap:  func(h slog.Handler) slog.Handler { return NewLogHandler(h, p.Sinks...) },
	}
}

type queryTracerParams struct {
	fx.In
	Providers *Providers
	Store     store.Config `optional:"true"`
}

// newModuleQueryTracer is the pgx tracer for store.Module, naming the
// configured database in its spans.
func newModuleQueryTracer(p queryTracerParams) pgx.QueryTracer {
	var conn []attribute.KeyValue
	if p.Store.URL != "" {
		conn = ConnectionAttributes(p.Store.URL)
	}
	return NewQueryTracer(p.Providers.TracerProvider, p.Providers.MeterProvider, conn...)
}
