package dashcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// HealthCheck is a readiness check contributed by a module (the database,
// the broker). GET /health/ready runs every check concurrently, each within
// its Timeout, and answers 503 when any required check fails. Names must be
// unique, non-empty, and none of status, service, detail or checks.
type HealthCheck struct {
	// Name is the check's key in the response, e.g. "database".
	Name string
	// Check returns nil when the dependency is usable. Its error is logged;
	// clients see only the detail of a *dashcore.Error, or a generic text.
	// It must return when ctx ends; one that does not is reported as timed
	// out and left to finish in the background. A panic counts as failure.
	Check func(ctx context.Context) error
	// Optional checks are reported but never make the service unready.
	Optional bool
	// Timeout bounds the check; zero means HTTPConfig.HealthTimeout.
	Timeout time.Duration
}

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	// Status is "healthy" or "unhealthy".
	Status string `json:"status" enum:"healthy,unhealthy"`
	// Required tells whether a failure makes the service unready.
	Required bool `json:"required"`
	// DurationMS is how long the check took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Error says why the check failed, without internals.
	Error string `json:"error,omitempty"`
}

// LiveBody is the body of GET /health/live.
type LiveBody struct {
	// Status is always "alive".
	Status string `json:"status" example:"alive" doc:"Always \"alive\" while the process serves."`
	// Service is Config.ServiceName.
	Service string `json:"service" example:"taylordash-backend"`
}

// ReadyBody is the body of GET /health/ready. Besides the fields below,
// every check appears as a top-level key with its status, as the original
// API reported "database": "healthy".
type ReadyBody struct {
	// Status is "ready", or "not_ready" when a required check failed.
	Status string `json:"status" enum:"ready,not_ready"`
	// Service is Config.ServiceName.
	Service string `json:"service"`
	// Detail names the failed required checks, e.g. "Database not ready".
	Detail string `json:"detail,omitempty" doc:"Which required checks failed."`
	// Checks holds the result of every check by name.
	Checks map[string]CheckResult `json:"checks"`
}

// MarshalJSON adds the per-check status keys of the original API.
func (b ReadyBody) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(b.Checks)+4)
	for name, c := range b.Checks {
		m[name] = c.Status
	}
	m["status"] = b.Status
	m["service"] = b.Service
	if b.Detail != "" {
		m["detail"] = b.Detail
	}
	m["checks"] = b.Checks
	return json.Marshal(m)
}

// Schema documents ReadyBody, including the per-check status keys.
func (ReadyBody) Schema(r huma.Registry) *huma.Schema {
	checkStatus := &huma.Schema{Type: "string", Enum: []any{"healthy", "unhealthy"}}
	return &huma.Schema{
		Type:        "object",
		Description: "Readiness of the service. Every check also appears as a top-level key holding its status (e.g. \"database\": \"healthy\").",
		Properties: map[string]*huma.Schema{
			"status":  {Type: "string", Enum: []any{"ready", "not_ready"}},
			"service": {Type: "string"},
			"detail":  {Type: "string", Description: "Which required checks failed."},
			"checks": {
				Type:                 "object",
				AdditionalProperties: r.Schema(reflect.TypeFor[CheckResult](), true, "CheckResult"),
			},
		},
		Required:             []string{"status", "service", "checks"},
		AdditionalProperties: checkStatus,
		Examples: []any{map[string]any{
			"status": "ready", "service": "taylordash-backend", "database": "healthy",
			"checks": map[string]any{"database": map[string]any{"status": "healthy", "required": true, "duration_ms": 0.8}},
		}},
	}
}

type liveOutput struct {
	Body LiveBody
}

type readyOutput struct {
	Status int
	Body   ReadyBody
}

type healthOptions struct {
	service string
	timeout time.Duration
	checks  []HealthCheck
	log     *slog.Logger
}

