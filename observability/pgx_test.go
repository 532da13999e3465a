package observability_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/observability"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

func TestQueryTracerAndPoolCollector(t *testing.T) {
	pg := testkit.Postgres(t)
	spans := tracetest.NewInMemoryExporter()
	p, err := observability.New(context.Background(), observability.Config{}, observability.Options{
		SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(spans)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	db, err := store.Open(context.Background(), store.Config{URL: pg.URL, Tracer: observability.NewQueryTracer(p.TracerProvider, p.MeterProvider, observability.ConnectionAttributes(pg.URL)...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := p.Registry.Register(observability.NewPoolCollector(db)); err != nil {
		t.Fatal(err)
	}

	ctx, parent := p.TracerProvider.Tracer("test").Start(context.Background(), "request")
	var n int
	if err := db.QueryRow(ctx, "SELECT 1 + $1::int", 1).Scan(&n); err != nil || n != 2 {
		t.Fatalf("query: %d, %v", n, err)
	}
	parent.End()

	var query sdktrace.ReadOnlySpan
	for _, s := range spans.GetSpans().Snapshots() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() && s.SpanKind() == trace.SpanKindClient && s.Name() == "SELECT" {
			query = s
		}
	}
	if query == nil {
		var names []string
		for _, s := range spans.GetSpans() {
			names = append(names, s.Name)
		}
		t.Fatalf("no client query span under the request span; spans: %v", names)
	}
	attrs := map[string]string{}
	for _, kv := range query.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	cfg, _ := pgx.ParseConfig(pg.URL)
	if attrs["db.system.name"] != "postgresql" || attrs["db.namespace"] != cfg.Database || attrs["server.address"] != cfg.Host ||
		attrs["server.port"] != fmt.Sprint(cfg.Port) || attrs["db.query.text"] != "SELECT 1 + $1::int" {
		t.Errorf("query span attributes: %v", attrs)
	}

	// The pool has served at least the query and the readiness ping.
	if c, err := testutil.GatherAndCount(p.Registry, "taylor_db_pool_acquires_total", "taylor_db_pool_max_connections"); err != nil || c != 2 {
		t.Fatalf("pool metrics: %d series, %v", c, err)
	}
	mfs, err := p.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "taylor_db_pool_acquires_total":
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v < 1 {
				t.Errorf("acquires = %v, want ≥ 1", v)
			}
		case "taylor_db_pool_max_connections":
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v != float64(db.Stat().MaxConns()) {
				t.Errorf("max = %v, want %d", v, db.Stat().MaxConns())
			}
		}
	}
	if c, err := testutil.GatherAndCount(p.Registry, "db_client_operation_duration_seconds"); err != nil || c == 0 {
		t.Errorf("db_client_operation_duration_seconds: %d series, %v", c, err)
	}
	if problems, err := testutil.CollectAndLint(observability.NewPoolCollector(db)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
