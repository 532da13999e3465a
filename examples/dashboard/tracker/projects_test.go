package tracker_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestProjectLifecycle: the original's acceptance scenario for projects
// (§9.4.3), with each write's event observed on the broker carrying the
// request's trace id.
func TestProjectLifecycle(t *testing.T) {
	d := start(t)

	w := d.admin(http.MethodPost, "/api/v1/projects", map[string]any{"name": "X"})
	var p project
	d.must(http.StatusCreated, w, &p)
	if _, err := uuid.Parse(p.ID); err != nil || p.Name != "X" || p.Status != "planning" || p.Metadata == nil ||
		len(p.Metadata) != 0 || p.Description != nil || p.OwnerID != nil || !p.CreatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("created %s", w.Body)
	}
	if !strings.Contains(string(w.Body), `"metadata":{}`) {
		t.Errorf("metadata must be a JSON object: %s", w.Body)
	}
	ev := d.event(w, "tracker/events/projects/created", "project_created", "project_id", p.ID)
	if ev["name"] != "X" || ev["status"] != "planning" || ev["created_by"] != "bootstrap" || ev["timestamp"] == nil {
		t.Errorf("project_created payload %v", ev)
	}

	var got project
	d.must(http.StatusOK, d.admin(http.MethodGet, "/api/v1/projects/"+p.ID, nil), &got)
	if got.ID != p.ID || got.Name != "X" {
		t.Fatalf("get: %+v", got)
	}

	// A partial update: only status changes; updated_at moves.
	owner := uuid.NewString()
	w = d.admin(http.MethodPut, "/api/v1/projects/"+p.ID, map[string]any{"status": "active", "description": "first", "owner_id": owner})
	var up project
	d.must(http.StatusOK, w, &up)
	if up.Name != "X" || up.Status != "active" || up.Description == nil || *up.Description != "first" ||
		up.OwnerID == nil || *up.OwnerID != owner || !up.UpdatedAt.After(p.UpdatedAt) || !up.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("updated %s (before %s)", w.Body, p.UpdatedAt)
	}
	ev = d.event(w, "tracker/events/projects/updated", "project_updated", "project_id", p.ID)
	fields, _ := ev["updated_fields"].([]any)
	if ev["updated_by"] != "bootstrap" || ev["status"] != "active" || !sameStrings(fields, "description", "owner_id", "status") {
		t.Errorf("project_updated payload %v", ev)
	}

	// null clears a nullable field; an absent field stays. PATCH is PUT.
	w = d.admin(http.MethodPatch, "/api/v1/projects/"+p.ID, `{"description": null, "metadata": {"team": "web"}}`)
	var cleared project
	d.must(http.StatusOK, w, &cleared)
	if cleared.Description != nil || cleared.OwnerID == nil || cleared.Status != "active" || cleared.Metadata["team"] != "web" ||
		!cleared.UpdatedAt.After(up.UpdatedAt) {
		t.Fatalf("after clearing description: %s", w.Body)
	}
	if !strings.Contains(string(w.Body), `"description":null`) {
		t.Errorf("a cleared field is null: %s", w.Body)
	}
	ev = d.event(w, "tracker/events/projects/updated", "project_updated", "project_id", p.ID)
	if fields, _ := ev["updated_fields"].([]any); !sameStrings(fields, "description", "metadata") {
		t.Errorf("project_updated payload %v", ev)
	}

	// An update that changes nothing: 200, updated_at stays, no event.
	before := d.events.count("project_updated", "project_id", p.ID)
	var same project
	d.must(http.StatusOK, d.admin(http.MethodPut, "/api/v1/projects/"+p.ID, map[string]any{"status": "active"}), &same)
	if !same.UpdatedAt.Equal(cleared.UpdatedAt) {
		t.Errorf("a no-op update moved updated_at from %s to %s", cleared.UpdatedAt, same.UpdatedAt)
	}

	// Listed, newest first, with count and total.
	other := d.newProject(map[string]any{"name": "Y"})
	var l struct {
		Projects []project `json:"projects"`
		Count    int       `json:"count"`
		Total    int       `json:"total"`
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, "/api/v1/projects", nil), &l)
	if l.Count != 2 || l.Total != 2 || len(l.Projects) != 2 || l.Projects[0].ID != other.ID || l.Projects[1].ID != p.ID {
		t.Fatalf("list: %+v", l)
	}

	w = d.admin(http.MethodDelete, "/api/v1/projects/"+p.ID, nil)
	d.must(http.StatusNoContent, w, nil)
	if len(w.Body) != 0 {
		t.Errorf("204 with a body: %s", w.Body)
	}
	ev = d.event(w, "tracker/events/projects/deleted", "project_deleted", "project_id", p.ID)
	if ev["name"] != "X" || ev["deleted_by"] != "bootstrap" {
		t.Errorf("project_deleted payload %v", ev)
	}
	if pr := d.admin(http.MethodGet, "/api/v1/projects/"+p.ID, nil).problem(t); pr.Status != http.StatusNotFound || pr.Detail != "Project not found" {
		t.Fatalf("get after delete: %+v", pr)
	}
	if n := d.events.count("project_updated", "project_id", p.ID); n != before {
		t.Errorf("the no-op update published an event (%d, then %d)", before, n)
	}
}

