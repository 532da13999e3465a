package tracker_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestComponentLifecycle: components of a project, with position and
// metadata as JSON objects, partial updates, a 404 for the components of
// an unknown project, and an event per write.
func TestComponentLifecycle(t *testing.T) {
	d := start(t)
	p := d.newProject(map[string]any{"name": "Shop"})
	base := "/api/v1/projects/" + p.ID + "/components"

	var empty struct {
		Components []component `json:"components"`
		Count      int         `json:"count"`
		Total      int         `json:"total"`
	}
	r := d.must(http.StatusOK, d.admin(http.MethodGet, base, nil), &empty)
	if empty.Count != 0 || empty.Total != 0 || !strings.Contains(string(r.Body), `"components":[]`) {
		t.Fatalf("no components yet: %s", r.Body)
	}

	w := d.admin(http.MethodPost, base, map[string]any{"name": "API", "type": "service", "progress": 10,
		"position": map[string]any{"x": 120, "y": 80}, "metadata": map[string]any{"lang": "go"}})
	var c component
	d.must(http.StatusCreated, w, &c)
	if c.ProjectID != p.ID || c.Name != "API" || c.Type == nil || *c.Type != "service" || c.Status != "pending" ||
		c.Progress != 10 || c.Position["x"] != 120.0 || c.Metadata["lang"] != "go" {
		t.Fatalf("created %s", w.Body)
	}
	if !strings.Contains(string(w.Body), `"position":{"x":120,"y":80}`) {
		t.Errorf("position must be a JSON object: %s", w.Body)
	}
	ev := d.event(w, "tracker/events/components/created", "component_created", "component_id", c.ID)
	if ev["project_id"] != p.ID || ev["name"] != "API" || ev["status"] != "pending" || ev["progress"] != 10.0 || ev["created_by"] != "bootstrap" {
		t.Errorf("component_created payload %v", ev)
	}

	// Defaults: no position (null), progress 0, metadata {}.
	ui := d.newComponent(p.ID, map[string]any{"name": "UI"})
	if ui.Position != nil || ui.Progress != 0 || ui.Metadata == nil || ui.Type != nil {
		t.Fatalf("defaults: %+v", ui)
	}

	var got component
	d.must(http.StatusOK, d.admin(http.MethodGet, "/api/v1/components/"+c.ID, nil), &got)
	if got.ID != c.ID || got.Position["y"] != 80.0 {
		t.Fatalf("get: %+v", got)
	}

	var l struct {
		Components []component `json:"components"`
		Count      int         `json:"count"`
		Total      int         `json:"total"`
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, base, nil), &l)
	if l.Count != 2 || l.Total != 2 || l.Components[0].ID != ui.ID || l.Components[1].ID != c.ID {
		t.Fatalf("list: %+v", l)
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, base+"?status=pending&limit=1", nil), &l)
	if l.Count != 1 || l.Total != 2 {
		t.Fatalf("list page: %+v", l)
	}

	// Partial update: progress and status change; null clears position
	// and type; the rest stays.
	w = d.admin(http.MethodPut, "/api/v1/components/"+c.ID, `{"progress": 100, "status": "completed", "position": null, "type": null}`)
	var up component
	d.must(http.StatusOK, w, &up)
	if up.Progress != 100 || up.Status != "completed" || up.Position != nil || up.Type != nil || up.Name != "API" ||
		up.Metadata["lang"] != "go" || !up.UpdatedAt.After(c.UpdatedAt) {
		t.Fatalf("updated %s", w.Body)
	}
	ev = d.event(w, "tracker/events/components/updated", "component_updated", "component_id", c.ID)
	if fields, _ := ev["updated_fields"].([]any); !sameStrings(fields, "position", "progress", "status", "type") || ev["progress"] != 100.0 {
		t.Errorf("component_updated payload %v", ev)
	}

	w = d.admin(http.MethodPatch, "/api/v1/components/"+ui.ID, map[string]any{"position": map[string]any{"x": 1}})
	d.must(http.StatusOK, w, &up)
	if up.Position["x"] != 1.0 {
		t.Fatalf("patched %s", w.Body)
	}
	d.event(w, "tracker/events/components/updated", "component_updated", "component_id", ui.ID)

	w = d.admin(http.MethodDelete, "/api/v1/components/"+c.ID, nil)
	d.must(http.StatusNoContent, w, nil)
	ev = d.event(w, "tracker/events/components/deleted", "component_deleted", "component_id", c.ID)
	if ev["deleted_by"] != "bootstrap" || ev["project_id"] != p.ID {
		t.Errorf("component_deleted payload %v", ev)
	}
	if pr := d.admin(http.MethodGet, "/api/v1/components/"+c.ID, nil).problem(t); pr.Status != 404 || pr.Detail != "Component not found" {
		t.Fatalf("after delete: %+v", pr)
	}
}

