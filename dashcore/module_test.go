package dashcore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) { testkit.Main(m) }

// routes contributes a Routes named name through the value group.
func routes(name string, register func(api huma.API), handle func(mux *http.ServeMux)) fx.Option {
	return fx.Provide(dashcore.AsRoutes(func() dashcore.Routes {
		return dashcore.Routes{Name: name, Register: register, Handle: handle}
	}))
}

// do sends req and returns the response with its body read.
func do(t *testing.T, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

// get sends a GET to url.
func get(t *testing.T, client *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, client, req)
}

// problem decodes a problem+json body and checks that it carries the
// status of resp and the request id of its X-Request-ID header.
func problem(t *testing.T, resp *http.Response, body []byte) dashcore.Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json; body %s", ct, body)
	}
	var p dashcore.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if p.Status != resp.StatusCode {
		t.Errorf("problem status %d, response status %d", p.Status, resp.StatusCode)
	}
	if id := resp.Header.Get(dashcore.RequestIDHeader); p.RequestID == "" || p.RequestID != id {
		t.Errorf("problem request_id %q, X-Request-ID %q", p.RequestID, id)
	}
	return p
}

// handler builds the HTTP handler of opts and serves it with httptest.
func handler(t *testing.T, opts dashcore.HandlerOptions) *httptest.Server {
	t.Helper()
	h, _, err := dashcore.NewHandler(opts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type greeting struct {
	Body struct {
		Message string `json:"message"`
	}
}

func greet(path, message string) func(api huma.API) {
	return func(api huma.API) {
		huma.Register(api, huma.Operation{
			OperationID: "greet" + strings.ReplaceAll(path, "/", "-"),
			Method:      http.MethodGet,
			Path:        path,
			Summary:     "Greet at " + path,
		}, func(context.Context, *struct{}) (*greeting, error) {
			out := &greeting{}
			out.Body.Message = message
			return out, nil
		})
	}
}

func TestValidateApp(t *testing.T) {
	if err := fx.ValidateApp(dashcore.Module, fx.Invoke(func(*dashcore.Server) {})); err != nil {
		t.Fatalf("fx.ValidateApp(dashcore.Module): %v", err)
	}
}

func TestOpenAPIGolden(t *testing.T) {
	app := testkit.App(t, dashcore.Module)
	resp, body := get(t, app.Client, app.URL+"/openapi.json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, body)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestOpenAPIGolden -update ./dashcore/ to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("the OpenAPI document differs from %s; if the change is intended, rerun with -update.\ngot:\n%s", golden, pretty.Bytes())
	}
}

func TestRouteOrderDoesNotChangeOpenAPI(t *testing.T) {
	alpha := dashcore.Routes{Name: "alpha", Register: greet("/alpha", "a")}
	beta := dashcore.Routes{Name: "beta", Register: greet("/beta", "b")}
	gamma := dashcore.Routes{Name: "gamma", Register: greet("/gamma", "g")}
	spec := func(rs ...dashcore.Routes) []byte {
		srv := handler(t, dashcore.HandlerOptions{Routes: rs})
		resp, body := get(t, srv.Client(), srv.URL+"/openapi.json")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /openapi.json: %d", resp.StatusCode)
		}
		return body
	}
	a := spec(alpha, beta, gamma)
	b := spec(gamma, alpha, beta)
	if !bytes.Equal(a, b) {
		t.Errorf("the OpenAPI document depends on registration order:\n%s\n%s", a, b)
	}
	if !bytes.Contains(a, []byte(`"/gamma"`)) {
		t.Errorf("a route is missing from the document: %s", a)
	}
}

func TestRoutesErrors(t *testing.T) {
	tests := []struct {
		name    string
		routes  []dashcore.Routes
		mws     []dashcore.Middleware
		wantErr []string
	}{
		{
			name: "duplicate names",
			routes: []dashcore.Routes{
				{Name: "projects", Register: greet("/a", "a")},
				{Name: "projects", Register: greet("/b", "b")},
			},
			wantErr: []string{`two route contributions are named "projects"`},
		},
		{
			name: "duplicate path",
			routes: []dashcore.Routes{
				{Name: "alpha", Register: greet("/same", "a")},
				{Name: "beta", Handle: func(mux *http.ServeMux) { mux.HandleFunc("GET /same", func(http.ResponseWriter, *http.Request) {}) }},
			},
			wantErr: []string{`register routes "beta"`, "GET /same"},
		},
		{
			name: "duplicate operation id",
			routes: []dashcore.Routes{
				{Name: "alpha", Register: greet("/same", "a")},
				{Name: "beta", Register: greet("/same", "b")},
			},
			wantErr: []string{`register routes "beta"`, "duplicate operation ID"},
		},
		{
			name:    "middleware without Wrap",
			mws:     []dashcore.Middleware{{Name: "auth"}},
			wantErr: []string{`middleware "auth" has no Wrap function`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Routes: tt.routes, Middleware: tt.mws})
			if err == nil {
				t.Fatal("NewHandler succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestDuplicateRoutesFailTheApp(t *testing.T) {
	app := fx.New(
		fx.NopLogger,
		dashcore.Module,
		dashcore.WithEnv(map[string]string{"TAYLORDASH_HTTP_ADDR": "127.0.0.1:0"}),
		routes("projects", greet("/a", "a"), nil),
		routes("projects", greet("/b", "b"), nil),
	)
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), `two route contributions are named "projects"`) {
		t.Errorf("app.Err() = %v, want the duplicate name", err)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	mw := func(name string, order int, unmatched ...bool) fx.Option {
		return fx.Provide(dashcore.AsMiddleware(func() dashcore.Middleware {
			return dashcore.Middleware{Name: name, Order: order, Unmatched: len(unmatched) > 0, Wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					seen = append(seen, name+" "+dashcore.RequestInfoFrom(r.Context()).Pattern)
					mu.Unlock()
					next.ServeHTTP(w, r)
				})
			}}
		}))
	}
	app := testkit.App(t, dashcore.Module,
		routes("greet", greet("/hello", "hi"), nil),
		mw("b", 10), mw("late", 20), mw("a", 10), mw("first", -5), mw("counter", 15, true),
	)

	resp, body := get(t, app.Client, app.URL+"/hello")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /hello: %d %s", resp.StatusCode, body)
	}
	want := []string{"first GET /hello", "a GET /hello", "b GET /hello", "counter GET /hello", "late GET /hello"}
	mu.Lock()
	got := slices.Clone(seen)
	seen = nil
	mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("middleware ran as %q, want %q", got, want)
	}

	for _, unmatched := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nowhere", http.StatusNotFound},
		{http.MethodDelete, "/hello", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(unmatched.method, app.URL+unmatched.path, nil)
		if resp, _ := do(t, app.Client, req); resp.StatusCode != unmatched.status {
			t.Errorf("%s %s: %d, want %d", unmatched.method, unmatched.path, resp.StatusCode, unmatched.status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// Only the middleware that asked for them sees unmatched requests,
	// with no pattern.
	if want := []string{"counter ", "counter "}; !slices.Equal(seen, want) {
		t.Errorf("unmatched requests reached middleware as %q, want %q", seen, want)
	}
}

func TestInfo(t *testing.T) {
	app := testkit.App(t, dashcore.Module, fx.Supply(dashcore.Info{Title: "Projects API", Version: "2.1.0", Description: "Manages projects."}))
	_, body := get(t, app.Client, app.URL+"/openapi.json")
	var doc struct {
		Info struct{ Title, Version, Description string }
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Title != "Projects API" || doc.Info.Version != "2.1.0" || doc.Info.Description != "Manages projects." {
		t.Errorf("info = %+v", doc.Info)
	}
}

func TestNewHandlerReturnsTheAPI(t *testing.T) {
	h, api, err := dashcore.NewHandler(dashcore.HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	greet("/late", "late")(api)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, body := get(t, srv.Client(), srv.URL+"/late")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "late") {
		t.Errorf("GET /late: %d %s", resp.StatusCode, body)
	}
}

func TestTrailingSlashPathsAreExact(t *testing.T) {
	var pattern string
	srv := handler(t, dashcore.HandlerOptions{
		Routes: []dashcore.Routes{
			{Name: "root", Register: greet("/", "root")},
			{Name: "items", Register: greet("/items/", "items")},
			{Name: "grouped", Register: func(api huma.API) {
				huma.Get(huma.NewGroup(api, "/v1"), "/", func(context.Context, *struct{}) (*greeting, error) { return &greeting{}, nil })
			}},
		},
		Middleware: []dashcore.Middleware{{Name: "spy", Wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				pattern = dashcore.RequestInfoFrom(r.Context()).Pattern
				next.ServeHTTP(w, r)
			})
		}}},
	})
	for path, want := range map[string]int{
		"/": 200, "/items/": 200, "/v1/": 200,
		"/nowhere": 404, "/items/7": 404, "/v1/x": 404,
	} {
		resp, body := get(t, srv.Client(), srv.URL+path)
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}
	get(t, srv.Client(), srv.URL+"/")
	if pattern != "GET /{$}" {
		t.Errorf("pattern of GET / = %q", pattern)
	}
	_, body := get(t, srv.Client(), srv.URL+"/openapi.json")
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/items/", "/v1/"} {
		if doc.Paths[p] == nil {
			t.Errorf("the OpenAPI document lacks %s: %v", p, doc.Paths)
		}
	}
}
