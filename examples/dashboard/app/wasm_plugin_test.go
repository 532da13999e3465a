package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taylordash/taylordash/pluginhost/plugintest"
)

// buildGreeter builds examples/wasmplugin and returns its bundle as a zip.
func buildGreeter(t *testing.T) []byte {
	t.Helper()
	wasmPath := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasmPath, ".")
	cmd.Dir = "../../wasmplugin"
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the example plugin: %v\n%s", err, out)
	}
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("../../wasmplugin/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	return plugintest.ZipFiles(t, map[string][]byte{"plugin.json": manifest, "plugin.wasm": module})
}

// TestWasmPluginHandlesEventsAndServes installs the example wasm plugin
// and follows a project through it: the project's event, published
// through the outbox and the real broker, reaches the plugin, whose own
// event joins the project's trace; its operations run in the sandbox and
// read projects through the API's own operations, as the plugin.
func TestWasmPluginHandlesEventsAndServes(t *testing.T) {
	bundle := buildGreeter(t)
	a := startAuthEnv(t, map[string]string{"TAYLORDASH_PLUGINS_DIR": t.TempDir()})
	admin := a.login(t, adminUser, adminPassword)

	resp, body := a.upload(t, admin, "/api/v1/plugins/install", bundle)
	must(t, http.StatusOK, resp, body, "install")
	if ia := decodeInstall(t, body); ia.Status != "installed" || ia.PluginID != "project-greeter" {
		t.Fatalf("install: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-greeter/config", admin, "",
		map[string]any{"config": map[string]any{"greeting": "Ahoy"}})
	must(t, http.StatusOK, resp, body, "configure")

	// Its operations: served by the plugin, configured, and reading
	// projects through the API as plugin:project-greeter.
	resp, body = a.do(t, http.MethodGet, "/api/v1/plugins/project-greeter/api/hello?name=Ann", admin, "", nil)
	must(t, http.StatusOK, resp, body, "hello")
	if !strings.Contains(string(body), `"Ahoy, Ann!"`) {
		t.Errorf("hello: %s", body)
	}

	resp, body = a.do(t, http.MethodPost, "/api/v1/projects", admin, "", map[string]any{"name": "Lighthouse"})
	must(t, http.StatusCreated, resp, body, "create project")
	var project struct{ ID any }
	_ = json.Unmarshal(body, &project)

	// The plugin's project_welcomed event comes back through the broker
	// into the mirror, in the trace of the project's event.
	type event struct {
		Kind    string          `json:"kind"`
		TraceID string          `json:"trace_id"`
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
	}
	var created, welcomed *event
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && welcomed == nil {
		resp, body = a.do(t, http.MethodGet, "/api/v1/events?limit=50", admin, "", nil)
		must(t, http.StatusOK, resp, body, "events")
		var page struct {
			Events []event `json:"events"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		for i := range page.Events {
			switch page.Events[i].Kind {
			case "project_created":
				created = &page.Events[i]
			case "project_welcomed":
				welcomed = &page.Events[i]
			}
		}
		if welcomed == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if created == nil || welcomed == nil {
		t.Fatalf("events: created %v, welcomed %v", created, welcomed)
	}
	if welcomed.TraceID != created.TraceID {
		t.Errorf("the plugin's event is in trace %s, the project's in %s", welcomed.TraceID, created.TraceID)
	}
	if welcomed.Topic != "tracker/events/plugins/project-greeter/events" || !strings.Contains(string(welcomed.Payload), "Ahoy, Lighthouse!") {
		t.Errorf("welcomed: %+v %s", welcomed, welcomed.Payload)
	}

	resp, body = a.do(t, http.MethodGet, "/api/v1/plugins/project-greeter/api/summary", admin, "", nil)
	must(t, http.StatusOK, resp, body, "summary")
	if !strings.Contains(string(body), `"Lighthouse"`) || !strings.Contains(string(body), `"total":1`) {
		t.Errorf("summary: %s", body)
	}

	// Its health counts its calls.
	resp, body = a.do(t, http.MethodGet, "/api/v1/plugins/project-greeter/health", admin, "", nil)
	must(t, http.StatusOK, resp, body, "health")
	var health struct {
		Status string `json:"status"`
		Calls  int    `json:"calls"`
		Errors int    `json:"errors"`
	}
	if err := json.Unmarshal(body, &health); err != nil || health.Status != "healthy" || health.Calls < 3 || health.Errors != 0 {
		t.Errorf("health: %s", body)
	}

	// Its calls are metrics, and the plugin host is part of the stack.
	resp, body = a.do(t, http.MethodGet, "/metrics", "", "", nil)
	must(t, http.StatusOK, resp, body, "metrics")
	for _, want := range []string{`taylordash_plugin_calls_total{`, `plugin="project-greeter"`, `taylordash_plugin_call_duration_seconds_bucket{`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(body), "plugin"))
		}
	}
	resp, body = a.do(t, http.MethodGet, "/api/v1/health/stack", admin, "", nil)
	must(t, http.StatusOK, resp, body, "stack")
	if !strings.Contains(string(body), `"plugins"`) || !strings.Contains(string(body), `"plugin-host"`) {
		t.Errorf("stack: %s", body)
	}

	// Disabled, it is unloaded: its operations answer 404.
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-greeter/disable", admin, "", nil)
	must(t, http.StatusOK, resp, body, "disable")
	resp, body = a.do(t, http.MethodGet, "/api/v1/plugins/project-greeter/api/hello", admin, "", nil)
	must(t, http.StatusNotFound, resp, body, "hello while disabled")
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
