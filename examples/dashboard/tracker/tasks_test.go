package tracker_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestTaskLifecycle: tasks of a component, completed_at following the
// done status, null clearing the assignee, filters, and an event per
// write.
func TestTaskLifecycle(t *testing.T) {
	d := start(t)
	p := d.newProject(map[string]any{"name": "Shop"})
	c := d.newComponent(p.ID, map[string]any{"name": "API"})
	base := "/api/v1/components/" + c.ID + "/tasks"
	alice := uuid.NewString()
	due := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)

	var none struct {
		Tasks []task `json:"tasks"`
		Count int    `json:"count"`
	}
	r := d.must(http.StatusOK, d.admin(http.MethodGet, base, nil), &none)
	if none.Count != 0 || !strings.Contains(string(r.Body), `"tasks":[]`) {
		t.Fatalf("no tasks yet: %s", r.Body)
	}

	w := d.admin(http.MethodPost, base, map[string]any{"name": "Webhook", "description": "refunds too",
		"assignee_id": alice, "due_date": due.Format(time.RFC3339)})
	var tk task
	d.must(http.StatusCreated, w, &tk)
	if tk.ComponentID != c.ID || tk.Status != "todo" || tk.AssigneeID == nil || *tk.AssigneeID != alice ||
		tk.DueDate == nil || !tk.DueDate.Equal(due) || tk.CompletedAt != nil {
		t.Fatalf("created %s", w.Body)
	}
	ev := d.event(w, "tracker/events/tasks/created", "task_created", "task_id", tk.ID)
	if ev["component_id"] != c.ID || ev["project_id"] != p.ID || ev["assignee_id"] != alice || ev["status"] != "todo" || ev["created_by"] != "bootstrap" {
		t.Errorf("task_created payload %v", ev)
	}
	other := d.newTask(c.ID, map[string]any{"name": "Docs", "status": "in_progress"})
	if other.CompletedAt != nil {
		t.Errorf("a task in progress has completed_at %v", other.CompletedAt)
	}
	// Created done: completed_at is set, unless given.
	c2 := d.newComponent(p.ID, map[string]any{"name": "UI"})
	if tk := d.newTask(c2.ID, map[string]any{"name": "Done already", "status": "done"}); tk.CompletedAt == nil {
		t.Errorf("created done without completed_at: %+v", tk)
	}
	given := time.Date(2025, 9, 13, 0, 42, 22, 0, time.UTC)
	if tk := d.newTask(c2.ID, map[string]any{"name": "Done then", "status": "done", "completed_at": given}); tk.CompletedAt == nil || !tk.CompletedAt.Equal(given) {
		t.Errorf("created done with completed_at %v: %+v", given, tk)
	}

	var l struct {
		Tasks []task `json:"tasks"`
		Count int    `json:"count"`
		Total int    `json:"total"`
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, base+"?assignee_id="+alice, nil), &l)
	if l.Count != 1 || l.Total != 1 || l.Tasks[0].ID != tk.ID {
		t.Fatalf("assignee filter: %+v", l)
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, base+"?status=in_progress", nil), &l)
	if l.Count != 1 || l.Tasks[0].ID != other.ID {
		t.Fatalf("status filter: %+v", l)
	}
	d.must(http.StatusOK, d.admin(http.MethodGet, base, nil), &l)
	if l.Count != 2 || l.Tasks[0].ID != other.ID {
		t.Fatalf("list: %+v", l)
	}

	// Done: completed_at is set; null unassigns; due_date stays.
	w = d.admin(http.MethodPut, "/api/v1/tasks/"+tk.ID, `{"status": "done", "assignee_id": null}`)
	var done task
	d.must(http.StatusOK, w, &done)
	if done.Status != "done" || done.CompletedAt == nil || done.AssigneeID != nil || done.DueDate == nil ||
		done.Description == nil || !done.UpdatedAt.After(tk.UpdatedAt) {
		t.Fatalf("done %s", w.Body)
	}
	ev = d.event(w, "tracker/events/tasks/updated", "task_updated", "task_id", tk.ID)
	if fields, _ := ev["updated_fields"].([]any); !sameStrings(fields, "assignee_id", "completed_at", "status") || ev["updated_by"] != "bootstrap" {
		t.Errorf("task_updated payload %v", ev)
	}

	// Back to review: completed_at goes; due_date cleared by null.
	w = d.admin(http.MethodPatch, "/api/v1/tasks/"+tk.ID, `{"status": "review", "due_date": null}`)
	var back task
	d.must(http.StatusOK, w, &back)
	if back.CompletedAt != nil || back.DueDate != nil || back.Status != "review" {
		t.Fatalf("reopened %s", w.Body)
	}

	var got task
	d.must(http.StatusOK, d.admin(http.MethodGet, "/api/v1/tasks/"+tk.ID, nil), &got)
	if got.Status != "review" || got.Name != "Webhook" {
		t.Fatalf("get: %+v", got)
	}

	w = d.admin(http.MethodDelete, "/api/v1/tasks/"+tk.ID, nil)
	d.must(http.StatusNoContent, w, nil)
	ev = d.event(w, "tracker/events/tasks/deleted", "task_deleted", "task_id", tk.ID)
	if ev["deleted_by"] != "bootstrap" || ev["component_id"] != c.ID {
		t.Errorf("task_deleted payload %v", ev)
	}
	if pr := d.admin(http.MethodGet, "/api/v1/tasks/"+tk.ID, nil).problem(t); pr.Status != 404 || pr.Detail != "Task not found" {
		t.Fatalf("after delete: %+v", pr)
	}
}

