// Package app composes the dashboard application from the TaylorDash
// modules. The command in the parent directory runs it; tests start it
// with testkit.App(t, app.Modules()).
package app

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/auth/authpg"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/eventbus/mqtt"
	"github.com/taylordash/taylordash/examples/dashboard/tracker"
	"github.com/taylordash/taylordash/observability"
	"github.com/taylordash/taylordash/observability/logspg"
	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/pluginhost/mcp"
	"github.com/taylordash/taylordash/pluginhost/mcp/mcpserver"
	"github.com/taylordash/taylordash/pluginhost/scanner"
	"github.com/taylordash/taylordash/store"
)

// Version is the API version reported at / and in the OpenAPI document.
const Version = "1.0.0"

// Modules returns every module of the dashboard application.
func Modules() fx.Option {
	return fx.Options(
		dashcore.Module,
		store.Module,
		mqtt.Module,
		eventbus.Module,
		eventbuspg.Module,
		eventbuspg.HTTPModule,
		fx.Supply(dashcore.Info{
			Title:       "TaylorDash API",
			Version:     Version,
			Description: "The TaylorDash dashboard backend: projects, components and tasks, events, plugins.",
		}),
		auth.Module,
		authpg.Module,
		authpg.HTTPModule,
		observability.Module,
		logspg.Module,
		logspg.HTTPModule,
		// Audit events are published through the event bus's outbox, in
		// the audit row's transaction.
		fx.Provide(func(o *eventbuspg.Outbox) authpg.Outbox { return o }),
		tracker.Module,
		fx.Provide(func(o *eventbuspg.Outbox) tracker.Outbox { return o }),
		pluginhost.Module,
		scanner.Module,
		// External MCP servers: calls and status changes are published
		// through the outbox.
		mcp.Module,
		fx.Provide(func(o *eventbuspg.Outbox) mcp.Outbox { return o }),
		mcpserver.Module,
		fx.Provide(func(o *eventbuspg.Outbox) pluginhost.Publisher { return o }),
		fx.Provide(dashcore.AsRoutes(newRootRoutes)),
	)
}

// RootBody is the body of GET /, as the original API answered it.
type RootBody struct {
	Message string `json:"message" example:"TaylorDash Backend API"`
	Version string `json:"version" example:"1.0.0"`
}

type rootOutput struct {
	Body RootBody
}

func newRootRoutes() dashcore.Routes {
	return dashcore.Routes{
		Name: "root",
		Register: func(api huma.API) {
			huma.Register(api, auth.Public(huma.Operation{
				OperationID: "root",
				Method:      http.MethodGet,
				Path:        "/",
				Summary:     "API name and version",
				Tags:        []string{"meta"},
				// Public, but rate-limited per client like every route.
				Errors: []int{http.StatusTooManyRequests},
			}, ""), func(context.Context, *struct{}) (*rootOutput, error) {
				return &rootOutput{Body: RootBody{Message: "TaylorDash Backend API", Version: Version}}, nil
			})
		},
	}
}
