package tracker_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/examples/dashboard/tracker"
	"github.com/taylordash/taylordash/store"
)

// TestViewerReadsButCannotWrite: a viewer (projects:read) reads every
// resource and is refused (403) every write; an operator (projects:write)
// writes, and its events name it; no credential is a 401.
func TestViewerReadsButCannotWrite(t *testing.T) {
	d := start(t)
	viewer, operator := d.key("viewer"), d.key("operator")
	p := d.newProject(map[string]any{"name": "Shop"})
	c := d.newComponent(p.ID, map[string]any{"name": "API"})
	c2 := d.newComponent(p.ID, map[string]any{"name": "DB"})
	tk := d.newTask(c.ID, map[string]any{"name": "Webhook"})
	d.must(http.StatusCreated, d.admin(http.MethodPost, "/api/v1/components/"+c.ID+"/dependencies", map[string]any{"depends_on_id": c2.ID}), nil)

	for _, path := range []string{
		"/api/v1/projects", "/api/v1/projects/" + p.ID, "/api/v1/projects/" + p.ID + "/components",
		"/api/v1/components/" + c.ID, "/api/v1/components/" + c.ID + "/tasks", "/api/v1/components/" + c.ID + "/dependencies",
		"/api/v1/tasks/" + tk.ID,
	} {
		if r := d.call(http.MethodGet, path, viewer, nil); r.Status != http.StatusOK {
			t.Errorf("viewer GET %s: %d %s", path, r.Status, r.Body)
		}
		if r := d.call(http.MethodGet, path, "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: %d", path, r.Status)
		}
	}

	writes := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/api/v1/projects", map[string]any{"name": "x"}},
		{http.MethodPut, "/api/v1/projects/" + p.ID, map[string]any{"name": "x"}},
		{http.MethodPatch, "/api/v1/projects/" + p.ID, map[string]any{"name": "x"}},
		{http.MethodDelete, "/api/v1/projects/" + p.ID, nil},
		{http.MethodPost, "/api/v1/projects/" + p.ID + "/components", map[string]any{"name": "x"}},
		{http.MethodPut, "/api/v1/components/" + c.ID, map[string]any{"name": "x"}},
		{http.MethodDelete, "/api/v1/components/" + c.ID, nil},
		{http.MethodPost, "/api/v1/components/" + c.ID + "/tasks", map[string]any{"name": "x"}},
		{http.MethodPut, "/api/v1/tasks/" + tk.ID, map[string]any{"name": "x"}},
		{http.MethodDelete, "/api/v1/tasks/" + tk.ID, nil},
		{http.MethodPost, "/api/v1/components/" + c2.ID + "/dependencies", map[string]any{"depends_on_id": c.ID}},
		{http.MethodDelete, "/api/v1/components/" + c.ID + "/dependencies/" + c2.ID, nil},
	}
	for _, w := range writes {
		r := d.call(w.method, w.path, viewer, w.body)
		if pr := r.problem(t); r.Status != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d %+v", w.method, w.path, r.Status, pr)
		}
	}
	// Nothing changed.
	var got project
	d.must(http.StatusOK, d.call(http.MethodGet, "/api/v1/projects/"+p.ID, viewer, nil), &got)
	if got.Name != "Shop" || !got.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("a refused write changed the project: %+v", got)
	}

	// An operator writes; created_by is its key's subject.
	w := d.call(http.MethodPost, "/api/v1/projects", operator, map[string]any{"name": "by operator"})
	var op project
	d.must(http.StatusCreated, w, &op)
	ev := d.event(w, "tracker/events/projects/created", "project_created", "project_id", op.ID)
	if by, _ := ev["created_by"].(string); len(by) < 5 || by[:4] != "key:" {
		t.Errorf("created_by %v, want the operator key's subject", ev["created_by"])
	}
	d.must(http.StatusNoContent, d.call(http.MethodDelete, "/api/v1/projects/"+op.ID, operator, nil), nil)
}

// TestCascadeDelete: deleting a project deletes its components, their
// tasks and their dependencies; deleting a component, its tasks and the
// dependencies on it.
func TestCascadeDelete(t *testing.T) {
	d := start(t)
	p := d.newProject(map[string]any{"name": "Shop"})
	a := d.newComponent(p.ID, map[string]any{"name": "A"})
	b := d.newComponent(p.ID, map[string]any{"name": "B"})
	ta := d.newTask(a.ID, map[string]any{"name": "on A"})
	tb := d.newTask(b.ID, map[string]any{"name": "on B"})
	d.must(http.StatusCreated, d.admin(http.MethodPost, "/api/v1/components/"+a.ID+"/dependencies", map[string]any{"depends_on_id": b.ID}), nil)
	keep := d.newProject(map[string]any{"name": "Keep"})
	kc := d.newComponent(keep.ID, map[string]any{"name": "K"})
	kt := d.newTask(kc.ID, map[string]any{"name": "on K"})

	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := d.DB.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Deleting B takes its task and A's dependency on it.
	d.must(http.StatusNoContent, d.admin(http.MethodDelete, "/api/v1/components/"+b.ID, nil), nil)
	if r := d.admin(http.MethodGet, "/api/v1/tasks/"+tb.ID, nil); r.Status != http.StatusNotFound {
		t.Errorf("B's task survived: %d", r.Status)
	}
	if n := count(`SELECT count(*) FROM component_dependencies WHERE project_id = $1`, p.ID); n != 0 {
		t.Errorf("%d dependencies on a deleted component", n)
	}

	d.must(http.StatusNoContent, d.admin(http.MethodDelete, "/api/v1/projects/"+p.ID, nil), nil)
	for _, path := range []string{"/api/v1/components/" + a.ID, "/api/v1/tasks/" + ta.ID, "/api/v1/projects/" + p.ID + "/components"} {
		if r := d.admin(http.MethodGet, path, nil); r.Status != http.StatusNotFound {
			t.Errorf("after deleting the project, GET %s: %d", path, r.Status)
		}
	}
	if n := count(`SELECT (SELECT count(*) FROM components WHERE project_id = $1) + (SELECT count(*) FROM tasks WHERE component_id = $2)`, p.ID, a.ID); n != 0 {
		t.Errorf("%d rows outlived their project", n)
	}
	// The other project is untouched.
	if r := d.admin(http.MethodGet, "/api/v1/tasks/"+kt.ID, nil); r.Status != http.StatusOK {
		t.Errorf("another project's task: %d", r.Status)
	}
	if r := d.admin(http.MethodGet, "/api/v1/projects/"+uuid.NewString()+"/components", nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown project's components: %d", r.Status)
	}
}

// TestModuleWiring: the dashboard provides everything the tracker needs.
func TestModuleWiring(t *testing.T) {
	err := fx.ValidateApp(app.Modules(), fx.Invoke(func(*tracker.Projects, *tracker.Components, *tracker.Tasks,
		*tracker.Dependencies, *store.DB) {
	}))
	if err != nil {
		t.Fatal(err)
	}
}
