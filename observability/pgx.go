package observability

import (
	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// NewQueryTracer returns the pgx tracer that records a client span per
// query, batch, copy, connect and prepare under the caller's span (pass it
// as store.Config.Tracer, or let observability.Module provide it to
// store.Module), and the db.client.operation.duration histogram by
// operation (SELECT, INSERT, …) to mp. SQL text is recorded in the span;
// query parameters are not.
func NewQueryTracer(tp trace.TracerProvider, mp metric.MeterProvider) pgx.QueryTracer {
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(tp),
		otelpgx.WithMeterProvider(mp),
		otelpgx.WithMetricOperationName(otelpgx.SQLOperationName),
	)
}
