package acceptance_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Scenario 3, projects: create, validate, get, update, delete and list
// with the original's paths, keys and statuses, and an event on the
// broker for every write.
func TestScenario03Projects(t *testing.T) {
	t.Parallel()
	d := start(t, nil)
	k := key(bootstrapKey)

	// An MQTT client of the original's topics, subscribed before any write.
	c := mqttClient(t, d.Broker.URL, "projects")
	events := subscribe(t, c, d.Broker.Prefix+"tracker/events/projects/#")

	var project map[string]any
	t.Run("create", func(t *testing.T) {
		project = d.createProject(t, map[string]any{"name": "X"})
		id, _ := project["id"].(string)
		if !uuidRE.MatchString(id) || project["name"] != "X" || project["status"] != "planning" {
			t.Fatalf("created: %v", project)
		}
		if md, ok := project["metadata"].(map[string]any); !ok || len(md) != 0 {
			t.Fatalf("metadata %v, want {}", project["metadata"])
		}
		hasKeys(t, "project", project, "id", "name", "description", "status", "owner_id", "metadata", "created_at", "updated_at")
	})
	if project == nil {
		t.FailNow()
	}
	id := project["id"].(string)

	t.Run("invalid bodies are 422", func(t *testing.T) {
		for name, body := range map[string]map[string]any{
			"empty name":                 {"name": ""},
			"256-character name":         {"name": strings.Repeat("n", 256)},
			"1001-character description": {"name": "ok", "description": strings.Repeat("d", 1001)},
		} {
			r := d.do(t, http.MethodPost, "/api/v1/projects", k, body)
			r.must(t, http.StatusUnprocessableEntity)
			// Deliberate difference: the original's 422 was FastAPI's
			// {"detail": [...]}; the dashboard's is a problem whose errors
			// name the field.
			var p struct {
				Errors []struct {
					Location string `json:"location"`
				} `json:"errors"`
			}
			r.decode(t, &p)
			if len(p.Errors) == 0 || !strings.HasPrefix(p.Errors[0].Location, "body.") {
				t.Errorf("%s: %s", name, r.Body)
			}
		}
		// The boundaries are allowed.
		d.createProject(t, map[string]any{"name": strings.Repeat("n", 255), "description": strings.Repeat("d", 1000)})
	})

	t.Run("get", func(t *testing.T) {
		got := d.do(t, http.MethodGet, "/api/v1/projects/"+id, k, nil).must(t, http.StatusOK).object(t)
		if got["id"] != id || got["name"] != "X" {
			t.Fatalf("get: %v", got)
		}
		d.do(t, http.MethodGet, "/api/v1/projects/"+uuid4(), k, nil).mustDetail(t, http.StatusNotFound, "Project not found")
		d.do(t, http.MethodGet, "/api/v1/projects/not-a-uuid", k, nil).mustDetail(t, http.StatusBadRequest, "Invalid project ID format")
	})

	t.Run("update", func(t *testing.T) {
		before := d.do(t, http.MethodGet, "/api/v1/projects/"+id, k, nil).must(t, http.StatusOK).object(t)
		got := d.do(t, http.MethodPut, "/api/v1/projects/"+id, k, map[string]any{"status": "active"}).must(t, http.StatusOK).object(t)
		if got["status"] != "active" || got["name"] != "X" {
			t.Fatalf("updated: %v", got)
		}
		if !parseTime(t, got["updated_at"]).After(parseTime(t, before["updated_at"])) {
			t.Fatalf("updated_at %v did not advance from %v", got["updated_at"], before["updated_at"])
		}
		d.do(t, http.MethodPut, "/api/v1/projects/"+uuid4(), k, map[string]any{"status": "active"}).mustDetail(t, http.StatusNotFound, "Project not found")
		d.do(t, http.MethodPut, "/api/v1/projects/nope", k, map[string]any{"status": "active"}).mustDetail(t, http.StatusBadRequest, "Invalid project ID format")
		// Deliberate difference: an empty update is a 422 (the original
		// answered 200 and bumped updated_at).
		d.do(t, http.MethodPut, "/api/v1/projects/"+id, k, map[string]any{}).must(t, http.StatusUnprocessableEntity)
	})

	t.Run("delete", func(t *testing.T) {
		gone := d.createProject(t, map[string]any{"name": "to delete"})["id"].(string)
		r := d.do(t, http.MethodDelete, "/api/v1/projects/"+gone, k, nil).must(t, http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %s", r.Body)
		}
		d.do(t, http.MethodGet, "/api/v1/projects/"+gone, k, nil).mustDetail(t, http.StatusNotFound, "Project not found")
		d.do(t, http.MethodDelete, "/api/v1/projects/"+gone, k, nil).mustDetail(t, http.StatusNotFound, "Project not found")
		d.do(t, http.MethodDelete, "/api/v1/projects/nope", k, nil).mustDetail(t, http.StatusBadRequest, "Invalid project ID format")
	})

	t.Run("list newest first", func(t *testing.T) {
		var made []string
		for _, name := range []string{"first", "second", "third"} {
			made = append(made, d.createProject(t, map[string]any{"name": name})["id"].(string))
		}
		var list struct {
			Projects []map[string]any `json:"projects"`
			Count    int              `json:"count"`
		}
		r := d.do(t, http.MethodGet, "/api/v1/projects", k, nil).must(t, http.StatusOK)
		r.decode(t, &list)
		if list.Count != len(list.Projects) || list.Count < 4 {
			t.Fatalf("list: count %d of %d projects: %s", list.Count, len(list.Projects), r.Body)
		}
		for i, want := range []string{made[2], made[1], made[0]} {
			if list.Projects[i]["id"] != want {
				t.Fatalf("list order: item %d is %v, want %s (newest first)", i, list.Projects[i]["id"], want)
			}
		}
		var prev time.Time
		for i, p := range list.Projects {
			at := parseTime(t, p["created_at"])
			if i > 0 && at.After(prev) {
				t.Fatalf("list is not ordered by created_at descending at item %d", i)
			}
			prev = at
		}
	})

	t.Run("events on the broker", func(t *testing.T) {
		// The writes above published, on tracker/events/projects/<verb>:
		// created (5 projects), updated (1), deleted (1). Look for this
		// project's created and updated, and the deleted one.
		want := map[string]string{"created": "project_created", "updated": "project_updated", "deleted": "project_deleted"}
		seen := map[string]bool{}
		receive(t, events, 15*time.Second, "project_created, project_updated and project_deleted on the broker", func(m message) bool {
			verb := m.Topic[strings.LastIndex(m.Topic, "/")+1:]
			if m.Topic != d.Broker.Prefix+"tracker/events/projects/"+verb {
				t.Errorf("event on topic %s", m.Topic)
				return false
			}
			var env map[string]any
			if err := json.Unmarshal(m.Payload, &env); err != nil {
				t.Errorf("event %s: %v", m.Payload, err)
				return false
			}
			hasKeys(t, "envelope", env, "trace_id", "ts", "kind", "idempotency_key", "payload")
			if env["kind"] != want[verb] {
				t.Errorf("kind %v on %s", env["kind"], m.Topic)
			}
			if tid, _ := env["trace_id"].(string); !traceIDRE.MatchString(tid) {
				t.Errorf("trace_id %q", tid)
			}
			if _, err := time.Parse(time.RFC3339Nano, env["ts"].(string)); err != nil {
				t.Errorf("ts: %v", err)
			}
			payload, _ := env["payload"].(map[string]any)
			pid, _ := payload["project_id"].(string)
			if !uuidRE.MatchString(pid) {
				t.Errorf("payload.project_id %v", payload["project_id"])
			}
			if verb != "deleted" && pid != id {
				return false
			}
			hasKeys(t, "payload of "+verb, payload, "project_id", "name", "status", "timestamp", verb+"_by")
			if verb == "updated" {
				hasKeys(t, "payload of updated", payload, "updated_fields")
			}
			seen[verb] = true
			return seen["created"] && seen["updated"] && seen["deleted"]
		})
	})
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return at
}
