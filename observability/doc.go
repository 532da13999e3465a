// Package observability gives an application OpenTelemetry traces and
// metrics, a Prometheus /metrics endpoint, correlated and redacted logs,
// and HTTP and pgx instrumentation, with nothing installed globally.
//
// # Providers
//
// [New] builds a [Providers] from a [Config]: an sdktrace tracer provider
// with the configured sampler and, when OTEL_EXPORTER_OTLP_ENDPOINT is set,
// an OTLP exporter (HTTP or gRPC) behind a [BatchProcessor]; an sdkmetric
// meter provider whose Prometheus exporter writes into a
// *prometheus.Registry that also holds the Go runtime and process
// collectors; and the W3C trace context and baggage propagator. Without an
// exporter spans are still created and sampled, so that trace ids
// correlate logs, events and responses. [ConfigFromEnv] reads the standard
// OTEL_* variables; errors name the variable. Shutdown flushes and stops.
//
// # Module
//
// [Module] provides the providers to the fx graph (trace.TracerProvider,
// metric.MeterProvider, propagation.TextMapPropagator,
// *prometheus.Registry, prometheus.Registerer, prometheus.Gatherer and the
// pgx.QueryTracer that store.Module picks up) and contributes to dashcore:
//
//   - the HTTP instrumentation ([HTTPInstrumentation]) as a middleware at
//     [HTTPMiddlewareOrder], outside the auth guard: one server span per
//     request named "<METHOD> <route template>", child of the incoming
//     traceparent, the trace id in the [TraceIDHeader] response header,
//     and http_requests_total and http_request_duration_seconds by method,
//     route (the template, never the raw path) and status_class;
//   - GET /metrics ([MetricsRoutes]), optionally behind basic or bearer
//     authentication (TAYLORDASH_METRICS_*; see [MetricsConfig]);
//   - the log handler wrapper ([NewLogHandler]) around the application's
//     *slog.Logger, fanning records out to the sinks of [LogSinksGroup];
//   - with store.Module present, the pool statistics ([NewPoolCollector]).
//
// dashcore runs contributed middleware after routing: requests that match
// no route (404 of unknown paths, 405) are neither traced nor counted, which
// keeps the label space bounded by the routes. dashcore's own access log
// line is written outside the middleware, so it carries request_id but not
// trace_id.
//
// # Naming metrics
//
// Other modules take metric.MeterProvider and create instruments; the
// Prometheus exporter derives the exposed name from the instrument's:
// dots become underscores, the unit is appended as a suffix ("s" →
// _seconds, "By" → _bytes, "ms" → _milliseconds; annotations in braces
// such as "{request}" add nothing), and counters get _total. No
// otel_scope_* labels are added. So:
//
//	counter   "http_requests"                 → http_requests_total
//	histogram "http_request_duration", unit s → http_request_duration_seconds
//	counter   "taylor_ingest"                 → taylor_ingest_total
//	counter   "taylor_dlq"                    → taylor_dlq_total
//	histogram "taylor_event_latency", unit s  → taylor_event_latency_seconds
//
// Do not put the suffix in the instrument's name ("taylor_ingest_total"
// would become taylor_ingest_total_total), record durations in seconds
// with unit "s", and keep attribute values bounded (codes, templates,
// never ids or raw paths). Collectors written for client_golang register
// on the prometheus.Registerer instead and name themselves fully.
//
// # Logs
//
// [NewLogHandler] adds trace_id, span_id and request_id to every record
// whose context carries them, replaces the value of secret keys with
// "[REDACTED]" at any group depth ([IsSecretKey]), and sends each record to
// the base handler and to every sink. Sinks (contributed with [AsLogSink])
// must not block and must not depend on *slog.Logger.
package observability