// sameStrings reports whether got (decoded JSON strings) holds exactly want.
func sameStrings(got []any, want ...string) bool {
	var s []string
	for _, g := range got {
		v, _ := g.(string)
		s = append(s, v)
	}
	slices.Sort(s)
	slices.Sort(want)
	return slices.Equal(s, want)
}

// TestProjectValidation: bad input is a 422 naming the field, a
// malformed id a 400, an unknown one a 404; never a 500.
func TestProjectValidation(t *testing.T) {
	d := start(t)
	p := d.newProject(map[string]any{"name": "valid"})

	for _, c := range []struct {
		name     string
		method   string
		path     string
		body     any
		status   int
		location string
	}{
		{"empty name", http.MethodPost, "/api/v1/projects", map[string]any{"name": ""}, 422, "body.name"},
		{"no name", http.MethodPost, "/api/v1/projects", map[string]any{}, 422, "body.name"},
		{"name of 256", http.MethodPost, "/api/v1/projects", map[string]any{"name": strings.Repeat("n", 256)}, 422, "body.name"},
		{"description of 1001", http.MethodPost, "/api/v1/projects", map[string]any{"name": "x", "description": strings.Repeat("d", 1001)}, 422, "body.description"},
		{"bad status", http.MethodPost, "/api/v1/projects", map[string]any{"name": "x", "status": "bogus"}, 422, "body.status"},
		{"bad owner", http.MethodPost, "/api/v1/projects", map[string]any{"name": "x", "owner_id": "not-a-uuid"}, 422, "body.owner_id"},
		{"metadata not an object", http.MethodPost, "/api/v1/projects", map[string]any{"name": "x", "metadata": "{}"}, 422, "body.metadata"},
		{"unknown field", http.MethodPost, "/api/v1/projects", map[string]any{"name": "x", "colour": "red"}, 422, "body.colour"},
		{"update bad status", http.MethodPut, "/api/v1/projects/" + p.ID, map[string]any{"status": "bogus"}, 422, "body.status"},
		{"update bad owner", http.MethodPut, "/api/v1/projects/" + p.ID, map[string]any{"owner_id": "42"}, 422, "body.owner_id"},
		{"update name too long", http.MethodPut, "/api/v1/projects/" + p.ID, map[string]any{"name": strings.Repeat("n", 256)}, 422, "body.name"},
		{"update null name", http.MethodPut, "/api/v1/projects/" + p.ID, `{"name": null}`, 422, "body.name"},
		{"update null status", http.MethodPut, "/api/v1/projects/" + p.ID, `{"status": null}`, 422, "body.status"},
		{"update null metadata", http.MethodPut, "/api/v1/projects/" + p.ID, `{"metadata": null}`, 422, "body.metadata"},
		{"empty update", http.MethodPut, "/api/v1/projects/" + p.ID, `{}`, 422, ""},
		{"limit above 500", http.MethodGet, "/api/v1/projects?limit=501", nil, 422, "query.limit"},
		{"limit 0", http.MethodGet, "/api/v1/projects?limit=0", nil, 422, "query.limit"},
		{"negative offset", http.MethodGet, "/api/v1/projects?offset=-1", nil, 422, "query.offset"},
		{"bad status filter", http.MethodGet, "/api/v1/projects?status=bogus", nil, 422, "query.status"},
		{"bad owner filter", http.MethodGet, "/api/v1/projects?owner_id=bob", nil, 422, "query.owner_id"},
		{"bad time filter", http.MethodGet, "/api/v1/projects?created_after=yesterday", nil, 422, "query.created_after"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := d.admin(c.method, c.path, c.body)
			pr := r.problem(t)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if c.location == "" {
				return
			}
			field := c.location[strings.LastIndex(c.location, ".")+1:]
			for _, e := range pr.Errors {
				// A missing required field is located at its parent.
				if e.Location == c.location || strings.Contains(e.Message, "property "+field+" ") {
					return
				}
			}
			t.Fatalf("no error at %s: %s", c.location, r.Body)
		})
	}
	if pr := d.admin(http.MethodPut, "/api/v1/projects/"+p.ID, `{}`).problem(t); pr.Detail != "no fields to update" {
		t.Errorf("empty update: %+v", pr)
	}

	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		var body any
		if method == http.MethodPut {
			body = map[string]any{"name": "x"}
		}
		pr := d.admin(method, "/api/v1/projects/not-a-uuid", body).problem(t)
		if pr.Status != http.StatusBadRequest || pr.Detail != "Invalid project ID format" {
			t.Errorf("%s malformed id: %+v", method, pr)
		}
		pr = d.admin(method, "/api/v1/projects/"+uuid.NewString(), body).problem(t)
		if pr.Status != http.StatusNotFound || pr.Detail != "Project not found" {
			t.Errorf("%s unknown id: %+v", method, pr)
		}
	}

	// The name's bounds are characters, not bytes.
	d.newProject(map[string]any{"name": strings.Repeat("é", 255), "description": strings.Repeat("ü", 1000)})

	// Every status of the enum is accepted, and stored.
	for _, s := range []string{"planning", "active", "inactive", "on_hold", "completed", "cancelled", "archived"} {
		if got := d.newProject(map[string]any{"name": s, "status": s}); got.Status != s {
			t.Errorf("status %s stored as %s", s, got.Status)
		}
	}
}