func registerHealth(api huma.API, o healthOptions) {
	if o.service == "" {
		o.service = DefaultConfig().ServiceName
	}
	checks := slices.Clone(o.checks)
	slices.SortFunc(checks, func(a, b HealthCheck) int { return strings.Compare(a.Name, b.Name) })

	huma.Register(api, huma.Operation{
		OperationID: "health-live",
		Method:      http.MethodGet,
		Path:        "/health/live",
		Summary:     "Liveness",
		Description: "Answers 200 while the process serves requests. It checks no dependency.",
		Tags:        []string{"health"},
	}, func(context.Context, *struct{}) (*liveOutput, error) {
		return &liveOutput{Body: LiveBody{Status: "alive", Service: o.service}}, nil
	})

	readySchema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[ReadyBody](), true, "")
	huma.Register(api, huma.Operation{
		OperationID: "health-ready",
		Method:      http.MethodGet,
		Path:        "/health/ready",
		Summary:     "Readiness",
		Description: "Runs every registered check concurrently, each with a timeout. 200 when every required check passes, 503 otherwise.",
		Tags:        []string{"health"},
		Responses: map[string]*huma.Response{
			"503": {
				Description: "A required check failed; the body says which.",
				Content:     map[string]*huma.MediaType{"application/json": {Schema: readySchema}},
			},
		},
	}, func(ctx context.Context, _ *struct{}) (*readyOutput, error) {
		body := runChecks(ctx, checks, o)
		status := http.StatusOK
		if body.Status != "ready" {
			status = http.StatusServiceUnavailable
		}
		return &readyOutput{Status: status, Body: body}, nil
	})
}

func runChecks(ctx context.Context, checks []HealthCheck, o healthOptions) ReadyBody {
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			results[i] = runCheck(ctx, c, o)
		})
	}
	wg.Wait()

	body := ReadyBody{Status: "ready", Service: o.service, Checks: make(map[string]CheckResult, len(checks))}
	var failed []string
	for i, c := range checks {
		body.Checks[c.Name] = results[i]
		if results[i].Status != "healthy" && results[i].Required {
			failed = append(failed, c.Name)
		}
	}
	if len(failed) > 0 {
		body.Status = "not_ready"
		list := strings.Join(failed, ", ")
		first, size := utf8.DecodeRuneInString(list)
		body.Detail = string(unicode.ToUpper(first)) + list[size:] + " not ready"
	}
	return body
}

func runCheck(ctx context.Context, c HealthCheck, o healthOptions) CheckResult {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = o.timeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- safeCheck(cctx, c) }()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		// A check that ignores its context is abandoned, not waited for:
		// the probe must answer within the timeout.
		err = cctx.Err()
	}
	res := CheckResult{
		Status:     "healthy",
		Required:   !c.Optional,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000,
	}
	if err == nil {
		return res
	}
	res.Status = "unhealthy"
	var de *Error
	switch {
	case errors.As(err, &de) && de.Detail != "":
		res.Error = de.Detail
	case cctx.Err() != nil && ctx.Err() == nil:
		res.Error = fmt.Sprintf("timed out after %s", timeout)
	default:
		res.Error = "check failed"
	}
	o.log.WarnContext(ctx, "health check failed",
		slog.String("check", c.Name), slog.String("error", err.Error()),
		slog.String("request_id", RequestID(ctx)))
	return res
}

// reservedCheckNames are the fields of ReadyBody, which the per-check
// top-level keys must not shadow.
var reservedCheckNames = []string{"checks", "detail", "service", "status"}

// validateChecks rejects checks whose names would make the readiness body
// ambiguous: empty, duplicate or reserved names.
func validateChecks(checks []HealthCheck) error {
	seen := make(map[string]bool, len(checks))
	for _, c := range checks {
		switch {
		case c.Name == "":
			return errors.New("dashcore: health check with no name; set HealthCheck.Name, e.g. \"database\"")
		case seen[c.Name]:
			return fmt.Errorf("dashcore: two health checks are named %q; names must be unique", c.Name)
		case slices.Contains(reservedCheckNames, c.Name):
			return fmt.Errorf("dashcore: health check name %q is reserved: %s are fields of the readiness body", c.Name, strings.Join(reservedCheckNames, ", "))
		}
		seen[c.Name] = true
	}
	return nil
}

func safeCheck(ctx context.Context, c HealthCheck) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("health check %q panicked: %v", c.Name, v)
		}
	}()
	if c.Check == nil {
		return fmt.Errorf("health check %q has no Check function", c.Name)
	}
	return c.Check(ctx)
}

// RunChecks runs checks concurrently, each within its Timeout (else
// timeout), as GET /health/ready does, and returns each result by name
// and whether every required check passed. Failures are logged to log
// (nil: discarded). Other modules use it to serve richer health views.
func RunChecks(ctx context.Context, checks []HealthCheck, timeout time.Duration, log *slog.Logger) (map[string]CheckResult, bool) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	body := runChecks(ctx, checks, healthOptions{timeout: timeout, log: log})
	return body.Checks, body.Status == "ready"
}
