package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/examples/dashboard/tracker"
	"github.com/taylordash/taylordash/testkit"
)

type dependency struct {
	ComponentID    string `json:"component_id"`
	DependsOnID    string `json:"depends_on_id"`
	ProjectID      string `json:"project_id"`
	DependencyType string `json:"dependency_type"`
}

// TestDependencies: A → B, B → C, then C → A is refused with the cycle
// named; a self-loop, a duplicate, an unknown or foreign component are
// refused; removal works once; each write publishes its event.
func TestDependencies(t *testing.T) {
	d := start(t)
	p := d.newProject(map[string]any{"name": "Shop"})
	a := d.newComponent(p.ID, map[string]any{"name": "A"})
	b := d.newComponent(p.ID, map[string]any{"name": "B"})
	c := d.newComponent(p.ID, map[string]any{"name": "C"})
	deps := func(id string) string { return "/api/v1/components/" + id + "/dependencies" }

	w := d.admin(http.MethodPost, deps(a.ID), map[string]any{"depends_on_id": b.ID})
	var ab dependency
	d.must(http.StatusCreated, w, &ab)
	if ab.ComponentID != a.ID || ab.DependsOnID != b.ID || ab.ProjectID != p.ID || ab.DependencyType != "blocking" {
		t.Fatalf("A → B: %s", w.Body)
	}
	ev := d.event(w, "tracker/events/components/linked", "component_linked", "component_id", a.ID)
	if ev["depends_on_id"] != b.ID || ev["project_id"] != p.ID || ev["dependency_type"] != "blocking" || ev["created_by"] != "bootstrap" {
		t.Errorf("component_linked payload %v", ev)
	}
	d.must(http.StatusCreated, d.admin(http.MethodPost, deps(b.ID), map[string]any{"depends_on_id": c.ID, "dependency_type": "optional"}), nil)

	// C → A closes A → B → C → A.
	r := d.admin(http.MethodPost, deps(c.ID), map[string]any{"depends_on_id": a.ID})
	pr := r.problem(t)
	if r.Status != http.StatusConflict || pr.Detail != `the dependency would close a cycle: "C" → "A" → "B" → "C"` {
		t.Fatalf("cycle: %d %s", r.Status, r.Body)
	}
	if len(pr.Errors) != 1 || pr.Errors[0].Location != "body.depends_on_id" ||
		!strings.Contains(pr.Errors[0].Message, c.ID+" → "+a.ID+" → "+b.ID+" → "+c.ID) {
		t.Errorf("cycle field error: %s", r.Body)
	}

	for _, tc := range []struct {
		name   string
		from   string
		body   any
		status int
		detail string
	}{
		{"self-loop", a.ID, map[string]any{"depends_on_id": a.ID}, 422, "a component cannot depend on itself"},
		{"duplicate", a.ID, map[string]any{"depends_on_id": b.ID}, 409, "already depends"},
		{"unknown target", a.ID, map[string]any{"depends_on_id": uuid.NewString()}, 422, "no component has this id"},
		{"bad target", a.ID, map[string]any{"depends_on_id": "B"}, 422, ""},
		{"bad type", a.ID, map[string]any{"depends_on_id": c.ID, "dependency_type": "hard"}, 422, ""},
		{"unknown component", uuid.NewString(), map[string]any{"depends_on_id": a.ID}, 404, "Component not found"},
		{"malformed component", "A", map[string]any{"depends_on_id": a.ID}, 400, "Invalid component ID format"},
	} {
		r := d.admin(http.MethodPost, deps(tc.from), tc.body)
		if pr := r.problem(t); r.Status != tc.status || !strings.Contains(pr.Detail+fmt.Sprint(pr.Errors), tc.detail) {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
	}

	// A component of another project cannot be depended on.
	q := d.newProject(map[string]any{"name": "Other"})
	x := d.newComponent(q.ID, map[string]any{"name": "X"})
	r = d.admin(http.MethodPost, deps(a.ID), map[string]any{"depends_on_id": x.ID})
	if pr := r.problem(t); r.Status != 422 || !strings.Contains(r.String(), "same project") || pr.Errors[0].Location != "body.depends_on_id" {
		t.Errorf("cross-project: %d %s", r.Status, r.Body)
	}

	var l struct {
		Dependencies []dependency `json:"dependencies"`
		Count        int          `json:"count"`
		Total        int          `json:"total"`
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, deps(b.ID), nil), &l)
	if l.Count != 1 || l.Total != 1 || l.Dependencies[0].DependsOnID != c.ID || l.Dependencies[0].DependencyType != "optional" {
		t.Fatalf("list: %+v", l)
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, deps(c.ID), nil), &l)
	if l.Count != 0 || l.Dependencies == nil {
		t.Fatalf("C depends on nothing: %+v", l)
	}
	if pr := d.admin(http.MethodGet, deps(uuid.NewString()), nil).problem(t); pr.Status != 404 || pr.Detail != "Component not found" {
		t.Errorf("list of unknown component: %+v", pr)
	}

	// Remove B → C; then C → A is allowed.
	w = d.admin(http.MethodDelete, deps(b.ID)+"/"+c.ID, nil)
	d.must(http.StatusNoContent, w, nil)
	ev = d.event(w, "tracker/events/components/unlinked", "component_unlinked", "component_id", b.ID)
	if ev["depends_on_id"] != c.ID || ev["deleted_by"] != "bootstrap" {
		t.Errorf("component_unlinked payload %v", ev)
	}
	if pr := d.admin(http.MethodDelete, deps(b.ID)+"/"+c.ID, nil).problem(t); pr.Status != 404 || pr.Detail != "Dependency not found" {
		t.Errorf("removed twice: %+v", pr)
	}
	if pr := d.admin(http.MethodDelete, deps(b.ID)+"/nope", nil).problem(t); pr.Status != 400 {
		t.Errorf("malformed depends_on_id: %+v", pr)
	}
	d.must(http.StatusCreated, d.admin(http.MethodPost, deps(c.ID), map[string]any{"depends_on_id": a.ID}), nil)
}