// TestProjectListFilters: status, owner_id, created_after/before and
// bounded pagination; count is the page's length, total every match.
func TestProjectListFilters(t *testing.T) {
	d := start(t)
	alice, bob := uuid.NewString(), uuid.NewString()
	var made []project
	for i, c := range []struct{ status, owner string }{
		{"planning", alice}, {"active", alice}, {"active", bob}, {"completed", bob}, {"active", alice},
	} {
		made = append(made, d.newProject(map[string]any{"name": "p" + string(rune('0'+i)), "status": c.status, "owner_id": c.owner}))
	}
	type page struct {
		Projects []project `json:"projects"`
		Count    int       `json:"count"`
		Total    int       `json:"total"`
	}
	list := func(query string) page {
		t.Helper()
		var p page
		d.must(http.StatusOK, d.admin(http.MethodGet, "/api/v1/projects"+query, nil), &p)
		if p.Count != len(p.Projects) {
			t.Fatalf("%s: count %d for %d projects", query, p.Count, len(p.Projects))
		}
		return p
	}
	ids := func(p page) []string {
		var s []string
		for _, x := range p.Projects {
			s = append(s, x.Name)
		}
		return s
	}

	if p := list("?status=active"); p.Total != 3 || !slices.Equal(ids(p), []string{"p4", "p2", "p1"}) {
		t.Errorf("status=active: %v total %d", ids(p), p.Total)
	}
	if p := list("?owner_id=" + bob); p.Total != 2 || !slices.Equal(ids(p), []string{"p3", "p2"}) {
		t.Errorf("owner_id: %v", ids(p))
	}
	if p := list("?status=active&owner_id=" + alice); p.Total != 2 || !slices.Equal(ids(p), []string{"p4", "p1"}) {
		t.Errorf("status and owner: %v", ids(p))
	}
	if p := list("?limit=2"); p.Count != 2 || p.Total != 5 || !slices.Equal(ids(p), []string{"p4", "p3"}) {
		t.Errorf("limit=2: %v count %d total %d", ids(p), p.Count, p.Total)
	}
	if p := list("?limit=2&offset=4"); p.Count != 1 || p.Total != 5 || !slices.Equal(ids(p), []string{"p0"}) {
		t.Errorf("offset=4: %v count %d total %d", ids(p), p.Count, p.Total)
	}
	if p := list("?offset=10"); p.Count != 0 || p.Total != 5 || p.Projects == nil {
		t.Errorf("past the end: %+v", p)
	}
	if p := list("?limit=500"); p.Count != 5 {
		t.Errorf("limit=500: %d", p.Count)
	}

	at := made[2].CreatedAt.UTC().Format(time.RFC3339Nano)
	if p := list("?created_after=" + at); !slices.Equal(ids(p), []string{"p4", "p3", "p2"}) {
		t.Errorf("created_after: %v", ids(p))
	}
	if p := list("?created_before=" + at); !slices.Equal(ids(p), []string{"p1", "p0"}) {
		t.Errorf("created_before: %v", ids(p))
	}
	if p := list("?status=completed&created_before=" + at); p.Total != 0 || p.Projects == nil {
		t.Errorf("nothing matches: %+v", p)
	}
}
