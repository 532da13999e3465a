package observability_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
)

// NewLogHandler correlates records with the request and redacts secrets.
func ExampleNewLogHandler() {
	base := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // stable output
			}
			return a
		},
	})
	log := slog.New(observability.NewLogHandler(base))
	ctx := dashcore.WithRequestID(context.Background(), "req-42")
	log.InfoContext(ctx, "login", "user", "ann", "password", "hunter2",
		slog.Group("headers", "Authorization", "Bearer abc", "Accept", "text/html"))
	// Output:
	// {"level":"INFO","msg":"login","user":"ann","password":"[REDACTED]","headers":{"Authorization":"[REDACTED]","Accept":"text/html"},"request_id":"req-42"}
}

// Without fx: build the providers, instrument a dashcore handler and
// serve /metrics from the same registry.
func Example() {
	ctx := context.Background()
	p, err := observability.New(ctx, observability.Config{ServiceName: "example"}, observability.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = p.Shutdown(ctx) }()
	inst, err := observability.NewHTTPInstrumentation(p.TracerProvider, p.MeterProvider, p.Propagator)
	if err != nil {
		fmt.Println(err)
		return
	}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes:     []dashcore.Routes{observability.MetricsRoutes(p.Registry, observability.MetricsConfig{})},
		Middleware: []dashcore.Middleware{inst.Middleware()},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/health/live", nil))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "http_requests_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// http_requests_total{method="GET",route="/health/live",status_class="2xx"} 2
}
