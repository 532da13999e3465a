package acceptance_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The original front end's development origin.
const spaOrigin = "http://localhost:5173"

// securityHeaders are the headers every response carries, with the
// original's values where it had them.
var securityHeaders = map[string]string{
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "strict-origin-when-cross-origin",
	// The original's three features, and more.
	"Permissions-Policy": "geolocation=(), microphone=(), camera=(), payment=(), usb=()",
}

// Scenario 13, headers and CORS: the security headers are on every
// response, 500s included (⚠ the original's 500s had none), and the
// browser front end's origin may call the API with credentials, others
// may not.
func TestScenario13HeadersAndCORS(t *testing.T) {
	t.Parallel()
	// Deliberate difference: the original hard-coded its three origins;
	// the operator lists them (TAYLORDASH_HTTP_CORS_ORIGINS).
	d := start(t, map[string]string{
		"TAYLORDASH_HTTP_CORS_ORIGINS":           "http://localhost:3000," + spaOrigin + ",https://taylordash.local",
		"TAYLORDASH_HTTP_CORS_ALLOW_CREDENTIALS": "true",
	})
	k := key(bootstrapKey)

	checkHeaders := func(t *testing.T, r *reply) {
		t.Helper()
		for h, want := range securityHeaders {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s (%d): %s = %q, want %q", r.what, r.Status, h, got, want)
			}
		}
	}

	t.Run("security headers on every response", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			cred         cred
			body         any
			status       int
		}{
			{http.MethodGet, "/", anonymous, nil, http.StatusOK},
			{http.MethodGet, "/health/live", anonymous, nil, http.StatusOK},
			{http.MethodGet, "/metrics", anonymous, nil, http.StatusOK},
			{http.MethodGet, "/api/v1/projects", k, nil, http.StatusOK},
			{http.MethodPost, "/api/v1/projects", k, map[string]any{"name": "h"}, http.StatusCreated},
			{http.MethodGet, "/api/v1/projects/nope", k, nil, http.StatusBadRequest},
			{http.MethodGet, "/api/v1/projects", anonymous, nil, http.StatusUnauthorized},
			{http.MethodPost, "/api/v1/auth/users", bearer(d.login(t, adminUser, adminPassword, nil).SessionToken), map[string]any{"username": "u", "password": "short", "role": "viewer"}, http.StatusUnprocessableEntity},
			{http.MethodGet, "/no/such/path", anonymous, nil, http.StatusNotFound},
			{http.MethodPatch, "/health/live", anonymous, nil, http.StatusMethodNotAllowed},
		} {
			r := d.do(t, c.method, c.path, c.cred, c.body).must(t, c.status)
			checkHeaders(t, r)
		}
	})

	t.Run("security headers on a 500", func(t *testing.T) {
		// No request can make a correct server fail, so the test breaks
		// the server's database under it: the projects table disappears.
		if _, err := d.DB.DB.Exec(context.Background(), `ALTER TABLE projects RENAME TO projects_gone`); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := d.DB.DB.Exec(context.Background(), `ALTER TABLE projects_gone RENAME TO projects`); err != nil {
				t.Fatal(err)
			}
		}()
		r := d.do(t, http.MethodGet, "/api/v1/projects", k, nil)
		// A 500 says only that something went wrong: no SQL, no table.
		r.mustDetail(t, http.StatusInternalServerError, "an unexpected error occurred")
		if strings.Contains(string(r.Body), "projects") || strings.Contains(string(r.Body), "relation") {
			t.Errorf("the 500 leaks its cause: %s", r.Body)
		}
		checkHeaders(t, r)
		if r.Header.Get("X-Request-ID") == "" {
			t.Errorf("the 500 has no X-Request-ID to find it in the log")
		}
	})

	t.Run("preflight from the front end's origin", func(t *testing.T) {
		// What a browser sends: the non-safelisted header names,
		// lower-case, sorted, comma-separated (the Fetch standard).
		for _, method := range []string{"GET", "POST", "PUT", "DELETE"} {
			r := d.do(t, http.MethodOptions, "/api/v1/projects", withHeaders(anonymous,
				"Origin", spaOrigin,
				"Access-Control-Request-Method", method,
				"Access-Control-Request-Headers", "authorization,content-type,x-api-key"), nil)
			if r.Status != http.StatusNoContent && r.Status != http.StatusOK {
				t.Fatalf("preflight %s: %d %s", method, r.Status, r.Body)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != spaOrigin {
				t.Fatalf("preflight %s: Access-Control-Allow-Origin %q", method, got)
			}
			if got := r.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("preflight %s: Access-Control-Allow-Credentials %q", method, got)
			}
			if methods := splitList(strings.ToUpper(r.Header.Get("Access-Control-Allow-Methods"))); !slices.Contains(methods, method) {
				t.Errorf("preflight %s: Access-Control-Allow-Methods %q", method, methods)
			}
			headers := splitList(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")))
			for _, h := range []string{"x-api-key", "authorization", "content-type"} {
				if !slices.Contains(headers, h) {
					t.Errorf("preflight %s: Access-Control-Allow-Headers %q lacks %s", method, headers, h)
				}
			}
			checkHeaders(t, r)
		}
	})

	t.Run("the front end's request", func(t *testing.T) {
		r := d.do(t, http.MethodGet, "/api/v1/projects", withHeaders(k, "Origin", spaOrigin), nil).must(t, http.StatusOK)
		if r.Header.Get("Access-Control-Allow-Origin") != spaOrigin || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("CORS headers of the actual request: %v", r.Header)
		}
		if !slices.Contains(splitList(strings.Join(r.Header.Values("Vary"), ",")), "Origin") {
			t.Errorf("Vary %q lacks Origin", r.Header.Values("Vary"))
		}
	})

	t.Run("another origin is not allowed", func(t *testing.T) {
		r := d.do(t, http.MethodOptions, "/api/v1/projects", withHeaders(anonymous,
			"Origin", "https://evil.example",
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "x-api-key"), nil)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("preflight from another origin allowed: %q", got)
		}
		r = d.do(t, http.MethodGet, "/api/v1/projects", withHeaders(k, "Origin", "https://evil.example"), nil)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("request from another origin allowed: %q", got)
		}
	})
}

// splitList splits a comma-separated header value.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
