package observability

import (
	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// NewQueryTracer returns the pgx tracer that records a client span per
// query, batch, copy, connect and prepare under the caller's span (pass it as store.Config.Tracer, or let observability.Module
// provide it to store.Module), and the db.client.operation.duration
// histogram by operation (SELECT, INSERT, …) to mp. SQL text is recorded
// in the span; query parameters are not.
//
// conn are attributes added to every span, normally
// [ConnectionAttributes] of the pool's URL. otelpgx could derive them
// itself, but it copies the whole pool and connection configuration
// (several kilobytes) for every query and acquire to do so, which tripled
// the tracer's cost per query (BenchmarkObservabilityDB); computed once
// here, they cost nothing per query. Pool acquires get no span of their
// own (it would double the spans of every request that makes one query);
// waits for a connection show in the taylor_db_pool_* metrics
// ([NewPoolCollector]) and as a gap before the query's span.
func NewQueryTracer(tp trace.TracerProvider, mp metric.MeterProvider, conn ...attribute.KeyValue) pgx.QueryTracer {
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(tp),
		otelpgx.WithMeterProvider(mp),
		otelpgx.WithMetricOperationName(otelpgx.SQLOperationName),
		otelpgx.WithDisableConnectionDetailsInAttributes(),
		otelpgx.WithDisableAcquireTracer(),
		otelpgx.WithTracerAttributes(append([]attribute.KeyValue{attribute.String("db.system.name", "postgresql")}, conn...)...),
	)
}

// ConnectionAttributes returns the span attributes that name the database
// of a PostgreSQL URL: server.address, server.port, db.namespace and
// user.name (never the password). A URL that does not parse gives none.
func ConnectionAttributes(url string) []attribute.KeyValue {
	if url == "" {
		return nil
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil
	}
	return []attribute.KeyValue{
		attribute.String("server.address", cfg.Host),
		attribute.Int("server.port", int(cfg.Port)),
		attribute.String("db.namespace", cfg.Database),
		attribute.String("user.name", cfg.User),
	}
}
