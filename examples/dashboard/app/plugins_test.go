package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/examples/dashboard/app"
	"github.com/taylordash/taylordash/pluginhost/plugintest"
	"github.com/taylordash/taylordash/testkit"
)

// fixtures holds the original's plugin bundles (copied, unchanged, from
// the shared test vectors).
const fixtures = "../../../pluginhost/scanner/testdata/original"

// startAuthEnv starts the app as startAuth does, with more variables.
func startAuthEnv(t *testing.T, more map[string]string) *authApp {
	t.Helper()
	iss := testkit.OIDC(t)
	return &authApp{iss: iss, TestApp: testkit.App(t, app.Modules(), testkit.Env(authEnv(iss, more)))}
}

// upload installs an archive with a multipart request.
func (a *authApp) upload(t *testing.T, bearer, path string, archive []byte) (*http.Response, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("archive", "bundle.zip")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(archive)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, a.URL+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	if path != "/api/v1/plugins/install" {
		req.Method = http.MethodPut
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := a.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type installAnswer struct {
	Status         string `json:"status"`
	PluginID       string `json:"plugin_id"`
	Message        string `json:"message"`
	InstallationID string `json:"installation_id"`
	Findings       []struct {
		RuleID   string `json:"rule_id"`
		Severity string `json:"severity"`
		File     string `json:"file"`
		Line     int    `json:"line"`
		Blocking bool   `json:"blocking"`
	} `json:"findings"`
}

func decodeInstall(t *testing.T, body []byte) installAnswer {
	t.Helper()
	var ia installAnswer
	if err := json.Unmarshal(body, &ia); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return ia
}

func (a *authApp) countRows(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := a.DB.DB.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPluginLifecycle(t *testing.T) {
	dir := t.TempDir()
	a := startAuthEnv(t, map[string]string{"TAYLORDASH_PLUGINS_DIR": dir})
	admin := a.login(t, adminUser, adminPassword)
	a.createUser(t, admin, "vera", "viewer", "a long enough passphrase 42")
	viewer := a.login(t, "vera", "a long enough passphrase 42")

	// The malicious fixtures are refused with their findings; nothing is kept.
	for _, name := range []string{"xss-injection", "iframe-escape", "data-exfiltration"} {
		resp, body := a.upload(t, admin, "/api/v1/plugins/install", plugintest.ZipDir(t, filepath.Join(fixtures, "malicious", name), nil))
		must(t, http.StatusOK, resp, body, "install "+name)
		ia := decodeInstall(t, body)
		blocking := 0
		for _, f := range ia.Findings {
			if f.Blocking {
				blocking++
			}
		}
		if ia.Status != "rejected" || blocking == 0 || ia.InstallationID == "" {
			t.Fatalf("%s: %s", name, body)
		}
	}
	if n := a.countRows(t, "plugins"); n != 0 {
		t.Fatalf("rejected installs left %d plugin rows", n)
	}

	// The legitimate one installs, with a secret added to its schema.
	secretSchema := func(name string, data []byte) []byte {
		if name != "plugin.json" {
			return data
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		props := m["config_schema"].(map[string]any)["properties"].(map[string]any)
		props["apiToken"] = map[string]any{"type": "string", "writeOnly": true}
		out, _ := json.Marshal(m)
		return out
	}
	legit := plugintest.ZipDir(t, filepath.Join(fixtures, "legitimate", "project-dashboard"), secretSchema)
	resp, body := a.upload(t, viewer, "/api/v1/plugins/install", legit)
	must(t, http.StatusForbidden, resp, body, "install as viewer")
	resp, body = a.upload(t, admin, "/api/v1/plugins/install", legit)
	must(t, http.StatusOK, resp, body, "install legitimate")
	ia := decodeInstall(t, body)
	if ia.Status != "installed" || ia.PluginID != "project-dashboard" {
		t.Fatalf("legitimate: %s", body)
	}
	for _, f := range ia.Findings {
		if f.Blocking {
			t.Errorf("blocking finding on the legitimate fixture: %+v", f)
		}
	}
	resp, body = a.upload(t, admin, "/api/v1/plugins/install", legit)
	if must(t, http.StatusOK, resp, body, "install again"); decodeInstall(t, body).Status != "already_installed" {
		t.Fatalf("second install: %s", body)
	}

	// Reading needs plugins:read (viewers have it).
	resp, body = a.do(t, http.MethodGet, "/api/v1/plugins/list", viewer, "", nil)
	must(t, http.StatusOK, resp, body, "list")
	var list struct {
		Plugins []map[string]any `json:"plugins"`
		Total   int              `json:"total"`
	}
	if err := json.Unmarshal(body, &list); err != nil || list.Total != 1 || list.Plugins[0]["id"] != "project-dashboard" {
		t.Fatalf("list: %s", body)
	}

	// The plugin's own token works only at its proxy, where its
	// api_endpoints and permissions apply; every call is recorded.
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-dashboard/token", viewer, "", nil)
	must(t, http.StatusOK, resp, body, "token")
	var tok struct{ Token, Proxy string }
	if err := json.Unmarshal(body, &tok); err != nil || !strings.HasPrefix(tok.Token, "tdp_project-dashboard~") ||
		tok.Proxy != "/api/v1/plugins/project-dashboard/proxy/" {
		t.Fatalf("token: %s", body)
	}
	resp, body = a.do(t, http.MethodGet, tok.Proxy+"projects", tok.Token, "", nil)
	must(t, http.StatusOK, resp, body, "proxied declared call")
	resp, body = a.do(t, http.MethodGet, tok.Proxy+"auth/users", tok.Token, "", nil)
	must(t, http.StatusForbidden, resp, body, "proxied undeclared call")
	if !strings.Contains(string(body), "not declared in the manifest") {
		t.Errorf("undeclared call: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, tok.Proxy+"projects", tok.Token, "", map[string]any{"name": "from a plugin"})
	must(t, http.StatusForbidden, resp, body, "proxied call without the permission")
	resp, body = a.do(t, http.MethodGet, "/api/v1/projects", tok.Token, "", nil)
	must(t, http.StatusUnauthorized, resp, body, "plugin token outside its proxy")
	resp, body = a.do(t, http.MethodGet, tok.Proxy+"projects", viewer, "", nil)
	must(t, http.StatusForbidden, resp, body, "a user at the plugin's proxy")
	var allowed, denied, proxyViolations int
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE allowed), count(*) FILTER (WHERE NOT allowed)
		FROM plugin_api_access WHERE plugin_id = 'project-dashboard'`).Scan(&allowed, &denied); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.DB.QueryRow(context.Background(), `SELECT count(*) FROM plugin_security_violations
		WHERE plugin_id = 'project-dashboard' AND origin = 'proxy'`).Scan(&proxyViolations); err != nil {
		t.Fatal(err)
	}
	if allowed != 1 || denied != 2 || proxyViolations != 2 {
		t.Errorf("access rows: %d allowed, %d denied; proxy violations %d; want 1, 2, 2", allowed, denied, proxyViolations)
	}

	// Configuration: validated against config_schema; the secret masked
	// for a viewer, shown to the admin.
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-dashboard/config", admin, "",
		map[string]any{"config": map[string]any{"refreshInterval": 10}})
	must(t, http.StatusUnprocessableEntity, resp, body, "config below the minimum")
	if !strings.Contains(string(body), "body.config.refreshInterval") {
		t.Errorf("config error does not name the field: %s", body)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-dashboard/config", viewer, "",
		map[string]any{"config": map[string]any{"refreshInterval": 10000}})
	must(t, http.StatusForbidden, resp, body, "config as viewer")
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-dashboard/config", admin, "",
		map[string]any{"plugin_id": "ignored", "config": map[string]any{"refreshInterval": 10000, "apiToken": "sk-live-42"}})
	must(t, http.StatusOK, resp, body, "config")
	configOf := func(bearer string) map[string]any {
		resp, body := a.do(t, http.MethodGet, "/api/v1/plugins/project-dashboard", bearer, "", nil)
		must(t, http.StatusOK, resp, body, "get")
		var info struct {
			Config map[string]any `json:"config"`
		}
		if err := json.Unmarshal(body, &info); err != nil {
			t.Fatal(err)
		}
		return info.Config
	}
	if c := configOf(admin); c["apiToken"] != "sk-live-42" || c["refreshInterval"] != float64(10000) {
		t.Errorf("admin sees config %v", c)
	}
	if c := configOf(viewer); c["apiToken"] != "********" || c["refreshInterval"] != float64(10000) {
		t.Errorf("viewer sees config %v", c)
	}
	if n := a.countRows(t, "plugin_config_history"); n != 1 {
		t.Errorf("config history rows = %d, want 1", n)
	}

	// An update to a new version keeps the configuration.
	bumped := plugintest.ZipDir(t, filepath.Join(fixtures, "legitimate", "project-dashboard"), func(name string, data []byte) []byte {
		data = secretSchema(name, data)
		if name == "plugin.json" {
			data = bytes.Replace(data, []byte(`"version":"1.2.0"`), []byte(`"version":"1.2.1"`), 1)
		}
		return data
	})
	resp, body = a.upload(t, admin, "/api/v1/plugins/project-dashboard/update", bumped)
	must(t, http.StatusOK, resp, body, "update")
	if ia := decodeInstall(t, body); ia.Status != "installed" || ia.Message != "Plugin updated from 1.2.0 to 1.2.1" {
		t.Fatalf("update: %s", body)
	}
	if c := configOf(admin); c["apiToken"] != "sk-live-42" {
		t.Errorf("config after the update: %v", c)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "project-dashboard")); len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "1.2.1-") {
		t.Errorf("version directories after the update: %v", entries)
	}
	resp, body = a.upload(t, admin, "/api/v1/plugins/nope-plugin/update", bumped)
	must(t, http.StatusNotFound, resp, body, "update of an unknown plugin")

	// The UI is served with the manifest's CSP, sandboxed, without cookies.
	resp, body = a.do(t, http.MethodGet, "/plugins/project-dashboard/dashboard.html", "", "", nil)
	must(t, http.StatusOK, resp, body, "asset")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "sandbox allow-scripts", "https://cdn.taylordash.com", "frame-ancestors " + a.URL,
		"connect-src https://api.chartjs.org https://cdn.taylordash.com;", "script-src " + a.URL + "/plugins/project-dashboard/"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Set-Cookie") != "" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("asset headers: %v", resp.Header)
	}
	for _, p := range []string{"/plugins/project-dashboard/plugin.json/../../x", "/plugins/project-dashboard/nope.js", "/plugins/nope/dashboard.html"} {
		if resp, _ := a.do(t, http.MethodGet, p, "", "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}

	// Disable: the UI is no longer served; enable brings it back.
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-dashboard/disable", admin, "", nil)
	must(t, http.StatusOK, resp, body, "disable")
	if resp, _ := a.do(t, http.MethodGet, "/plugins/project-dashboard/dashboard.html", "", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("disabled plugin served: %d", resp.StatusCode)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-dashboard/enable", admin, "", nil)
	must(t, http.StatusOK, resp, body, "enable")

	// Health, violations, a real rescan, stats, registry.
	for _, p := range []string{"/health", "/security/violations", "/../stats/overview", "/../registry"} {
		resp, body = a.do(t, http.MethodGet, "/api/v1/plugins/project-dashboard"+p, viewer, "", nil)
		must(t, http.StatusOK, resp, body, p)
	}
	resp, body = a.do(t, http.MethodPost, "/api/v1/plugins/project-dashboard/security/scan", admin, "", nil)
	must(t, http.StatusOK, resp, body, "scan")
	var scan struct {
		Message string `json:"message"`
		Blocked bool   `json:"blocked"`
	}
	if err := json.Unmarshal(body, &scan); err != nil || scan.Message != "Security scan completed" || scan.Blocked {
		t.Errorf("scan: %s", body)
	}

	// Every change is audited.
	for _, typ := range []string{"plugin_rejected", "plugin_installed", "plugin_configured", "plugin_disabled", "plugin_enabled", "plugin_scanned"} {
		if a.auditCount(t, typ, "{}") == 0 {
			t.Errorf("no %s audit event", typ)
		}
	}

	// Uninstall: rows and files gone; a second uninstall is a 404.
	resp, body = a.do(t, http.MethodDelete, "/api/v1/plugins/project-dashboard", admin, "", nil)
	must(t, http.StatusOK, resp, body, "uninstall")
	if !strings.Contains(string(body), "Plugin project-dashboard uninstalled successfully") {
		t.Errorf("uninstall: %s", body)
	}
	resp, body = a.do(t, http.MethodDelete, "/api/v1/plugins/project-dashboard", admin, "", nil)
	must(t, http.StatusNotFound, resp, body, "uninstall again")
	if n := a.countRows(t, "plugins") + a.countRows(t, "plugin_security_violations"); n != 0 {
		t.Errorf("%d rows left after uninstall", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "project-dashboard")); !os.IsNotExist(err) {
		t.Errorf("files left after uninstall: %v", err)
	}
}
