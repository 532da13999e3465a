// Package tracker is the dashboard's domain: projects, their components,
// the components' tasks, and the dependencies between the components of a
// project. It is what a team writes on top of the TaylorDash modules: a
// schema contributed with store.AsMigrations, repositories on pgx, an API
// contributed with dashcore.AsRoutes and guarded with auth.Require, and an
// event for every write, written through the event bus's outbox in the
// write's transaction.
//
// It keeps the original TaylorDash API's paths, field names and response
// shapes (GET /api/v1/projects answers {"projects": [...], "count": n}),
// adds the create, update and delete operations the original lacked for
// components, tasks and dependencies, and fixes its bugs (see Differences
// from the original).
//
// # Operations
//
//	GET    /api/v1/projects                                     {"projects", "count", "total"}
//	POST   /api/v1/projects                                     201 project
//	GET    /api/v1/projects/{project_id}                        project
//	PUT    /api/v1/projects/{project_id}                        project (PATCH too)
//	DELETE /api/v1/projects/{project_id}                        204, cascades
//	GET    /api/v1/projects/{project_id}/components             {"components", "count", "total"}
//	POST   /api/v1/projects/{project_id}/components             201 component
//	GET    /api/v1/components/{component_id}                    component
//	PUT    /api/v1/components/{component_id}                    component (PATCH too)
//	DELETE /api/v1/components/{component_id}                    204, cascades
//	GET    /api/v1/components/{component_id}/tasks              {"tasks", "count", "total"}
//	POST   /api/v1/components/{component_id}/tasks              201 task
//	GET    /api/v1/components/{component_id}/dependencies       {"dependencies", "count", "total"}
//	POST   /api/v1/components/{component_id}/dependencies       201 dependency
//	DELETE /api/v1/components/{component_id}/dependencies/{id}  204
//	GET    /api/v1/tasks/{task_id}                              task
//	PUT    /api/v1/tasks/{task_id}                              task (PATCH too)
//	DELETE /api/v1/tasks/{task_id}                              204
//
// Reads need the permission projects:read and writes projects:write, for
// components, tasks and dependencies too (one resource for the whole
// tree): in the default policy a viewer reads, an operator or admin
// writes. Every operation has an operation id, a summary, a tag
// (projects, components or tasks), examples, and its error statuses.
//
// Listing, getting, creating and updating projects, components and tasks
// are also MCP tools (dashcore.MCPTool, next to auth.Require): list_projects,
// get_project, create_project, update_project (PUT), and the same for
// components (list_components, get_component, ...) and tasks, served by
// pluginhost/mcp/mcpserver with the same permissions. Deletes and
// dependencies are not tools.
//
// # Fields and statuses
//
// A [Project] has id, name (1 to 255 characters), description (at most
// 1000), status, owner_id (a UUID), metadata (a JSON object), created_at
// and updated_at. A [Component] has id, project_id, name, type (free
// text, at most 100), status, progress (0 to 100), position and metadata
// (JSON objects: the original returned them as strings), created_at and
// updated_at. A [Task] has id, component_id, name, description, status,
// assignee_id (a UUID), due_date, completed_at, created_at and
// updated_at. A [Dependency] has component_id, depends_on_id, project_id,
// dependency_type and created_at.
//
// The statuses, enforced by the API and by CHECK constraints:
//
//   - projects: planning (the default, as the original's ProjectCreate),
//     active, inactive, on_hold, completed, cancelled, archived: the union
//     of what the original's frontend sends (planning, active, on_hold,
//     completed), its Project type (inactive) and its event schema
//     (archived), and cancelled;
//   - components: pending (the default, as the original's column),
//     in_progress, blocked, completed (the original's event schema),
//     cancelled;
//   - tasks: todo (the default), in_progress, review, done (the original's
//     event schema), cancelled. A task that becomes done gets completed_at
//     unless the writer gives one; one that leaves done loses it unless
//     the writer changes it (a trigger);
//   - dependency types: blocking (the default) and optional; both count
//     for the cycle check.
//
// Bad input is a 422 problem whose errors name the field
// (body.owner_id, query.limit...); a malformed id in the path is the
// original's 400 ("Invalid project ID format"); an unknown id is the
// original's 404 ("Project not found", "Component not found", "Task not
// found"). Errors are RFC 9457 problems (dashcore); a 500 never shows its
// cause.
//
// # Partial updates
//
// PUT (and PATCH, its alias) change only the fields the body holds. In
// the update types ([ProjectUpdate], [ComponentUpdate], [TaskUpdate])
// each field is an [Optional]: absent, it stays; null, it is cleared
// (description, owner_id, type, position, assignee_id, due_date,
// completed_at; null for name, status, progress or metadata is a 422);
// a value replaces it (metadata and position whole, not merged). The
// OpenAPI schema shows the nullable fields as type [T, "null"].
//
// An empty body is refused: 422 "no fields to update" ([ErrNoChanges]).
// An update whose values equal the stored ones answers 200 but changes
// nothing: updated_at stays (a trigger moves updated_at only when a row
// changes) and no event is published.
//
// # Lists
//
// Every list is newest first (created_at, then id), filtered by
// created_after (inclusive) and created_before (exclusive), and paged by
// limit (default 100, at most 500: a larger limit is a 422, not clamped)
// and offset. count is the number of items in the page, as the original's
// count was the length of its list; total is the number of items matching
// the filters on every page. Projects filter by status and owner_id,
// components by status, tasks by status and assignee_id. The components
// of an unknown project and the tasks or dependencies of an unknown
// component are a 404 (the original answered an empty list).
//
// # Dependencies
//
// A component may depend on another component of its project (a foreign
// key on (project_id, id) keeps both ends in one project). A component
// depending on itself, on an unknown component, or on one of another
// project is a 422; a dependency that exists is a 409
// ([ErrDependencyExists]). A dependency that would close a cycle is a
// 409 whose detail names it (the dependency would close a cycle: "C" →
// "A" → "B" → "C") and whose cause is a [*CycleError] with the ids.
//
// The check runs in the insert's transaction: a recursive CTE walks what
// the new target reaches. Inserts into one project's graph are serialized
// by a transaction-scoped advisory lock on the project
// (pg_advisory_xact_lock), so two concurrent inserts that would close a
// cycle together cannot both succeed: the second sees the first's edge.
//
// # Events
//
// Every write publishes an event through the [Outbox] in its own
// transaction: the event goes out if and only if the write commits, and
// the request never waits for the broker. The envelope's trace_id is the
// request's trace (the response's X-Trace-ID).
//
//	tracker/events/projects/{created,updated,deleted}      project_{created,updated,deleted}
//	tracker/events/components/{created,updated,deleted}    component_{created,updated,deleted}
//	tracker/events/components/{linked,unlinked}            component_{linked,unlinked}
//	tracker/events/tasks/{created,updated,deleted}         task_{created,updated,deleted}
//
// Payloads (the project ones are the original's):
//
//   - projects: project_id, name, status;
//   - components: component_id, project_id, name, type, status, progress;
//   - tasks: task_id, component_id, project_id, name, status, assignee_id;
//   - dependencies: component_id, depends_on_id, project_id,
//     dependency_type (a dependency is an event of the dependent
//     component, after the original schema's component.linked and
//     component.unlinked);
//
// each with created_by, updated_by or deleted_by, timestamp, and for
// updates updated_fields: the fields whose value changed (completed_at
// included when the trigger moved it). The actor is the subject of the
// request's principal (a user's id, an OIDC sub, "key:<id>" for an API
// key, "bootstrap" for the bootstrap key); without one (code calling the
// repositories outside a request, see auth.WithPrincipal) it is the
// project's owner_id for project events, as in the original, else null.
// Deleting a project or a component publishes one event; the rows deleted
// with it publish none.
//
// # Tables
//
// [Migrations] (namespace "tracker") creates projects, components, tasks
// and component_dependencies: CHECK constraints for every status, length
// and progress; NOT NULL parents with ON DELETE CASCADE, every foreign key
// indexed; indexes on projects (owner_id), (status), (created_at), tasks
// (assignee_id); and triggers that keep updated_at (and completed_at).
//
// # Using it
//
// In an fx application, [Module] contributes the migrations, provides
// the repositories and adds the routes; the application provides the
// [Outbox] from the event bus:
//
//	fx.Options(dashcore.Module, store.Module, eventbuspg.Module, auth.Module, ...,
//		tracker.Module,
//		fx.Provide(func(o *eventbuspg.Outbox) tracker.Outbox { return o }),
//	)
//
// Without fx, migrate with store.Migrate(ctx, db, eventbuspg.Migrations,
// tracker.Migrations), make the repositories with [NewProjects],
// [NewComponents], [NewTasks] and [NewDependencies] (a nil Outbox
// publishes nothing), and register [Routes] on a huma API.
//
// # Differences from the original
//
//   - create, update and delete for components, tasks and dependencies
//     (the original could only list components and tasks);
//   - statuses are enums (the original took any text, and text longer
//     than 50 characters was a 500);
//   - a bad owner_id or assignee_id is a 422 naming the field (the
//     original answered 500, or a misleading 400 "Invalid project ID
//     format");
//   - null clears a nullable field (the original ignored it); an empty
//     update is a 422 (the original bumped updated_at);
//   - position and metadata are JSON objects (the original returned
//     strings);
//   - the components of an unknown project are a 404 (the original
//     answered 200 with an empty list);
//   - lists are paged, bounded and filtered, and carry total;
//   - events of every write, through the outbox in the write's
//     transaction (the original published after the write, only for
//     projects, and took about 3 s per write with the broker down);
//   - created_by is who called, not the project's owner;
//   - RBAC on every operation (the original's one API key allowed
//     everything).
package tracker
