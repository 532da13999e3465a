package observability_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
)

func TestStackRoutes(t *testing.T) {
	serve := func(checks ...dashcore.HealthCheck) (int, observability.StackBody) {
		t.Helper()
		h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Routes: []dashcore.Routes{observability.StackRoutes(checks, time.Second, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/health/stack", nil))
		var body observability.StackBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
		}
		return rec.Code, body
	}
	ok := dashcore.HealthCheck{Name: "database", Check: func(context.Context) error { return nil }}
	down := dashcore.HealthCheck{Name: "mqtt", Check: func(context.Context) error {
		return dashcore.NewError(dashcore.ErrUnavailable, "the broker connection is down", errors.New("dial tcp: refused"))
	}}
	lagging := dashcore.HealthCheck{Name: "outbox", Optional: true, Check: func(context.Context) error { return errors.New("internal detail") }}

	code, body := serve(ok, lagging)
	if code != http.StatusOK || body.OverallStatus != "healthy" || body.Services["database"].Type != "postgresql" ||
		body.Services["api"].Status != "healthy" || body.Services["outbox"].Status != "unhealthy" || body.Services["outbox"].Required {
		t.Fatalf("healthy stack with a lagging optional part: %d %+v", code, body)
	}
	if body.Services["outbox"].Message != "check failed" {
		t.Fatalf("an internal error's text leaked: %q", body.Services["outbox"].Message)
	}
	code, body = serve(ok, down)
	if code != http.StatusServiceUnavailable || body.OverallStatus != "unhealthy" ||
		body.Services["mqtt"].Message != "the broker connection is down" || body.Services["mqtt"].Type != "mqtt" {
		t.Fatalf("broker down: %d %+v", code, body)
	}
}