// TestComponentValidation: 422 naming the field, 400 for malformed ids,
// 404 for unknown ones, including the components of an unknown project.
func TestComponentValidation(t *testing.T) {
	d := start(t)
	p := d.newProject(map[string]any{"name": "Shop"})
	c := d.newComponent(p.ID, map[string]any{"name": "API"})
	base := "/api/v1/projects/" + p.ID + "/components"

	for _, tc := range []struct {
		name, method, path string
		body               any
		location           string
	}{
		{"progress 101", http.MethodPost, base, map[string]any{"name": "x", "progress": 101}, "body.progress"},
		{"progress -1", http.MethodPost, base, map[string]any{"name": "x", "progress": -1}, "body.progress"},
		{"bad status", http.MethodPost, base, map[string]any{"name": "x", "status": "done"}, "body.status"},
		{"empty name", http.MethodPost, base, map[string]any{"name": ""}, "body.name"},
		{"name of 256", http.MethodPost, base, map[string]any{"name": strings.Repeat("n", 256)}, "body.name"},
		{"type of 101", http.MethodPost, base, map[string]any{"name": "x", "type": strings.Repeat("t", 101)}, "body.type"},
		{"position not an object", http.MethodPost, base, map[string]any{"name": "x", "position": []int{1, 2}}, "body.position"},
		{"update progress 101", http.MethodPut, "/api/v1/components/" + c.ID, map[string]any{"progress": 101}, "body.progress"},
		{"update null progress", http.MethodPut, "/api/v1/components/" + c.ID, `{"progress": null}`, "body.progress"},
		{"update null name", http.MethodPut, "/api/v1/components/" + c.ID, `{"name": null}`, "body.name"},
		{"update project_id", http.MethodPut, "/api/v1/components/" + c.ID, map[string]any{"project_id": uuid.NewString()}, "body.project_id"},
		{"empty update", http.MethodPut, "/api/v1/components/" + c.ID, `{}`, ""},
		{"bad status filter", http.MethodGet, base + "?status=done", nil, "query.status"},
		{"limit above 500", http.MethodGet, base + "?limit=1000", nil, "query.limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.admin(tc.method, tc.path, tc.body)
			pr := r.problem(t)
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if tc.location == "" {
				return
			}
			for _, e := range pr.Errors {
				if e.Location == tc.location {
					return
				}
			}
			t.Fatalf("no error at %s: %s", tc.location, r.Body)
		})
	}

	unknown := uuid.NewString()
	for _, c := range []struct {
		method, path, detail string
		status               int
		body                 any
	}{
		{http.MethodGet, "/api/v1/projects/" + unknown + "/components", "Project not found", 404, nil},
		{http.MethodPost, "/api/v1/projects/" + unknown + "/components", "Project not found", 404, map[string]any{"name": "x"}},
		{http.MethodGet, "/api/v1/projects/nope/components", "Invalid project ID format", 400, nil},
		{http.MethodPost, "/api/v1/projects/nope/components", "Invalid project ID format", 400, map[string]any{"name": "x"}},
		{http.MethodGet, "/api/v1/components/" + unknown, "Component not found", 404, nil},
		{http.MethodPut, "/api/v1/components/" + unknown, "Component not found", 404, map[string]any{"name": "x"}},
		{http.MethodDelete, "/api/v1/components/" + unknown, "Component not found", 404, nil},
		{http.MethodGet, "/api/v1/components/nope", "Invalid component ID format", 400, nil},
		{http.MethodPut, "/api/v1/components/nope", "Invalid component ID format", 400, map[string]any{"name": "x"}},
		{http.MethodDelete, "/api/v1/components/nope", "Invalid component ID format", 400, nil},
	} {
		r := d.admin(c.method, c.path, c.body)
		if pr := r.problem(t); r.Status != c.status || pr.Detail != c.detail {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
}
