package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/eventbus/eventbuspg"
	"github.com/taylordash/taylordash/examples/dashboard/tracker"
	"github.com/taylordash/taylordash/internal/exampledb"
	"github.com/taylordash/taylordash/store"
)

// Example uses the repositories without fx or HTTP: a project, two
// components, a dependency, a refused cycle, a partial update where null
// clears a field, and the events every write left in the outbox (and the
// mirror), in the write's transaction.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, cleanup, err := exampleDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()

	outbox := eventbuspg.NewOutbox(db, eventbuspg.OutboxConfig{})
	projects := tracker.NewProjects(db, outbox)
	components := tracker.NewComponents(db, outbox)
	deps := tracker.NewDependencies(db, outbox)

	// The actor of the events: an API's request carries its principal.
	ctx = auth.WithPrincipal(ctx, &auth.Principal{Subject: "alice"})

	desc := "Move the site to the new stack."
	p, err := projects.Create(ctx, tracker.NewProject{Name: "Website relaunch", Description: &desc})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("project:", p.Name, p.Status, p.Metadata)

	api, _ := components.Create(ctx, p.ID, tracker.NewComponent{Name: "API"})
	ui, _ := components.Create(ctx, p.ID, tracker.NewComponent{Name: "UI", Position: map[string]any{"x": 10, "y": 20}})
	if _, err := deps.Add(ctx, ui.ID, tracker.NewDependency{DependsOnID: api.ID}); err != nil {
		fmt.Println(err)
		return
	}
	_, err = deps.Add(ctx, api.ID, tracker.NewDependency{DependsOnID: ui.ID})
	var cycle *tracker.CycleError
	fmt.Println("conflict:", errors.Is(err, dashcore.ErrConflict), errors.As(err, &cycle), strings.Join(cycle.Names, " → "))

	// Absent fields stay, null clears, values replace.
	p, err = projects.Update(ctx, p.ID, tracker.ProjectUpdate{
		Status:      tracker.Some(tracker.ProjectActive),
		Description: tracker.Null[string](),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("updated:", p.Name, p.Status, p.Description == nil)
	_, err = projects.Update(ctx, p.ID, tracker.ProjectUpdate{})
	fmt.Println("empty update:", err)

	events, err := eventbuspg.NewMirror(db).List(ctx, eventbuspg.EventFilter{})
	if err != nil {
		fmt.Println(err)
		return
	}
	slices.Reverse(events) // oldest first
	for _, e := range events {
		fmt.Println("event:", e.Topic, e.Kind)
	}

	// Output:
	// project: Website relaunch planning map[]
	// conflict: true true API → UI → API
	// updated: Website relaunch active true
	// empty update: no fields to update
	// event: tracker/events/projects/created project_created
	// event: tracker/events/components/created component_created
	// event: tracker/events/components/created component_created
	// event: tracker/events/components/linked component_linked
	// event: tracker/events/projects/updated project_updated
}

// Example_routes lists the tracker's API and the permission each
// operation requires, as its OpenAPI document says. Register only
// declares operations, so a Routes without repositories is enough to
// list them.
func Example_routes() {
	rt := &tracker.Routes{}
	_, api, err := dashcore.NewHandler(dashcore.HandlerOptions{Routes: []dashcore.Routes{rt.Contribution()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	paths := api.OpenAPI().Paths
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		if !strings.HasPrefix(path, "/api/") {
			continue // the health endpoints
		}
		item := paths[path]
		for _, m := range []struct {
			method string
			op     *huma.Operation
		}{{"GET", item.Get}, {"POST", item.Post}, {"PUT", item.Put}, {"PATCH", item.Patch}, {"DELETE", item.Delete}} {
			if m.op != nil {
				fmt.Printf("%-6s %-64s %s\n", m.method, path, m.op.Extensions["x-permission"])
			}
		}
	}
	// Output:
	// GET    /api/v1/components/{component_id}                                projects:read
	// PUT    /api/v1/components/{component_id}                                projects:write
	// PATCH  /api/v1/components/{component_id}                                projects:write
	// DELETE /api/v1/components/{component_id}                                projects:write
	// GET    /api/v1/components/{component_id}/dependencies                   projects:read
	// POST   /api/v1/components/{component_id}/dependencies                   projects:write
	// DELETE /api/v1/components/{component_id}/dependencies/{depends_on_id}   projects:write
	// GET    /api/v1/components/{component_id}/tasks                          projects:read
	// POST   /api/v1/components/{component_id}/tasks                          projects:write
	// GET    /api/v1/projects                                                 projects:read
	// POST   /api/v1/projects                                                 projects:write
	// GET    /api/v1/projects/{project_id}                                    projects:read
	// PUT    /api/v1/projects/{project_id}                                    projects:write
	// PATCH  /api/v1/projects/{project_id}                                    projects:write
	// DELETE /api/v1/projects/{project_id}                                    projects:write
	// GET    /api/v1/projects/{project_id}/components                         projects:read
	// POST   /api/v1/projects/{project_id}/components                         projects:write
	// GET    /api/v1/tasks/{task_id}                                          projects:read
	// PUT    /api/v1/tasks/{task_id}                                          projects:write
	// PATCH  /api/v1/tasks/{task_id}                                          projects:write
	// DELETE /api/v1/tasks/{task_id}                                          projects:write
}

// exampleDB opens a scratch database for an example (see exampledb).
func exampleDB(ctx context.Context) (*store.DB, func(), error) {
	return exampledb.Open(ctx, "tracker", eventbuspg.Migrations, tracker.Migrations)
}
