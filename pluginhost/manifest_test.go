package pluginhost_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/pluginhost"
)

// legitimate is the original's legitimate fixture's manifest, unchanged.
const legitimate = `{
  "id": "project-dashboard",
  "name": "Project Dashboard Widget",
  "version": "1.2.0",
  "description": "A dashboard widget to display project metrics and charts",
  "author": "TaylorDash Team",
  "repository": "https://github.com/taylordash/dashboard-widget",
  "homepage": "https://taylordash.com/plugins/dashboard",
  "type": "ui",
  "kind": "ui",
  "entry_point": "dashboard.html",
  "permissions": ["read:projects", "read:events"],
  "api_endpoints": ["/api/v1/projects", "/api/v1/events"],
  "allowed_origins": ["https://cdn.taylordash.com", "https://api.chartjs.org"],
  "taylordash_version": "^1.0.0",
  "dependencies": {"chart.js": "^3.9.1"},
  "config_schema": {
    "type": "object",
    "properties": {
      "refreshInterval": {"type": "number", "minimum": 5000, "default": 30000},
      "showEventCount": {"type": "boolean", "default": true}
    }
  }
}`

func TestParseManifestAcceptsTheOriginalsFixture(t *testing.T) {
	pm, err := pluginhost.ParseManifest([]byte(legitimate), pluginhost.ManifestCheck{HostVersion: "1.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	if pm.ID != "project-dashboard" || pm.Runtime != pluginhost.RuntimeUI || pm.Schema == nil || len(pm.Unknown) != 0 {
		t.Errorf("parsed = %+v", pm)
	}
	if !pm.HasPermission("read:events") || pm.HasPermission("network:http") {
		t.Error("HasPermission is wrong")
	}
	if probs := pluginhost.ValidateConfig(pm.Schema, json.RawMessage(`{"refreshInterval": 10000}`)); len(probs) != 0 {
		t.Errorf("valid config refused: %v", probs)
	}
	probs := pluginhost.ValidateConfig(pm.Schema, json.RawMessage(`{"refreshInterval": 10, "showEventCount": "yes"}`))
	if len(probs) != 2 || probs[0].Location != "/refreshInterval" || probs[1].Location != "/showEventCount" {
		t.Errorf("problems = %+v, want /refreshInterval and /showEventCount", probs)
	}
	if probs := pluginhost.ValidateConfig(pm.Schema, json.RawMessage(`[1]`)); len(probs) != 1 {
		t.Errorf("array config: %+v", probs)
	}
}

// problems parses m and returns "field: rule" lines.
func problems(t *testing.T, m string, check pluginhost.ManifestCheck) []string {
	t.Helper()
	_, err := pluginhost.ParseManifest([]byte(m), check)
	var me *pluginhost.ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a ManifestError", err)
	}
	var out []string
	for _, p := range me.Problems {
		out = append(out, p.Field+": "+p.Rule)
	}
	return out
}

func TestParseManifestNamesFieldAndRule(t *testing.T) {
	bad := `{
	  "id": "X!", "name": "", "version": "1.0", "author": "a",
	  "repository": "http://github.com/x/y", "type": "widget",
	  "entry_point": "../../etc/x.html",
	  "permissions": ["read:projects", "root:everything", "read:projects"],
	  "api_endpoints": ["/admin", "/api/v1/*/x"],
	  "allowed_origins": ["https://cdn.example.com/path", "http://plain.example.com", "https://*.example.com"],
	  "taylordash_version": "^2.0.0",
	  "dependencies": {"chart.js": "latest-ish!"},
	  "config_schema": {"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}},
	  "limits": {"memory_pages": 10},
	  "sha256": "abc"
	}`
	got := problems(t, bad, pluginhost.ManifestCheck{HostVersion: "1.0.0"})
	want := []string{
		"allowed_origins[0]: must be only scheme://host[:port], without user, path, query or fragment",
		"allowed_origins[1]: must use https:// or wss://",
		"allowed_origins[2]: must name one host (no wildcards)",
		"api_endpoints[0]: must start with /api/v1/",
		"api_endpoints[1]: may use * only as a final /* segment",
		"author: ",
		"dependencies.chart.js: must be a semantic version range such as ^3.9.1",
		"description: is required",
		"entry_point: must not contain .. segments",
		"id: must use only a-z, 0-9 and '-'",
		"limits: are only for runtime wasm",
		"name: is required",
		"permissions[1]: must be one of read:projects, write:projects, read:events, publish:events, read:logs, read:system, network:http, network:websocket, storage:local, plugin:messaging, system:clock, system:random",
		"permissions[2]: repeats read:projects",
		"repository: must be an https URL",
		"sha256: must be 64 hex digits",
		"taylordash_version: ^2.0.0 does not include this TaylorDash (1.0.0)",
		"type: must be one of ui, data, integration, system",
		"version: must be a semantic version such as 1.2.0",
	}
	// The config_schema problem names the refused reference; check it apart.
	var schema string
	got = slices.DeleteFunc(got, func(s string) bool {
		if strings.HasPrefix(s, "config_schema: ") {
			schema = s
			return true
		}
		return false
	})
	want = slices.DeleteFunc(want, func(s string) bool { return s == "author: " })
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(schema, "is not a valid JSON Schema") {
		t.Errorf("config_schema problem = %q", schema)
	}
}

