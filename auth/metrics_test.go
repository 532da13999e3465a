package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// TestGuardMetrics makes a known mix of requests and reads the guard's
// counters: each decision, each failure reason and each rate-limit hit is
// counted exactly once, under bounded labels.
func TestGuardMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	authz, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.NewAPIKeyAuthenticator(nil, auth.APIKeyConfig{BootstrapKey: "viewer-key-0123456789", BootstrapRoles: []string{"viewer"}}, nil)
	// A per-principal burst of 3 in the projects group: the 4th read is refused.
	limiter, err := auth.NewRateLimiter(auth.RateLimitConfig{Groups: []string{"projects.principal=1/1h:3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := auth.NewGuard(auth.GuardOptions{
		Authenticators: []auth.Authenticator{keys}, Authorizer: authz, Limiter: limiter, MeterProvider: mp,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes:     []dashcore.Routes{newProjectRoutes()},
		Middleware: []dashcore.Middleware{guard.Middleware()},
	})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, key string, want int) {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		if key != "" {
			req.Header.Set(auth.APIKeyHeader, key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("%s %s: %d, want %d", method, path, rec.Code, want)
		}
	}
	const viewer = "viewer-key-0123456789"
	do(http.MethodGet, "/api/v1/projects", "", 401)                        // unauthenticated
	do(http.MethodGet, "/api/v1/projects", "td_abcdefghijkl_guessed", 401) // invalid_credentials
	do(http.MethodGet, "/api/v1/projects", viewer, 200)                    // allowed
	do(http.MethodPost, "/api/v1/projects", viewer, 403)                   // forbidden
	do(http.MethodGet, "/api/v1/projects", viewer, 200)                    // allowed (third of the burst)
	do(http.MethodGet, "/api/v1/projects", viewer, 429)                    // rate limited
	do(http.MethodGet, "/api/v1/forgotten", viewer, 403)                   // undeclared
	do(http.MethodGet, "/health/live", "", 200)                            // public

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			got[m.Name] = map[string]int64{}
			for _, dp := range sum.DataPoints {
				got[m.Name][labels(dp.Attributes)] = dp.Value
			}
		}
	}
	want := map[string]map[string]int64{
		auth.MetricDecisions: {
			"decision=unauthenticated,method=none":       1,
			"decision=invalid_credentials,method=none":   1,
			"decision=allowed,method=bootstrap_key":      2,
			"decision=forbidden,method=bootstrap_key":    1,
			"decision=undeclared,method=bootstrap_key":   1,
			"decision=public,method=none":                1,
			"decision=rate_limited,method=bootstrap_key": 1,
		},
		auth.MetricFailures:    {"reason=unknown_key": 1},
		auth.MetricRateLimited: {"group=projects,scope=principal": 1},
	}
	for name, series := range want {
		for k, v := range series {
			if got[name][k] != v {
				t.Errorf("%s{%s} = %d, want %d (all: %v)", name, k, got[name][k], v, got[name])
			}
		}
		if len(got[name]) != len(series) {
			t.Errorf("%s has series %v, want exactly %v", name, got[name], series)
		}
	}
}

func labels(set attribute.Set) string {
	var s string
	for i, kv := range set.ToSlice() {
		if i > 0 {
			s += ","
		}
		s += string(kv.Key) + "=" + kv.Value.String()
	}
	return s
}
