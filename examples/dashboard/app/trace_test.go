package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/observability"
	"github.com/taylordash/taylordash/testkit"
)

// TestOneTraceFromRequestToMirror: one write (POST /api/v1/events/test)
// gives one trace holding the HTTP server span, its SQL spans, the outbox
// span, the relay's publish span, and the consumer's process and store
// spans; its id is the response's X-Trace-ID.
func TestOneTraceFromRequestToMirror(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	var prov *observability.Providers
	a := testkit.App(t, app.Modules(), testkit.Env(map[string]string{"TAYLORDASH_API_KEY": apiKey}),
		fx.Provide(func() sdktrace.SpanExporter { return exp }), fx.Populate(&prov))

	resp, body := call(t, a, http.MethodPost, "/api/v1/events/test", apiKey, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("test event: %d %s", resp.StatusCode, body)
	}
	traceID := resp.Header.Get("X-Trace-ID")
	if len(traceID) != 32 {
		t.Fatalf("X-Trace-ID %q", traceID)
	}

	want := []string{"POST /api/v1/events/test", "outbox ", "publish ", "process ", "store "}
	var names []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := prov.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		sql := 0
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() != traceID {
				continue
			}
			names = append(names, s.Name)
			if s.InstrumentationScope.Name == "github.com/exaring/otelpgx" || strings.HasPrefix(s.Name, "query") ||
				strings.Contains(strings.ToLower(s.Name), "insert") || strings.Contains(strings.ToLower(s.Name), "select") {
				sql++
			}
		}
		missing := ""
		for _, w := range want {
			found := false
			for _, n := range names {
				if strings.HasPrefix(n, w) {
					found = true
				}
			}
			if !found {
				missing = w
			}
		}
		if missing == "" && sql > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s lacks %q (SQL spans: %d); it holds %v", traceID, missing, sql, names)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("trace %s: %v", traceID, names)
}
