package dashcore_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

// check contributes a readiness check through the value group.
func check(c dashcore.HealthCheck) fx.Option {
	return fx.Provide(dashcore.AsHealthCheck(func() dashcore.HealthCheck { return c }))
}

func passing(ctx context.Context) error { return nil }

// readiness is the decoded body of /health/ready.
type readiness struct {
	Status  string                          `json:"status"`
	Service string                          `json:"service"`
	Detail  string                          `json:"detail"`
	Checks  map[string]dashcore.CheckResult `json:"checks"`
	raw     map[string]any
}

func ready(t *testing.T, app *testkit.TestApp) (*http.Response, readiness) {
	t.Helper()
	resp, body := get(t, app.Client, app.URL+"/health/ready")
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("ready body %s: %v", body, err)
	}
	if err := json.Unmarshal(body, &r.raw); err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp, r
}

func TestLiveness(t *testing.T) {
	app := testkit.App(t, dashcore.Module, testkit.Env(map[string]string{"TAYLORDASH_SERVICE_NAME": "svc-under-test"}),
		check(dashcore.HealthCheck{Name: "database", Check: func(context.Context) error { return errors.New("down") }}))
	resp, body := get(t, app.Client, app.URL+"/health/live")
	if resp.StatusCode != http.StatusOK || string(body) != `{"status":"alive","service":"svc-under-test"}`+"\n" {
		t.Errorf("GET /health/live: %d %s", resp.StatusCode, body)
	}
}

func TestReadinessWithoutChecks(t *testing.T) {
	app := testkit.App(t, dashcore.Module)
	resp, r := ready(t, app)
	if resp.StatusCode != http.StatusOK || r.Status != "ready" || r.Service != "taylordash-backend" || len(r.Checks) != 0 || r.Detail != "" {
		t.Errorf("GET /health/ready: %d %+v", resp.StatusCode, r)
	}
	if _, ok := r.raw["checks"].(map[string]any); !ok {
		t.Errorf("checks is not an object: %v", r.raw)
	}
}

func TestReadinessFailingRequiredCheck(t *testing.T) {
	const internal = "dial tcp 10.0.0.7:5432: password authentication failed for user admin"
	app := testkit.App(t, dashcore.Module,
		check(dashcore.HealthCheck{Name: "cache", Check: passing}),
		check(dashcore.HealthCheck{Name: "database", Check: func(context.Context) error { return errors.New(internal) }}),
		check(dashcore.HealthCheck{Name: "broker", Check: func(context.Context) error {
			return dashcore.NewError(dashcore.ErrUnavailable, "broker unreachable", errors.New(internal))
		}}),
		check(dashcore.HealthCheck{Name: "search", Optional: true, Check: func(context.Context) error { return errors.New(internal) }}),
	)
	resp, r := ready(t, app)
	if resp.StatusCode != http.StatusServiceUnavailable || r.Status != "not_ready" {
		t.Fatalf("GET /health/ready: %d %+v", resp.StatusCode, r)
	}
	if r.Detail != "Broker, database not ready" {
		t.Errorf("detail %q", r.Detail)
	}
	for name, want := range map[string]string{"cache": "healthy", "database": "unhealthy", "broker": "unhealthy", "search": "unhealthy"} {
		if r.raw[name] != want {
			t.Errorf("top-level %q = %v, want %q", name, r.raw[name], want)
		}
		if r.Checks[name].Status != want {
			t.Errorf("checks.%s.status = %q, want %q", name, r.Checks[name].Status, want)
		}
	}
	if c := r.Checks["database"]; c.Error != "check failed" || !c.Required {
		t.Errorf("checks.database = %+v", c)
	}
	if c := r.Checks["broker"]; c.Error != "broker unreachable" {
		t.Errorf("checks.broker = %+v, want the public detail", c)
	}
	if c := r.Checks["search"]; c.Required {
		t.Errorf("checks.search = %+v, want not required", c)
	}
	if c := r.Checks["cache"]; c.Error != "" || c.DurationMS < 0 {
		t.Errorf("checks.cache = %+v", c)
	}
	for _, leak := range []string{"10.0.0.7", "password"} {
		if b, _ := json.Marshal(r.raw); strings.Contains(string(b), leak) {
			t.Errorf("readiness leaks %q: %s", leak, b)
		}
	}
}