// String returns the body.
func (r response) String() string { return string(r.Body) }

// TestConcurrentInsertsCannotCloseACycle: two inserts that each are fine
// but together close a cycle, run at once, many times: exactly one
// succeeds, the other is refused with a *tracker.CycleError. Without the
// lock on the project's graph, both would see the graph without the
// other's edge.
func TestConcurrentInsertsCannotCloseACycle(t *testing.T) {
	db := testkit.Postgres(t, tracker.Migrations)
	ctx := context.Background()
	projects := tracker.NewProjects(db.DB, nil)
	components := tracker.NewComponents(db.DB, nil)
	deps := tracker.NewDependencies(db.DB, nil)

	p, err := projects.Create(ctx, tracker.NewProject{Name: "race"})
	if err != nil {
		t.Fatal(err)
	}
	newComponent := func(name string) string {
		t.Helper()
		c, err := components.Create(ctx, p.ID, tracker.NewComponent{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	for round := range 25 {
		// Two-cycle: X → Y and Y → X. Three-cycle: with A → B there,
		// B → C and C → A.
		x, y := newComponent(fmt.Sprint("x", round)), newComponent(fmt.Sprint("y", round))
		a, b, c := newComponent(fmt.Sprint("a", round)), newComponent(fmt.Sprint("b", round)), newComponent(fmt.Sprint("c", round))
		if _, err := deps.Add(ctx, a, tracker.NewDependency{DependsOnID: b}); err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2][2]string{{{x, y}, {y, x}}, {{b, c}, {c, a}}} {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for i, edge := range pair {
				wg.Go(func() {
					<-start
					_, errs[i] = deps.Add(ctx, edge[0], tracker.NewDependency{DependsOnID: edge[1]})
				})
			}
			close(start)
			wg.Wait()
			ok, refused := 0, 0
			for _, err := range errs {
				var ce *tracker.CycleError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &ce) && errors.Is(err, dashcore.ErrConflict):
					refused++
				default:
					t.Fatalf("round %d: unexpected error %v", round, err)
				}
			}
			if ok != 1 || refused != 1 {
				t.Fatalf("round %d: %d inserts succeeded and %d were refused (%v), want one of each", round, ok, refused, errs)
			}
		}
	}
	// And no cycle is stored: no component reaches itself.
	var cycles int
	err = db.DB.QueryRow(ctx, `WITH RECURSIVE walk(start, id) AS (
		SELECT component_id, depends_on_id FROM component_dependencies
		UNION
		SELECT w.start, d.depends_on_id FROM walk w JOIN component_dependencies d ON d.component_id = w.id
	) SELECT count(*) FROM walk WHERE start = id`).Scan(&cycles)
	if err != nil || cycles != 0 {
		t.Fatalf("stored cycles: %d (%v)", cycles, err)
	}
}

// TestCycleErrorNamesTheCycle: the repository's error for a cycle is a
// 409 whose *tracker.CycleError lists the ids and names around it.
func TestCycleErrorNamesTheCycle(t *testing.T) {
	db := testkit.Postgres(t, tracker.Migrations)
	ctx := context.Background()
	p, err := tracker.NewProjects(db.DB, nil).Create(ctx, tracker.NewProject{Name: "graph"})
	if err != nil {
		t.Fatal(err)
	}
	components := tracker.NewComponents(db.DB, nil)
	deps := tracker.NewDependencies(db.DB, nil)
	ids := map[string]string{}
	for _, n := range []string{"api", "db", "cache", "queue"} {
		c, err := components.Create(ctx, p.ID, tracker.NewComponent{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = c.ID
	}
	// A diamond: api → db, api → cache, cache → db, db → queue.
	for _, e := range [][2]string{{"api", "db"}, {"api", "cache"}, {"cache", "db"}, {"db", "queue"}} {
		if _, err := deps.Add(ctx, ids[e[0]], tracker.NewDependency{DependsOnID: ids[e[1]]}); err != nil {
			t.Fatalf("%v: %v", e, err)
		}
	}
	_, err = deps.Add(ctx, ids["queue"], tracker.NewDependency{DependsOnID: ids["api"]})
	var ce *tracker.CycleError
	if !errors.As(err, &ce) || !errors.Is(err, dashcore.ErrConflict) {
		t.Fatalf("queue → api: %v", err)
	}
	if got := strings.Join(ce.Names, " → "); got != "queue → api → db → queue" && got != "queue → api → cache → db → queue" {
		t.Fatalf("cycle %s", got)
	}
	if ce.Cycle[0] != ids["queue"] || ce.Cycle[len(ce.Cycle)-1] != ids["queue"] || ce.Cycle[1] != ids["api"] {
		t.Fatalf("cycle ids %v", ce.Cycle)
	}
	// The other direction is fine.
	if _, err := deps.Add(ctx, ids["api"], tracker.NewDependency{DependsOnID: ids["queue"]}); err != nil {
		t.Fatal(err)
	}
}
