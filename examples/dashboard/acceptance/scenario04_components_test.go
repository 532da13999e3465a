package acceptance_test

import (
	"net/http"
	"testing"
)

// Scenario 4, components and tasks: the original's two list routes and
// their shapes; malformed ids are 400.
func TestScenario04ComponentsAndTasks(t *testing.T) {
	t.Parallel()
	d := start(t, nil)
	k := key(bootstrapKey)
	project := d.createProject(t, map[string]any{"name": "with components"})["id"].(string)

	t.Run("components of a project", func(t *testing.T) {
		m := d.do(t, http.MethodGet, "/api/v1/projects/"+project+"/components", k, nil).must(t, http.StatusOK).object(t)
		if list, ok := m["components"].([]any); !ok || len(list) != 0 || m["count"] != float64(0) {
			t.Fatalf("components: %v", m)
		}
	})

	// The original had no route to create a component; the dashboard does.
	component := d.do(t, http.MethodPost, "/api/v1/projects/"+project+"/components", k,
		map[string]any{"name": "backend", "type": "service"}).must(t, http.StatusCreated).object(t)
	componentID := component["id"].(string)

	t.Run("a component's keys", func(t *testing.T) {
		m := d.do(t, http.MethodGet, "/api/v1/projects/"+project+"/components", k, nil).must(t, http.StatusOK).object(t)
		list := m["components"].([]any)
		if len(list) != 1 || m["count"] != float64(1) {
			t.Fatalf("components: %v", m)
		}
		c := list[0].(map[string]any)
		hasKeys(t, "component", c, "id", "project_id", "name", "type", "status", "progress", "position", "metadata", "created_at", "updated_at")
		// Deliberate difference: position and metadata are JSON objects
		// (the original returned them as JSON strings).
		if _, ok := c["metadata"].(map[string]any); !ok {
			t.Errorf("metadata is not an object: %v", c["metadata"])
		}
	})

	t.Run("tasks of a component", func(t *testing.T) {
		m := d.do(t, http.MethodGet, "/api/v1/components/"+componentID+"/tasks", k, nil).must(t, http.StatusOK).object(t)
		if list, ok := m["tasks"].([]any); !ok || len(list) != 0 || m["count"] != float64(0) {
			t.Fatalf("tasks: %v", m)
		}
		d.do(t, http.MethodPost, "/api/v1/components/"+componentID+"/tasks", k, map[string]any{"name": "write it"}).must(t, http.StatusCreated)
		m = d.do(t, http.MethodGet, "/api/v1/components/"+componentID+"/tasks", k, nil).must(t, http.StatusOK).object(t)
		list := m["tasks"].([]any)
		if len(list) != 1 || m["count"] != float64(1) {
			t.Fatalf("tasks: %v", m)
		}
		hasKeys(t, "task", list[0].(map[string]any), "id", "component_id", "name", "description", "status", "assignee_id",
			"due_date", "completed_at", "created_at", "updated_at")
	})

	t.Run("malformed ids are 400", func(t *testing.T) {
		d.do(t, http.MethodGet, "/api/v1/projects/not-a-uuid/components", k, nil).mustDetail(t, http.StatusBadRequest, "Invalid project ID format")
		d.do(t, http.MethodGet, "/api/v1/components/not-a-uuid/tasks", k, nil).mustDetail(t, http.StatusBadRequest, "Invalid component ID format")
	})

	t.Run("unknown parents are 404", func(t *testing.T) {
		// Deliberate difference: the original answered 200 with an empty
		// list for an unknown project or component.
		d.do(t, http.MethodGet, "/api/v1/projects/"+uuid4()+"/components", k, nil).mustDetail(t, http.StatusNotFound, "Project not found")
		d.do(t, http.MethodGet, "/api/v1/components/"+uuid4()+"/tasks", k, nil).mustDetail(t, http.StatusNotFound, "Component not found")
	})
}
