package tracker

import (
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/store"
)

// Module adds the tracker to an application: it contributes Migrations,
// provides *Projects, *Components, *Tasks and *Dependencies, and adds the
// API (see Routes). It needs a *store.DB (store.Module) and an Outbox,
// which the application provides from the event bus's outbox:
//
//	fx.Provide(func(o *eventbuspg.Outbox) tracker.Outbox { return o }),
//
// and, to guard the routes, auth.Module.
var Module = fx.Module("tracker",
	store.AsMigrations(Migrations.Namespace, Migrations.FS, Migrations.DependsOn...),
	fx.Provide(
		NewProjects,
		NewComponents,
		NewTasks,
		NewDependencies,
		dashcore.AsRoutes(newModuleRoutes),
	),
)

type routesParams struct {
	fx.In
	Projects     *Projects
	Components   *Components
	Tasks        *Tasks
	Dependencies *Dependencies
}

func newModuleRoutes(p routesParams) dashcore.Routes {
	rt := &Routes{Projects: p.Projects, Components: p.Components, Tasks: p.Tasks, Dependencies: p.Dependencies}
	return rt.Contribution()
}
