package mcpserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcpserver"
)

func authorizer(t *testing.T) *auth.Authorizer {
	t.Helper()
	az, err := auth.NewAuthorizer(auth.NewMemoryAdapter(auth.DefaultRules()...), auth.AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return az
}

func TestModule(t *testing.T) {
	if err := fx.ValidateApp(mcpserver.Module, fx.Supply(authorizer(t)), fx.Invoke(func(*mcpserver.Server) {})); err != nil {
		t.Fatal(err)
	}
}

// The module contributes its route, and checks the tools at start: a
// marked operation that declares no requirement stops the application.
func TestModuleChecksToolsAtStart(t *testing.T) {
	unguarded := dashcore.Routes{Name: "unguarded", Register: func(api huma.API) {
		huma.Register(api, dashcore.MCPTool(huma.Operation{OperationID: "open", Method: http.MethodGet, Path: "/open"}, "open"),
			func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
	}}
	for _, c := range []struct {
		name   string
		routes dashcore.Routes
		want   string
	}{
		{"tools", thingsRoutes(), ""},
		{"unguarded", unguarded, "declares no requirement"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tools []*mcpserver.Tool
			app := fxtest.New(t, mcpserver.Module, fx.Supply(authorizer(t)),
				fx.Invoke(func(p struct {
					fx.In
					Routes []dashcore.Routes `group:"dashcore.routes"`
				}) error {
					_, _, err := dashcore.NewHandler(dashcore.HandlerOptions{Routes: append(p.Routes, c.routes)})
					return err
				}),
				fx.Invoke(func(s *mcpserver.Server, lc fx.Lifecycle) {
					lc.Append(fx.StartHook(func() { tools, _ = s.Tools() }))
				}))
			err := app.Start(context.Background())
			defer app.RequireStop()
			if c.want == "" {
				if err != nil || len(tools) != 5 {
					t.Fatalf("start: %v, tools %v", err, tools)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("start: %v, want an error holding %q", err, c.want)
			}
		})
	}
}
