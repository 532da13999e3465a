package observability_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
	"github.com/taylordash/taylordash/store"
	"github.com/taylordash/taylordash/testkit"
)

// discardExporter drops spans after the batching processor hands them
// over, so that the benchmark measures the SDK, not an exporter.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// benchRoutes is GET /things/{id}, which writes one log line.
func benchRoutes(log *slog.Logger) dashcore.Routes {
	return dashcore.Routes{
		Name: "things",
		Register: func(api huma.API) {
			huma.Get(api, "/things/{id}", func(ctx context.Context, in *thingInput) (*thingOutput, error) {
				log.InfoContext(ctx, "thing read", "id", in.ID)
				out := &thingOutput{}
				out.Body.ID = in.ID
				return out, nil
			})
		},
	}
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func serveLoop(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/things/42", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkObservability compares, in one run, the same dashcore handler
// (one huma route writing one log line, plus dashcore's access log line,
// both as JSON to io.Discard) without observability (raw) and with the
// whole chain (observed): a server span sampled at 100 % by a real
// sdktrace provider through a batching processor, the HTTP metrics, and
// the log handler correlating and redacting both lines. observed reports
// its overhead over raw in percent and in ns per request, measured by
// serving both in alternating rounds (see interleaved).
func BenchmarkObservability(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	raw, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Logger: log, Routes: []dashcore.Routes{benchRoutes(log)}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw", func(b *testing.B) {
		serveLoop(b, raw)
	})
	b.Run("observed", func(b *testing.B) {
		p, err := observability.New(context.Background(), observability.Config{Sampler: observability.SamplerAlwaysOn},
			observability.Options{SpanExporter: discardExporter{}})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = p.Shutdown(context.Background()) }()
		inst, err := observability.NewHTTPInstrumentation(p.TracerProvider, p.MeterProvider, p.Propagator)
		if err != nil {
			b.Fatal(err)
		}
		log := slog.New(observability.NewLogHandler(slog.NewJSONHandler(io.Discard, nil)))
		h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
			Logger:     log,
			Routes:     []dashcore.Routes{benchRoutes(log)},
			Middleware: []dashcore.Middleware{inst.Middleware()},
		})
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, h)
		b.StopTimer()
		ratio, delta := interleaved(raw, h, 500)
		b.ReportMetric((ratio-1)*100, "overhead_%")
		b.ReportMetric(delta, "overhead_ns/op")
	})
}

// interleaved serves raw and observed in alternating rounds of per
// requests and returns the median of the rounds' time ratios
// (observed/raw) and of their per-request differences. Alternating keeps
// the comparison fair on a machine whose load changes during the run,
// which comparing two sub-benchmarks run seconds apart is not.
func interleaved(raw, observed http.Handler, per int) (ratio, deltaNs float64) {
	req := httptest.NewRequest(http.MethodGet, "/things/42", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	w := &discardWriter{h: http.Header{}}
	const rounds = 31
	timeOf := func(h http.Handler) float64 {
		start := time.Now()
		for range per {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
		return float64(time.Since(start).Nanoseconds()) / float64(per)
	}
	ratios := make([]float64, rounds)
	deltas := make([]float64, rounds)
	for i := range rounds {
		r, o := timeOf(raw), timeOf(observed)
		ratios[i], deltas[i] = o/r, o-r
	}
	slices.Sort(ratios)
	slices.Sort(deltas)
	return ratios[rounds/2], deltas[rounds/2]
}

// dbRoutes is GET /things/{id} reading one row by primary key, the
// commonest request of a dashboard API, writing one log line.
func dbRoutes(db *store.DB, log *slog.Logger) dashcore.Routes {
	return dashcore.Routes{
		Name: "things",
		Register: func(api huma.API) {
			huma.Get(api, "/things/{id}", func(ctx context.Context, in *thingInput) (*thingRowOutput, error) {
				out := &thingRowOutput{}
				err := db.QueryRow(ctx, "SELECT id::text, name, created_at FROM bench_things WHERE id = $1", in.ID).
					Scan(&out.Body.ID, &out.Body.Name, &out.Body.CreatedAt)
				if err != nil {
					return nil, store.MapError(err)
				}
				log.InfoContext(ctx, "thing read", "id", in.ID)
				return out, nil
			})
		},
	}
}

type thingRowOutput struct {
	Body struct {
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
	}
}

// BenchmarkObservabilityDB is BenchmarkObservability with a handler that
// does what most API requests do: read one row from PostgreSQL (a test
// database on the local server) by primary key. observed adds, on top of
// the HTTP chain, a client span per query (otelpgx) and the query
// duration histogram. Both use their own pool of the same size.
func BenchmarkObservabilityDB(b *testing.B) {
	ctx := context.Background()
	tdb := testkit.Postgres(b)
	open := func(tracer pgx.QueryTracer) *store.DB {
		db, err := store.Open(ctx, store.Config{URL: tdb.URL, MaxConns: 4, Tracer: tracer})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(db.Close)
		return db
	}
	rawDB := open(nil)
	if _, err := rawDB.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_things (id int PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO bench_things (id, name) SELECT i, 'thing ' || i FROM generate_series(1, 100) i ON CONFLICT DO NOTHING`); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	raw, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Logger: log, Routes: []dashcore.Routes{dbRoutes(rawDB, log)}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw", func(b *testing.B) {
		serveLoop(b, raw)
	})
	b.Run("observed", func(b *testing.B) {
		p, err := observability.New(ctx, observability.Config{Sampler: observability.SamplerAlwaysOn},
			observability.Options{SpanExporter: discardExporter{}})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = p.Shutdown(ctx) }()
		inst, err := observability.NewHTTPInstrumentation(p.TracerProvider, p.MeterProvider, p.Propagator)
		if err != nil {
			b.Fatal(err)
		}
		db := open(observability.NewQueryTracer(p.TracerProvider, p.MeterProvider, observability.ConnectionAttributes(tdb.URL)...))
		log := slog.New(observability.NewLogHandler(slog.NewJSONHandler(io.Discard, nil)))
		h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
			Logger:     log,
			Routes:     []dashcore.Routes{dbRoutes(db, log)},
			Middleware: []dashcore.Middleware{inst.Middleware()},
		})
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, h)
		b.StopTimer()
		ratio, delta := interleaved(raw, h, 100)
		b.ReportMetric((ratio-1)*100, "overhead_%")
		b.ReportMetric(delta, "overhead_ns/op")
	})
}
