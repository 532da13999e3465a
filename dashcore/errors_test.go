package dashcore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

func TestHTTPErrorMapsKinds(t *testing.T) {
	kinds := []struct {
		kind   *dashcore.Kind
		status int
	}{
		{dashcore.ErrBadRequest, 400},
		{dashcore.ErrUnauthorized, 401},
		{dashcore.ErrForbidden, 403},
		{dashcore.ErrNotFound, 404},
		{dashcore.ErrConflict, 409},
		{dashcore.ErrTooLarge, 413},
		{dashcore.ErrInvalid, 422},
		{dashcore.ErrRateLimited, 429},
		{dashcore.ErrUnavailable, 503},
		{dashcore.ErrInternal, 500},
	}
	for _, k := range kinds {
		if k.kind.Status() != k.status || k.kind.GetStatus() != k.status {
			t.Errorf("%v: status %d, want %d", k.kind, k.kind.Status(), k.status)
		}
		for _, err := range []error{k.kind, fmt.Errorf("load project 7: %w", k.kind), fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", k.kind))} {
			he := dashcore.HTTPError(err)
			var se huma.StatusError
			if !errors.As(he, &se) || se.GetStatus() != k.status {
				t.Errorf("HTTPError(%v) = %v, want status %d", err, he, k.status)
			}
			if !errors.Is(he, k.kind) || !errors.Is(he, err) {
				t.Errorf("HTTPError(%v) lost its kind or cause", err)
			}
		}
	}

	if dashcore.HTTPError(nil) != nil {
		t.Error("HTTPError(nil) != nil")
	}
	raw := errors.New("connection refused")
	var de *dashcore.Error
	if he := dashcore.HTTPError(raw); !errors.As(he, &de) || de.Kind != dashcore.ErrInternal || !errors.Is(he, raw) {
		t.Errorf("HTTPError(raw) = %#v, want ErrInternal keeping the cause", he)
	}
	domain := dashcore.NewError(dashcore.ErrConflict, "name taken", raw)
	if he := dashcore.HTTPError(fmt.Errorf("create: %w", domain)); he != error(domain) {
		t.Errorf("HTTPError(wrapped *Error) = %v, want the *Error itself", he)
	}
	teapot := huma.Error400BadRequest("huma's own")
	if he := dashcore.HTTPError(teapot); he != teapot {
		t.Errorf("HTTPError(huma error) = %v, want it unchanged", he)
	}
}

func TestErrorMessages(t *testing.T) {
	cause := errors.New("pq: duplicate key")
	tests := []struct {
		err  *dashcore.Error
		want string
	}{
		{dashcore.NewError(dashcore.ErrConflict, "name taken", cause), "name taken: pq: duplicate key"},
		{dashcore.NewError(dashcore.ErrConflict, "name taken", nil), "name taken"},
		{dashcore.NewError(dashcore.ErrNotFound, "", nil), "resource not found"},
		{dashcore.NewError(dashcore.ErrNotFound, "", cause), "resource not found: pq: duplicate key"},
		{&dashcore.Error{Detail: "no kind"}, "no kind"},
		{&dashcore.Error{}, "an unexpected error occurred"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	e := dashcore.NewError(dashcore.ErrConflict, "name taken", cause)
	if !errors.Is(e, dashcore.ErrConflict) || !errors.Is(e, cause) || errors.Is(e, dashcore.ErrNotFound) {
		t.Error("errors.Is does not match both the kind and the cause")
	}
	if (&dashcore.Error{}).GetStatus() != http.StatusInternalServerError {
		t.Error("an *Error without a kind is not a 500")
	}
}

func TestErrorResponses(t *testing.T) {
	var logs testkit.LogCapture
	log := logs.Logger()
	const secret = "pq: password authentication failed for 10.0.0.7"
	failWith := func(path string, err error) func(api huma.API) {
		return func(api huma.API) {
			huma.Register(api, huma.Operation{OperationID: "op" + strings.ReplaceAll(path, "/", "-"), Method: http.MethodGet, Path: path},
				func(context.Context, *struct{}) (*echoOutput, error) { return nil, err })
		}
	}
	cause := errors.New(secret)
	cases := []struct {
		path   string
		err    error
		status int
		detail string
		logged bool // the cause is logged
		fields bool
	}{
		{"/conflict", dashcore.NewError(dashcore.ErrConflict, "a project with this name exists", cause), 409, "a project with this name exists", false, false},
		{"/wrapped-kind", fmt.Errorf("load project 7: %w", dashcore.ErrNotFound), 404, "resource not found", false, false},
		{"/http-error", dashcore.HTTPError(fmt.Errorf("policy %s: %w", secret, dashcore.ErrForbidden)), 403, "permission denied", false, false},
		{"/invalid", &dashcore.Error{Kind: dashcore.ErrInvalid, Detail: "the project is invalid", Fields: []*huma.ErrorDetail{{Location: "body.name", Message: "is required"}}}, 422, "the project is invalid", false, true},
		{"/unavailable", dashcore.NewError(dashcore.ErrUnavailable, "maintenance until 10:00", cause), 503, "maintenance until 10:00", true, false},
		{"/internal-detail", dashcore.NewError(dashcore.ErrInternal, "the importer crashed on row 7", cause), 500, "an unexpected error occurred", true, false},
		{"/raw", cause, 500, "an unexpected error occurred", true, false},
		{"/raw-wrapped", fmt.Errorf("list projects: %w", cause), 500, "an unexpected error occurred", true, false},
		{"/huma-error", huma.Error502BadGateway("upstream unavailable"), 502, "upstream unavailable", true, false},
	}
	var rs []dashcore.Routes
	for _, c := range cases {
		rs = append(rs, dashcore.Routes{Name: c.path, Register: failWith(c.path, c.err)})
	}
	srv := handler(t, dashcore.HandlerOptions{Logger: log, Routes: rs})

	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			resp, body := get(t, srv.Client(), srv.URL+c.path)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, c.status, body)
			}
			p := problem(t, resp, body)
			if p.Detail != c.detail || p.Title != http.StatusText(c.status) || p.Type != "about:blank" {
				t.Errorf("problem %+v, want detail %q", p, c.detail)
			}
			if c.fields != (len(p.Errors) > 0) {
				t.Errorf("field errors %v, want them: %v", p.Errors, c.fields)
			}
			if strings.Contains(string(body), "10.0.0.7") || strings.Contains(string(body), "pq:") {
				t.Errorf("body leaks the cause: %s", body)
			}
			var found bool
			for _, rec := range logs.Records(t) {
				if rec["msg"] == "request failed" && rec["request_id"] == p.RequestID {
					found = true
					if rec["level"] != "ERROR" || rec["route"] != c.path || rec["status"] != float64(c.status) {
						t.Errorf("log record %v", rec)
					}
					if c.err != nil && c.path != "/huma-error" && !strings.Contains(fmt.Sprint(rec["error"]), secret) {
						t.Errorf("the cause is not in the log: %v", rec)
					}
				}
			}
			if found != c.logged {
				t.Errorf("cause logged = %v, want %v; log:\n%s", found, c.logged, logs.String())
			}
		})
	}
}

func TestErrorModelDocumentsRequestID(t *testing.T) {
	app := testkit.App(t, dashcore.Module)
	_, body := get(t, app.Client, app.URL+"/openapi.json")
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Type any `json:"type"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Schemas["ErrorModel"].Properties["request_id"].Type; got != "string" {
		t.Errorf("ErrorModel.request_id type = %q, want string; schemas: %+v", got, doc.Components.Schemas["ErrorModel"])
	}
}