func TestParseManifestReportsUnknownKeysAndTypes(t *testing.T) {
	m := `{"id":"demo-plugin","name":"Demo","version":"1.0.0","description":"d","author":"a","type":"ui",
	  "entry_point":"index.html","taylordash_version":"^1.0.0","colour":"blue","install_hooks":{"post":"rm -rf /"}}`
	pm, err := pluginhost.ParseManifest([]byte(m), pluginhost.ManifestCheck{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pm.Unknown, []string{"colour"}) {
		t.Errorf("unknown = %v", pm.Unknown)
	}
	if !slices.Equal(pm.Warnings, []string{"install_hooks are never executed"}) {
		t.Errorf("warnings = %v", pm.Warnings)
	}

	got := problems(t, `{"id": 7, "permissions": "read:projects", "limits": {"memory": 1}}`, pluginhost.ManifestCheck{})
	for _, w := range []string{"id: has the wrong type: got a JSON number", "permissions: has the wrong type: got a JSON string",
		"limits: has the wrong type: unknown field \"memory\""} {
		if !slices.Contains(got, w) {
			t.Errorf("missing %q in %v", w, got)
		}
	}
	if got := problems(t, `[1,2]`, pluginhost.ManifestCheck{}); len(got) != 1 || !strings.HasPrefix(got[0], "plugin.json: must be a JSON object") {
		t.Errorf("array manifest: %v", got)
	}
}

func TestParseManifestWasm(t *testing.T) {
	base := `"id":"demo-wasm","name":"Demo","version":"1.0.0","description":"d","author":"a","type":"data","taylordash_version":">=1.0.0 <2.0.0"`
	pm, err := pluginhost.ParseManifest([]byte(`{`+base+`,"runtime":"wasm","wasm":"bin/plugin.wasm",
	  "subscriptions":["tracker/events/#","tracker/+/projects/created"],"limits":{"memory_pages":256,"timeout_ms":50},
	  "sha256":"`+strings.Repeat("ab", 32)+`"}`), pluginhost.ManifestCheck{HostVersion: "1.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Limits.MemoryPages != 256 || pm.Wasm != "bin/plugin.wasm" {
		t.Errorf("parsed = %+v", pm.Manifest)
	}
	got := problems(t, `{`+base+`,"runtime":"wasm","wasm":"/abs.wasm","subscriptions":["a/#/b","$SYS/#","a/b+"]}`, pluginhost.ManifestCheck{})
	want := []string{
		"subscriptions[0]: may use # only as the last level",
		"subscriptions[1]: must not subscribe to $ topics",
		"subscriptions[2]: may use + and # only as whole levels",
		"wasm: must be a relative path inside the bundle",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
	if got := problems(t, `{`+base+`,"runtime":"native"}`, pluginhost.ManifestCheck{}); !slices.Equal(got, []string{"runtime: must be ui or wasm"}) {
		t.Errorf("problems = %v", got)
	}
}

func TestManifestMatchesOriginsExactly(t *testing.T) {
	m := &pluginhost.Manifest{
		AllowedOrigins: []string{"https://cdn.example.com", "https://api.example.com:8443"},
		APIEndpoints:   []string{"/api/v1/projects", "/api/v1/events/*"},
	}
	for u, want := range map[string]bool{
		"https://cdn.example.com/lib.js":          true,
		"https://CDN.example.com:443/lib.js":      true,
		"https://cdn.example.com.evil.net/lib.js": false, // the original's prefix match let this through
		"https://cdn.example.com@evil.net/":       false,
		"http://cdn.example.com/lib.js":           false,
		"https://cdn.example.com:444/":            false,
		"https://api.example.com:8443/v":          true,
		"https://api.example.com/v":               false,
		"/relative":                               false,
	} {
		if got := m.AllowsOrigin(u); got != want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", u, got, want)
		}
	}
	for p, want := range map[string]bool{
		"/api/v1/projects":          true,
		"/api/v1/projects/":         true,
		"/api/v1/projects/7":        false,
		"/api/v1/projectsX":         false,
		"/api/v1/events/stream":     true,
		"/api/v1/events":            true,
		"/api/v1/events/../users":   false,
		"/api/v1/admin/users":       false,
		"/api/v1/eventsX/something": false,
	} {
		if got := m.AllowsEndpoint(p); got != want {
			t.Errorf("AllowsEndpoint(%q) = %v, want %v", p, got, want)
		}
	}
}
