package mcpserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcpserver"
)

// Thing is the fixture API's resource; a thing may hold things.
type Thing struct {
	ID       string  `json:"id" readOnly:"true"`
	Name     string  `json:"name" minLength:"1" maxLength:"40" doc:"The thing's name." example:"lamp"`
	Color    string  `json:"color,omitempty" enum:"red,green,blue"`
	Children []Thing `json:"children,omitempty"`
}

// NewThing is the body of create-thing.
type NewThing struct {
	Name     string     `json:"name" minLength:"1" maxLength:"40" doc:"The thing's name." example:"lamp"`
	Color    string     `json:"color,omitempty" enum:"red,green,blue"`
	Owner    Owner      `json:"owner"`
	Children []NewThing `json:"children,omitempty"`
}

// Owner is a thing's owner.
type Owner struct {
	Email string `json:"email" format:"email"`
}

type listInput struct {
	Limit int      `query:"limit" minimum:"1" maximum:"100" default:"10" doc:"Page size."`
	Tags  []string `query:"tags" doc:"Only things with these tags."`
}

type idInput struct {
	ID string `path:"id" doc:"The thing's id." example:"t1"`
}

type createInput struct {
	Body NewThing
}

type thingOutput struct {
	Body Thing
}

type listOutput struct {
	Body struct {
		Limit int      `json:"limit"`
		Tags  []string `json:"tags"`
	}
}

type pingOutput struct {
	Body struct {
		Pong bool `json:"pong"`
	}
}

// thingsRoutes is the fixture API: list, get and create things (tools
// needing projects:read and projects:write), public ping and things_root
// tools (a path ending in /), and a delete that is not a tool.
func thingsRoutes() dashcore.Routes {
	return dashcore.Routes{Name: "things", Register: func(api huma.API) {
		huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
			OperationID: "list-things", Method: http.MethodGet, Path: "/things", Summary: "List things",
		}, "projects", "read"), "list_things"), func(_ context.Context, in *listInput) (*listOutput, error) {
			out := &listOutput{}
			out.Body.Limit, out.Body.Tags = in.Limit, in.Tags
			return out, nil
		})
		huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
			OperationID: "get-thing", Method: http.MethodGet, Path: "/things/{id}", Summary: "Get a thing",
		}, "projects", "read"), "get_thing"), func(_ context.Context, in *idInput) (*thingOutput, error) {
			if in.ID == "missing" {
				return nil, dashcore.NewError(dashcore.ErrNotFound, "no thing "+in.ID, nil)
			}
			if in.ID == "boom" {
				panic("boom")
			}
			return &thingOutput{Body: Thing{ID: in.ID, Name: "lamp"}}, nil
		})
		huma.Register(api, dashcore.MCPTool(auth.Require(huma.Operation{
			OperationID: "create-thing", Method: http.MethodPost, Path: "/things", Summary: "Create a thing",
			DefaultStatus: http.StatusCreated,
		}, "projects", "write"), "create_thing"), func(_ context.Context, in *createInput) (*thingOutput, error) {
			return &thingOutput{Body: Thing{ID: "t9", Name: in.Body.Name, Color: in.Body.Color}}, nil
		})
		huma.Register(api, dashcore.MCPTool(auth.Public(huma.Operation{
			OperationID: "ping", Method: http.MethodGet, Path: "/ping", Summary: "Ping",
		}, ""), "ping"), func(context.Context, *struct{}) (*pingOutput, error) {
			out := &pingOutput{}
			out.Body.Pong = true
			return out, nil
		})
		huma.Register(api, dashcore.MCPTool(auth.Public(huma.Operation{
			OperationID: "root", Method: http.MethodGet, Path: "/things/", Summary: "Things' root",
		}, ""), "things_root"), func(context.Context, *struct{}) (*pingOutput, error) {
			out := &pingOutput{}
			out.Body.Pong = true
			return out, nil
		})
		huma.Register(api, auth.Require(huma.Operation{
			OperationID: "delete-thing", Method: http.MethodDelete, Path: "/things/{id}", Summary: "Delete a thing",
			DefaultStatus: http.StatusNoContent,
		}, "projects", "write"), func(context.Context, *idInput) (*struct{}, error) { return nil, nil })
	}}
}

// memAuditor keeps audit events.
type memAuditor struct {
	mu     sync.Mutex
	events []auth.AuditEvent
}

func (m *memAuditor) Audit(_ context.Context, e auth.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

func (m *memAuditor) all() []auth.AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]auth.AuditEvent(nil), m.events...)
}

// roleHeader names the role of the test's principal; a stand-in for the
// guard, which the app tests use.
const roleHeader = "X-Test-Role"

func principalMiddleware() dashcore.Middleware {
	return dashcore.Middleware{Name: "test-principal", Wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if role := r.Header.Get(roleHeader); role != "" {
				r = r.WithContext(auth.WithPrincipal(r.Context(), &auth.Principal{Subject: "test-" + role, Name: role,
					Kind: auth.KindUser, Roles: []string{role}}))
			}
			next.ServeHTTP(w, r)
		})
	}}
}

// fixture is a running API with the MCP server.
type fixture struct {
	url     string
	server  *mcpserver.Server
	api     huma.API
	auditor *memAuditor
}

func setup(t testing.TB, routes ...dashcore.Routes) *fixture {
	t.Helper()
	az, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{auditor: &memAuditor{}}
	f.server, err = mcpserver.New(mcpserver.Options{Authorizer: az, Auditor: f.auditor, MaxResultBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) == 0 {
		routes = []dashcore.Routes{thingsRoutes()}
	}
	h, api, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes:     append(routes, f.server.Contribution()),
		Middleware: []dashcore.Middleware{principalMiddleware()},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

type roleTransport struct{ role string }

func (rt roleTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if rt.role != "" {
		r.Header.Set(roleHeader, rt.role)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connect returns an SDK client session as a principal of role.
func (f *fixture) connect(t testing.TB, role string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.url + mcpserver.Path,
		HTTPClient: &http.Client{Transport: roleTransport{role}, Timeout: 10 * time.Second}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect as %q: %v", role, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}
