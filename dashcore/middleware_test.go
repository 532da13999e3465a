package dashcore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

const (
	allowedOrigin = "https://dash.example.com"
	bodyLimit     = 1024
)

type echoOutput struct {
	Body struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
}

type itemInput struct {
	ID   string `path:"id"`
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"2000"`
	}
}

type itemOutput struct {
	Body struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
}

// apiRoutes registers the operations the middleware tests call.
func apiRoutes(api huma.API) {
	huma.Register(api, huma.Operation{OperationID: "echo", Method: http.MethodGet, Path: "/api/echo"},
		func(ctx context.Context, _ *struct{}) (*echoOutput, error) {
			out := &echoOutput{}
			out.Body.Message = "hello"
			out.Body.RequestID = dashcore.RequestID(ctx)
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "put-item", Method: http.MethodPut, Path: "/api/items/{id}"},
		func(_ context.Context, in *itemInput) (*itemOutput, error) {
			out := &itemOutput{}
			out.Body.ID, out.Body.Name = in.ID, in.Body.Name
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "patch-item", Method: http.MethodPatch, Path: "/api/items/{id}"},
		func(_ context.Context, in *itemInput) (*itemOutput, error) {
			out := &itemOutput{}
			out.Body.ID, out.Body.Name = in.ID, in.Body.Name
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "fail", Method: http.MethodGet, Path: "/api/fail"},
		func(context.Context, *struct{}) (*echoOutput, error) {
			return nil, errors.New("pq: password authentication failed for user admin at 10.0.0.7")
		})
	huma.Register(api, huma.Operation{OperationID: "panic", Method: http.MethodGet, Path: "/api/panic"},
		func(context.Context, *struct{}) (*echoOutput, error) {
			panic("secret panic value")
		})
}

func rawRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /raw/panic", func(http.ResponseWriter, *http.Request) {
		panic("secret raw panic value")
	})
	mux.HandleFunc("GET /raw/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "raw "+dashcore.RequestID(r.Context()))
	})
}

// startAPI starts dashcore.Module with the test routes, a body limit of
// bodyLimit bytes and CORS for allowedOrigin.
func startAPI(t *testing.T) *testkit.TestApp {
	t.Helper()
	return testkit.App(t, dashcore.Module,
		testkit.Env(map[string]string{
			"TAYLORDASH_HTTP_MAX_BODY_BYTES": "1024",
			"TAYLORDASH_HTTP_CORS_ORIGINS":   allowedOrigin,
			"TAYLORDASH_SERVICE_NAME":        "middleware-test",
		}),
		routes("api", apiRoutes, rawRoutes),
	)
}

// limitDetail checks that a 413 names the configured limit.
func limitDetail(t *testing.T, _ *http.Response, body []byte) {
	t.Helper()
	if want := "the request body exceeds the limit of 1024 bytes"; !strings.Contains(string(body), want) {
		t.Errorf("413 body %s does not say %q", body, want)
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// chunked hides the length of a body, so that the client sends it with
// Transfer-Encoding: chunked.
type chunked struct{ io.Reader }

func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	app := startAPI(t)
	itemBody := func(n int) string { return `{"name":"` + strings.Repeat("x", n) + `"}` }
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		body    string
		chunked bool
		status  int
		ctype   string // Content-Type prefix; "" to skip
		problem bool   // a problem+json body with the request id
		check   func(t *testing.T, resp *http.Response, body []byte)
	}{
		{name: "json route", method: "GET", path: "/api/echo", status: 200, ctype: "application/json",
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if !strings.Contains(string(body), `"request_id":"`+resp.Header.Get("X-Request-ID")+`"`) {
					t.Errorf("handler did not see the request id: %s", body)
				}
			}},
		{name: "raw route", method: "GET", path: "/raw/text", status: 200, ctype: "text/plain"},
		{name: "liveness", method: "GET", path: "/health/live", status: 200, ctype: "application/json",
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if string(body) != `{"status":"alive","service":"middleware-test"}`+"\n" {
					t.Errorf("body %s", body)
				}
			}},
		{name: "openapi json", method: "GET", path: "/openapi.json", status: 200, ctype: "application/openapi+json"},
		{name: "openapi yaml", method: "GET", path: "/openapi.yaml", status: 200, ctype: "application/openapi+yaml"},
		{name: "docs", method: "GET", path: "/docs", status: 200, ctype: "text/html",
			check: func(t *testing.T, resp *http.Response, _ []byte) {
				csp := resp.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "script-src https://unpkg.com/") || !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("docs CSP does not allow the docs script or allows framing: %q", csp)
				}
				if n := len(resp.Header.Values("Content-Security-Policy")); n != 1 {
					t.Errorf("%d CSP headers, want 1", n)
				}
			}},
		{name: "unknown path", method: "GET", path: "/nowhere", status: 404, problem: true},
		{name: "wrong method", method: "DELETE", path: "/api/echo", status: 405, problem: true,
			check: func(t *testing.T, resp *http.Response, _ []byte) {
				if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
					t.Errorf("Allow = %q", allow)
				}
			}},
		{name: "validation error", method: "PUT", path: "/api/items/1", body: `{"name":""}`, status: 422, problem: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if !strings.Contains(string(body), `"location":"body.name"`) {
					t.Errorf("validation details missing: %s", body)
				}
			}},
		{name: "raw error", method: "GET", path: "/api/fail", status: 500, problem: true},
		{name: "panic in huma handler", method: "GET", path: "/api/panic", status: 500, problem: true},
		{name: "panic in raw handler", method: "GET", path: "/raw/panic", status: 500, problem: true},
		{name: "body at the limit", method: "PUT", path: "/api/items/1", body: itemBody(bodyLimit - 11), status: 200},
		{name: "body at the limit, chunked", method: "PUT", path: "/api/items/1", body: itemBody(bodyLimit - 11), chunked: true, status: 200},
		{name: "oversized body", method: "PUT", path: "/api/items/1", body: itemBody(bodyLimit), status: 413, problem: true, check: limitDetail},
		{name: "oversized body, chunked", method: "PUT", path: "/api/items/1", body: itemBody(bodyLimit), chunked: true, status: 413, problem: true, check: limitDetail},
		{name: "preflight, allowed origin", method: "OPTIONS", path: "/api/items/1", status: 204,
			headers: map[string]string{"Origin": allowedOrigin, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "content-type,x-request-id"},
			check: func(t *testing.T, resp *http.Response, _ []byte) {
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
					t.Errorf("Access-Control-Allow-Origin = %q", got)
				}
				if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "PATCH") {
					t.Errorf("Access-Control-Allow-Methods = %q", got)
				}
				if got := resp.Header.Get("Access-Control-Max-Age"); got != "600" {
					t.Errorf("Access-Control-Max-Age = %q", got)
				}
			}},
		{name: "preflight, disallowed origin", method: "OPTIONS", path: "/api/items/1",
			headers: map[string]string{"Origin": "https://evil.example.com", "Access-Control-Request-Method": "PATCH"},
			check: func(t *testing.T, resp *http.Response, _ []byte) {
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("Access-Control-Allow-Origin = %q for a disallowed origin", got)
				}
			}},
		{name: "PATCH cross-origin", method: "PATCH", path: "/api/items/7", body: `{"name":"n"}`, status: 200, ctype: "application/json",
			headers: map[string]string{"Origin": allowedOrigin},
			check: func(t *testing.T, resp *http.Response, _ []byte) {
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
					t.Errorf("Access-Control-Allow-Origin = %q", got)
				}
				if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(strings.ToLower(got), "x-request-id") {
					t.Errorf("Access-Control-Expose-Headers = %q", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				if tt.chunked {
					body = chunked{body}
				}
			}
			req, err := http.NewRequest(tt.method, app.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.chunked {
				req.ContentLength = -1
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, respBody := do(t, app.Client, req)
			if tt.status != 0 && resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d; body %s", resp.StatusCode, tt.status, respBody)
			}
			h := resp.Header
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "strict-origin-when-cross-origin",
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, name := range []string{"Permissions-Policy", "Content-Security-Policy", "Cross-Origin-Opener-Policy", "X-Request-ID"} {
				if h.Get(name) == "" {
					t.Errorf("%s missing", name)
				}
			}
			if h.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS sent over plain HTTP")
			}
			if tt.ctype != "" && !strings.HasPrefix(h.Get("Content-Type"), tt.ctype) {
				t.Errorf("Content-Type = %q, want %s", h.Get("Content-Type"), tt.ctype)
			}
			if tt.problem {
				p := problem(t, resp, respBody)
				if p.Title != http.StatusText(resp.StatusCode) || p.Detail == "" {
					t.Errorf("problem %+v", p)
				}
			}
			if resp.StatusCode >= 500 {
				for _, secret := range []string{"secret", "panic", "goroutine", ".go:", "password", "10.0.0.7"} {
					if strings.Contains(string(respBody), secret) {
						t.Errorf("500 body leaks %q: %s", secret, respBody)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, resp, respBody)
			}
		})
	}

	// The server survived the panics.
	if resp, _ := get(t, app.Client, app.URL+"/health/live"); resp.StatusCode != http.StatusOK {
		t.Errorf("after the panics, /health/live answers %d", resp.StatusCode)
	}
}

func TestRequestID(t *testing.T) {
	app := startAPI(t)
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"well-formed", "client-id_1.2:3", true},
		{"uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"too long", strings.Repeat("a", 129), false},
		{"bad characters", "id with spaces<>", false},
		{"non-ASCII", "idé", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/echo", "/nowhere"} {
				req, _ := http.NewRequest(http.MethodGet, app.URL+path, nil)
				req.Header[dashcore.RequestIDHeader] = []string{tt.sent}
				resp, body := do(t, app.Client, req)
				id := resp.Header.Get(dashcore.RequestIDHeader)
				if tt.echoed && id != tt.sent {
					t.Errorf("%s: X-Request-ID = %q, want the client's %q", path, id, tt.sent)
				}
				if !tt.echoed && !hex32.MatchString(id) {
					t.Errorf("%s: X-Request-ID = %q, want a generated 32-hex id", path, id)
				}
				if !strings.Contains(string(body), `"request_id":"`+id+`"`) {
					t.Errorf("%s: body does not carry the id %q: %s", path, id, body)
				}
			}
		})
	}

	// Two requests without an id get different ones.
	r1, _ := get(t, app.Client, app.URL+"/api/echo")
	r2, _ := get(t, app.Client, app.URL+"/api/echo")
	if r1.Header.Get(dashcore.RequestIDHeader) == r2.Header.Get(dashcore.RequestIDHeader) {
		t.Error("two requests got the same generated id")
	}
}

func TestRequestIDOutsideHTTP(t *testing.T) {
	ctx := context.Background()
	if id := dashcore.RequestID(ctx); id != "" {
		t.Errorf("RequestID(background) = %q", id)
	}
	if ri := dashcore.RequestInfoFrom(ctx); ri != nil {
		t.Errorf("RequestInfoFrom(background) = %+v", ri)
	}
	ctx = dashcore.WithRequestID(ctx, "job-42")
	if id := dashcore.RequestID(ctx); id != "job-42" {
		t.Errorf("RequestID = %q, want job-42", id)
	}
}

func TestNoCORSHeadersWithoutOrigins(t *testing.T) {
	app := testkit.App(t, dashcore.Module, routes("api", apiRoutes, nil))
	req, _ := http.NewRequest(http.MethodOptions, app.URL+"/api/items/1", nil)
	req.Header.Set("Origin", allowedOrigin)
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	resp, _ := do(t, app.Client, req)
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s sent with no origin configured", k)
		}
	}
}

type dataInput struct {
	Body struct {
		Data string `json:"data"`
	}
}

type sizeOutput struct {
	Body struct {
		Size int `json:"size"`
	}
}

// jsonOfSize returns a dataInput body of exactly n bytes (n >= 11).
func jsonOfSize(n int) string { return `{"data":"` + strings.Repeat("x", n-11) + `"}` }

func TestBodyLimits(t *testing.T) {
	sized := func(api huma.API, op huma.Operation) {
		op.OperationID = strings.Trim(strings.ReplaceAll(op.Path, "/", "-"), "-")
		op.Method = http.MethodPut
		huma.Register(api, op, func(_ context.Context, in *dataInput) (*sizeOutput, error) {
			out := &sizeOutput{}
			out.Body.Size = len(in.Body.Data) + 11
			return out, nil
		})
	}
	srv := handler(t, dashcore.HandlerOptions{
		Config: dashcore.HTTPConfig{MaxBodyBytes: 100},
		Routes: []dashcore.Routes{{
			Name: "limits",
			Register: func(api huma.API) {
				sized(api, huma.Operation{Path: "/default"})
				sized(api, huma.Operation{Path: "/raised", MaxBodyBytes: 300})
				sized(api, huma.Operation{Path: "/hidden", Hidden: true})
				sized(api, huma.Operation{Path: "/unlimited", MaxBodyBytes: -1})
				sized(huma.NewGroup(api, "/v1"), huma.Operation{Path: "/grouped"})
			},
			Handle: func(mux *http.ServeMux) {
				mux.HandleFunc("PUT /raw", func(w http.ResponseWriter, r *http.Request) {
					b, err := io.ReadAll(r.Body)
					var tooLarge *http.MaxBytesError
					if errors.As(err, &tooLarge) {
						w.WriteHeader(http.StatusRequestEntityTooLarge)
						return
					}
					_, _ = io.WriteString(w, `{"size":`+strconv.Itoa(len(b))+`}`)
				})
			},
		}},
	})
	tests := []struct {
		path  string
		limit int // -1: none
	}{
		{"/default", 100},
		{"/raised", 300},
		{"/hidden", 100},
		{"/v1/grouped", 100},
		{"/raw", 100},
		{"/unlimited", -1},
	}
	for _, tt := range tests {
		for _, isChunked := range []bool{false, true} {
			sizes := []int{tt.limit, tt.limit + 1}
			if tt.limit < 0 {
				sizes = []int{5000}
			}
			for _, size := range sizes {
				name := fmt.Sprintf("%s %d bytes chunked=%v", tt.path, size, isChunked)
				var body io.Reader = strings.NewReader(jsonOfSize(size))
				if isChunked {
					body = chunked{body}
				}
				req, _ := http.NewRequest(http.MethodPut, srv.URL+tt.path, body)
				req.Header.Set("Content-Type", "application/json")
				resp, respBody := do(t, srv.Client(), req)
				if tt.limit < 0 || size <= tt.limit {
					if resp.StatusCode != http.StatusOK || string(respBody) != fmt.Sprintf(`{"size":%d}`, size)+trailingNewline(tt.path) {
						t.Errorf("%s: %d %s, want 200", name, resp.StatusCode, respBody)
					}
					continue
				}
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("%s: %d %s, want 413", name, resp.StatusCode, respBody)
					continue
				}
				if tt.path == "/raw" && isChunked {
					continue // the raw handler wrote its own 413
				}
				p := problem(t, resp, respBody)
				if want := fmt.Sprintf("the request body exceeds the limit of %d bytes", tt.limit); p.Detail != want {
					t.Errorf("%s: detail %q, want %q", name, p.Detail, want)
				}
			}
		}
	}
}

func trailingNewline(path string) string {
	if path == "/raw" {
		return ""
	}
	return "\n"
}

func TestPanicsAndAccessLog(t *testing.T) {
	var logs testkit.LogCapture
	log := logs.Logger()
	srv := handler(t, dashcore.HandlerOptions{
		Logger: log,
		Routes: []dashcore.Routes{{Name: "api", Register: apiRoutes, Handle: func(mux *http.ServeMux) {
			rawRoutes(mux)
			mux.HandleFunc("GET /raw/late-panic", func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic("after the header")
			})
			mux.HandleFunc("GET /raw/abort", func(http.ResponseWriter, *http.Request) {
				panic(http.ErrAbortHandler)
			})
		}}},
	})
	client := srv.Client()

	for _, path := range []string{"/api/panic", "/raw/panic"} {
		resp, body := get(t, client, srv.URL+path)
		p := problem(t, resp, body)
		if resp.StatusCode != http.StatusInternalServerError || p.Detail != "an unexpected error occurred" {
			t.Errorf("GET %s: %d %+v", path, resp.StatusCode, p)
		}
		var logged bool
		for _, rec := range logs.Records(t) {
			if rec["msg"] == "panic in HTTP handler" && rec["request_id"] == p.RequestID {
				logged = true
				if !strings.Contains(fmt.Sprint(rec["panic"]), "panic value") || !strings.Contains(fmt.Sprint(rec["stack"]), "goroutine") {
					t.Errorf("panic record lacks the value or the stack: %v", rec)
				}
			}
		}
		if !logged {
			t.Errorf("GET %s: the panic was not logged with its request id:\n%s", path, logs.String())
		}
	}

	// A panic after the response started cuts the connection: the client
	// must not take the truncated body for a complete one.
	if resp, err := client.Get(srv.URL + "/raw/late-panic"); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Error("a panic after the header went out produced a complete response")
		}
	}
	// http.ErrAbortHandler aborts silently.
	if resp, err := client.Get(srv.URL + "/raw/abort"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /raw/abort: %d, want the connection aborted", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "net/http: abort Handler") {
		t.Error("http.ErrAbortHandler was logged as a panic")
	}

	// The access log has one record per request, with the route pattern;
	// health probes are at debug level.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/echo", nil)
	req.Header.Set(dashcore.RequestIDHeader, "access-log-probe")
	do(t, client, req)
	get(t, client, srv.URL+"/health/live")
	get(t, client, srv.URL+"/nowhere")
	var echo, live, nowhere int
	for _, rec := range logs.Records(t) {
		if rec["msg"] != "http request" {
			continue
		}
		switch rec["path"] {
		case "/api/echo":
			echo++
			if rec["level"] != "INFO" || rec["route"] != "GET /api/echo" || rec["status"] != float64(200) ||
				rec["request_id"] != "access-log-probe" || rec["method"] != "GET" || rec["bytes"].(float64) <= 0 {
				t.Errorf("access record %v", rec)
			}
		case "/health/live":
			live++
			if rec["level"] != "DEBUG" {
				t.Errorf("health probe logged at %v", rec["level"])
			}
		case "/nowhere":
			nowhere++
			if rec["status"] != float64(404) || rec["route"] != "" {
				t.Errorf("404 record %v", rec)
			}
		case "/api/panic", "/raw/panic":
			if rec["level"] != "ERROR" || rec["status"] != float64(500) {
				t.Errorf("500 record %v", rec)
			}
		}
	}
	if echo != 1 || live != 1 || nowhere != 1 {
		t.Errorf("access records: echo %d, live %d, nowhere %d; want 1 each", echo, live, nowhere)
	}
}