func TestReadinessOptionalFailureKeepsReady(t *testing.T) {
	app := testkit.App(t, dashcore.Module,
		check(dashcore.HealthCheck{Name: "database", Check: passing}),
		check(dashcore.HealthCheck{Name: "mqtt", Optional: true, Check: func(context.Context) error { return errors.New("down") }}),
	)
	resp, r := ready(t, app)
	if resp.StatusCode != http.StatusOK || r.Status != "ready" || r.Detail != "" {
		t.Errorf("GET /health/ready: %d %+v", resp.StatusCode, r)
	}
	if r.raw["database"] != "healthy" || r.raw["mqtt"] != "unhealthy" || r.Checks["mqtt"].Error != "check failed" {
		t.Errorf("body %v", r.raw)
	}
}

func TestReadinessTimeoutsAndPanics(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	app := testkit.App(t, dashcore.Module,
		testkit.Env(map[string]string{"TAYLORDASH_HTTP_HEALTH_TIMEOUT": "200ms"}),
		// slow honours its context; stuck ignores it.
		check(dashcore.HealthCheck{Name: "slow", Check: func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return nil
			}
		}}),
		check(dashcore.HealthCheck{Name: "stuck", Check: func(context.Context) error {
			<-release
			return nil
		}}),
		check(dashcore.HealthCheck{Name: "own-timeout", Timeout: 50 * time.Millisecond, Check: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}}),
		check(dashcore.HealthCheck{Name: "panics", Check: func(context.Context) error { panic("secret panic value") }}),
		check(dashcore.HealthCheck{Name: "nil-func"}),
		check(dashcore.HealthCheck{Name: "fast", Check: passing}),
	)
	start := time.Now()
	resp, r := ready(t, app)
	elapsed := time.Since(start)
	if elapsed > 2*time.Second {
		t.Errorf("readiness took %v with a 200ms check timeout", elapsed)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || r.Status != "not_ready" {
		t.Fatalf("GET /health/ready: %d %+v", resp.StatusCode, r)
	}
	for name, wantErr := range map[string]string{
		"slow":        "timed out after 200ms",
		"stuck":       "timed out after 200ms",
		"own-timeout": "timed out after 50ms",
		"panics":      "check failed",
		"nil-func":    "check failed",
	} {
		if c := r.Checks[name]; c.Status != "unhealthy" || c.Error != wantErr {
			t.Errorf("checks.%s = %+v, want unhealthy %q", name, c, wantErr)
		}
	}
	if c := r.Checks["slow"]; c.DurationMS < 150 || c.DurationMS > 1500 {
		t.Errorf("checks.slow took %vms, want about 200", c.DurationMS)
	}
	if r.raw["fast"] != "healthy" {
		t.Errorf("fast = %v", r.raw["fast"])
	}
	// The server is still up.
	if resp, _ := get(t, app.Client, app.URL+"/health/live"); resp.StatusCode != http.StatusOK {
		t.Errorf("after a panicking check, /health/live answers %d", resp.StatusCode)
	}
}

func TestHealthCheckNames(t *testing.T) {
	tests := []struct {
		name   string
		checks []dashcore.HealthCheck
		want   string
	}{
		{"empty", []dashcore.HealthCheck{{Check: passing}}, "health check with no name"},
		{"duplicate", []dashcore.HealthCheck{{Name: "db", Check: passing}, {Name: "db", Check: passing}}, `two health checks are named "db"`},
		{"reserved", []dashcore.HealthCheck{{Name: "status", Check: passing}}, `health check name "status" is reserved`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Checks: tt.checks})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewHandler error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestReadinessDocumentsItsBody(t *testing.T) {
	app := testkit.App(t, dashcore.Module)
	_, body := get(t, app.Client, app.URL+"/openapi.json")
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	responses := doc.Paths["/health/ready"]["get"].Responses
	ok, unavailable := responses["200"].Content["application/json"], responses["503"].Content["application/json"]
	if len(unavailable) == 0 || string(ok) != string(unavailable) {
		t.Errorf("the 503 response does not document the readiness body:\n200: %s\n503: %s", ok, unavailable)
	}
}
