package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
	"github.com/taylordash/taylordash/store"
)

func TestValidateApp(t *testing.T) {
	invoke := fx.Invoke(func(trace.TracerProvider, metric.MeterProvider, propagation.TextMapPropagator,
		*prometheus.Registry, prometheus.Registerer, prometheus.Gatherer, pgx.QueryTracer,
		*observability.Providers, *slog.Logger, *dashcore.Server) {
	})
	if err := fx.ValidateApp(fx.NopLogger, dashcore.Module, observability.Module, invoke); err != nil {
		t.Errorf("without store: %v", err)
	}
	// With store the pgx tracer feeds the pool, and the pool the collector:
	// no cycle.
	if err := fx.ValidateApp(fx.NopLogger, dashcore.Module, store.Module, observability.Module, invoke, fx.Invoke(func(*store.DB) {})); err != nil {
		t.Errorf("with store: %v", err)
	}
}

// syncBuffer is a log sink's destination, read while the app runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// keepOnShutdown keeps the spans of an in-memory exporter past Shutdown
// (which would reset them), to see what the providers flushed on stop.
type keepOnShutdown struct{ *tracetest.InMemoryExporter }

func (keepOnShutdown) Shutdown(context.Context) error { return nil }

func TestModule(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	var sink syncBuffer
	var (
		srv  *dashcore.Server
		prov *observability.Providers
		log  *slog.Logger
	)
	app := fxtest.New(t,
		fx.NopLogger,
		dashcore.Module,
		observability.Module,
		dashcore.WithEnv(map[string]string{
			"TAYLORDASH_HTTP_ADDR":    "127.0.0.1:0",
			"TAYLORDASH_SERVICE_NAME": "module-test",
			"TAYLORDASH_LOG_LEVEL":    "error",
			"OTEL_TRACES_SAMPLER":     "always_on",
		}),
		fx.Supply(fx.Annotate(keepOnShutdown{spans}, fx.As(new(sdktrace.SpanExporter)))),
		fx.Provide(observability.AsLogSink(func() slog.Handler { return slog.NewJSONHandler(&sink, nil) })),
		fx.Provide(dashcore.AsRoutes(thingRoutes)),
		fx.Populate(&srv, &prov, &log),
	)
	app.RequireStart()

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/things/7", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	traceID := res.Header.Get(observability.TraceIDHeader)
	if res.StatusCode != http.StatusOK || len(traceID) != 32 {
		t.Fatalf("GET /things/7: %d, %s %q", res.StatusCode, observability.TraceIDHeader, traceID)
	}

	// /metrics is served through dashcore, with the request just made.
	res, err = http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	res.Body.Close()
	if want := `http_requests_total{method="GET",route="/things/{id}",status_class="2xx"} 1`; !strings.Contains(body.String(), want) {
		t.Errorf("/metrics lacks %s:\n%s", want, body.String())
	}
	if !strings.Contains(body.String(), `service_name="module-test"`) {
		t.Errorf("/metrics target_info lacks the service name")
	}

	// The application logger is wrapped: sinks get correlated, redacted records.
	ctx, span := prov.TracerProvider.Tracer("test").Start(context.Background(), "work")
	log.InfoContext(ctx, "hello", "password", "p")
	span.End()
	var rec map[string]any
	lines := strings.Split(strings.TrimSpace(sink.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
		t.Fatalf("sink got %q: %v", sink.String(), err)
	}
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["password"] != observability.Redacted {
		t.Errorf("sink record %v", rec)
	}
	if n := strings.Count(lines[1], `"request_id"`); n != 1 {
		t.Errorf("access log line has request_id %d times: %s", n, lines[1])
	}
	var access map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &access); err != nil || access["msg"] != "http request" ||
		access["trace_id"] != traceID || len(fmt.Sprint(access["span_id"])) != 16 {
		t.Errorf("the access log line is not correlated with the request's trace %s: %s", traceID, lines[1])
	}

	app.RequireStop() // flushes the batched exporter
	var names []string
	for _, s := range spans.GetSpans() {
		names = append(names, s.Name)
		if s.Name == "GET /things/{id}" && s.SpanContext.TraceID().String() != traceID {
			t.Errorf("server span trace %s, header %s", s.SpanContext.TraceID(), traceID)
		}
	}
	if !strings.Contains(strings.Join(names, ","), "GET /things/{id}") || !strings.Contains(strings.Join(names, ","), "work") {
		t.Errorf("spans after stop: %v", names)
	}
}
