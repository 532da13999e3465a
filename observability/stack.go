package observability

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// StackService is one part of the stack in GET /api/v1/health/stack.
type StackService struct {
	// Status is healthy or unhealthy.
	Status string `json:"status" enum:"healthy,unhealthy"`
	// Type says what the part is: postgresql, mqtt, go, or component.
	Type string `json:"type" example:"postgresql"`
	// Message says what was found, in words.
	Message string `json:"message" example:"the database answers"`
	// Required parts make the whole stack unhealthy when they are.
	Required bool `json:"required"`
	// DurationMS is how long the check took.
	DurationMS float64 `json:"duration_ms"`
}

// StackBody is the body of GET /api/v1/health/stack: the original's shape
// (overall_status, services, timestamp), with every readiness check of
// the application as a service.
type StackBody struct {
	// OverallStatus is healthy when every required part is.
	OverallStatus string `json:"overall_status" enum:"healthy,unhealthy" example:"healthy"`
	// Services holds each part by name: "api" and every health check
	// ("database", "mqtt", ...).
	Services map[string]StackService `json:"services"`
	// Timestamp is when the checks ran.
	Timestamp time.Time `json:"timestamp"`
}

type stackOutput struct {
	Status int
	Body   StackBody
}

// stackTypes names the type of the known checks, as the original did.
var stackTypes = map[string]string{"database": "postgresql", "mqtt": "mqtt", "plugins": "plugin-host"}

// StackRoutes serves GET /api/v1/health/stack (permission health:read):
// every readiness check (dashcore.HealthCheck) run now, 200 when every
// required one passes, 503 otherwise. Unlike the original it reports the
// broker unhealthy when the connection is down, and its messages never
// carry an internal error's text.
func StackRoutes(checks []dashcore.HealthCheck, timeout time.Duration, log *slog.Logger) dashcore.Routes {
	return dashcore.Routes{Name: "health.stack", Register: func(api huma.API) {
		huma.Register(api, auth.Require(huma.Operation{
			OperationID: "health-stack", Method: http.MethodGet, Path: "/api/v1/health/stack", Tags: []string{"health"},
			Summary:     "Health of the whole stack",
			Errors:      []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests},
			Description: "Runs every health check now (database, broker, and those other modules add) and reports each part; 503 when a required part is unhealthy.",
			Responses: map[string]*huma.Response{"503": {Description: "A required part is unhealthy; the body says which.",
				Content: map[string]*huma.MediaType{"application/json": {}}}},
		}, "health", "read"), func(ctx context.Context, _ *struct{}) (*stackOutput, error) {
			results, ok := dashcore.RunChecks(ctx, checks, timeout, log)
			body := StackBody{OverallStatus: "healthy", Timestamp: time.Now().UTC(), Services: map[string]StackService{
				"api": {Status: "healthy", Type: "go", Message: "API server is running", Required: true},
			}}
			for name, r := range results {
				typ := stackTypes[name]
				if typ == "" {
					typ = "component"
				}
				msg := "healthy"
				if r.Status != "healthy" {
					msg = r.Error
				}
				body.Services[name] = StackService{Status: r.Status, Type: typ, Message: msg, Required: r.Required, DurationMS: r.DurationMS}
			}
			out := &stackOutput{Status: http.StatusOK, Body: body}
			if !ok {
				out.Status = http.StatusServiceUnavailable
				out.Body.OverallStatus = "unhealthy"
			}
			return out, nil
		})
	}}
}