// TestTaskValidation: 422 naming the field, 400 for malformed ids, 404
// for unknown ones.
func TestTaskValidation(t *testing.T) {
	d := start(t)
	p := d.newProject(map[string]any{"name": "Shop"})
	c := d.newComponent(p.ID, map[string]any{"name": "API"})
	tk := d.newTask(c.ID, map[string]any{"name": "Webhook"})
	base := "/api/v1/components/" + c.ID + "/tasks"

	for _, tc := range []struct {
		name, method, path string
		body               any
		location           string
	}{
		{"bad assignee", http.MethodPost, base, map[string]any{"name": "x", "assignee_id": "alice"}, "body.assignee_id"},
		{"bad status", http.MethodPost, base, map[string]any{"name": "x", "status": "pending"}, "body.status"},
		{"bad due date", http.MethodPost, base, map[string]any{"name": "x", "due_date": "tomorrow"}, "body.due_date"},
		{"description of 1001", http.MethodPost, base, map[string]any{"name": "x", "description": strings.Repeat("d", 1001)}, "body.description"},
		{"name of 256", http.MethodPost, base, map[string]any{"name": strings.Repeat("n", 256)}, "body.name"},
		{"update bad assignee", http.MethodPut, "/api/v1/tasks/" + tk.ID, map[string]any{"assignee_id": "42"}, "body.assignee_id"},
		{"update null status", http.MethodPut, "/api/v1/tasks/" + tk.ID, `{"status": null}`, "body.status"},
		{"bad assignee filter", http.MethodGet, base + "?assignee_id=alice", nil, "query.assignee_id"},
		{"empty update", http.MethodPut, "/api/v1/tasks/" + tk.ID, `{}`, ""},
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
		{http.MethodGet, "/api/v1/components/" + unknown + "/tasks", "Component not found", 404, nil},
		{http.MethodPost, "/api/v1/components/" + unknown + "/tasks", "Component not found", 404, map[string]any{"name": "x"}},
		{http.MethodGet, "/api/v1/components/nope/tasks", "Invalid component ID format", 400, nil},
		{http.MethodGet, "/api/v1/tasks/" + unknown, "Task not found", 404, nil},
		{http.MethodPut, "/api/v1/tasks/" + unknown, "Task not found", 404, map[string]any{"name": "x"}},
		{http.MethodDelete, "/api/v1/tasks/" + unknown, "Task not found", 404, nil},
		{http.MethodGet, "/api/v1/tasks/nope", "Invalid task ID format", 400, nil},
		{http.MethodDelete, "/api/v1/tasks/nope", "Invalid task ID format", 400, nil},
	} {
		r := d.admin(c.method, c.path, c.body)
		if pr := r.problem(t); r.Status != c.status || pr.Detail != c.detail {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
}
