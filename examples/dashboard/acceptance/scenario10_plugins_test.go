package acceptance_test

import (
	"net/http"
	"testing"
)

// Scenario 10, plugins: the original's plugin routes on an empty
// registry, unknown plugins, and bad install requests.
func TestScenario10Plugins(t *testing.T) {
	t.Parallel()
	d := start(t, nil)
	k := key(bootstrapKey)
	const p = "/api/v1/plugins"

	t.Run("empty list", func(t *testing.T) {
		m := d.do(t, http.MethodGet, p+"/list", k, nil).must(t, http.StatusOK).object(t)
		plugins, ok1 := m["plugins"].([]any)
		updates, ok2 := m["available_updates"].([]any)
		if !ok1 || !ok2 || len(plugins) != 0 || len(updates) != 0 || m["total"] != float64(0) {
			t.Fatalf("list: %v", m)
		}
	})

	t.Run("unknown plugin is 404", func(t *testing.T) {
		d.do(t, http.MethodGet, p+"/unknown", k, nil).mustDetail(t, http.StatusNotFound, "Plugin unknown not found")
		d.do(t, http.MethodGet, p+"/unknown/health", k, nil).must(t, http.StatusNotFound)
		d.do(t, http.MethodPost, p+"/unknown/security/scan", k, nil).must(t, http.StatusNotFound)
		d.do(t, http.MethodPost, p+"/unknown/config", k, map[string]any{"plugin_id": "unknown", "config": map[string]any{}}).
			must(t, http.StatusNotFound)
	})

	t.Run("violations", func(t *testing.T) {
		d.do(t, http.MethodGet, p+"/unknown/security/violations?limit=0", k, nil).must(t, http.StatusUnprocessableEntity)
		d.do(t, http.MethodGet, p+"/unknown/security/violations?limit=101", k, nil).must(t, http.StatusUnprocessableEntity)
		// Deliberate difference: the violations of an unknown plugin are
		// a 404, as everything else about it (the original answered 200
		// with []). Scenario 11 lists an installed plugin's.
		d.do(t, http.MethodGet, p+"/unknown/security/violations?limit=50", k, nil).
			mustDetail(t, http.StatusNotFound, "Plugin unknown not found")
	})

	t.Run("stats overview", func(t *testing.T) {
		m := d.do(t, http.MethodGet, p+"/stats/overview", k, nil).must(t, http.StatusOK).object(t)
		hasKeys(t, "stats", m, "total_plugins", "installed_plugins", "failed_plugins", "plugins_with_violations",
			"average_security_score", "recent_violations")
		if m["total_plugins"] != float64(0) || m["average_security_score"] != float64(100) {
			t.Fatalf("stats: %v", m)
		}
	})

	t.Run("registry refresh", func(t *testing.T) {
		d.do(t, http.MethodPost, p+"/registry/refresh", k, nil).must(t, http.StatusOK)
	})

	t.Run("install from a URL that is not a GitHub repository is 422", func(t *testing.T) {
		d.do(t, http.MethodPost, p+"/install", k, map[string]any{"repository_url": "https://invalid-url.com/repo"}).
			must(t, http.StatusUnprocessableEntity)
	})

	t.Run("uninstall an unknown plugin is 404", func(t *testing.T) {
		// ⚠ The original answered 400 "Plugin not found".
		d.do(t, http.MethodDelete, p+"/unknown", k, nil).mustDetail(t, http.StatusNotFound, "Plugin unknown not found")
	})
}
