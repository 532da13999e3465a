package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/pluginhost/plugintest"
	"github.com/taylordash/taylordash/testkit"
)

// The scanner's bundles: a clean one, and the original's fixtures.
const (
	cleanBundle      = "../../pluginhost/scanner/testdata/clean"
	legitimateBundle = "../../pluginhost/scanner/testdata/original/legitimate/project-dashboard"
	maliciousBundle  = "../../pluginhost/scanner/testdata/original/malicious/xss-injection"
)

// zipBundle writes dir as a zip archive in the test's directory, each
// file passed through edit when given, and returns its path and bytes.
func zipBundle(t *testing.T, dir string, edit func(name string, data []byte) []byte) (string, []byte) {
	t.Helper()
	data := plugintest.ZipDir(t, dir, edit)
	path := filepath.Join(t.TempDir(), filepath.Base(dir)+".zip")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// TestPluginInstall: a clean archive installs (exit 0, progress and a
// summary), its role enters the policy, and list shows it; the same
// again changes nothing; a malicious bundle is rejected (exit 1) with
// its blocking findings; a directory and a pinned https URL install too.
func TestPluginInstall(t *testing.T) {
	db := testkit.Postgres(t)
	pluginsDir := t.TempDir()
	vars := map[string]string{"TAYLORDASH_DATABASE_URL": db.URL, "TAYLORDASH_PLUGINS_DIR": pluginsDir}
	ctx := context.Background()
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := db.DB.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	clean, _ := zipBundle(t, cleanBundle, nil)
	res := execute(t, vars, "", "plugin", "install", clean, "--progress", "always")
	if res.code != exitOK || res.stdout != "Installed clean-widget 1.0.0.\nStatus: installed; findings: none.\n" {
		t.Fatalf("install: %+v", res)
	}
	if !strings.Contains(res.stderr, "reading archive 100%") {
		t.Errorf("no progress on standard error: %q", res.stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(pluginsDir, "clean-widget", "1.0.0-*", "plugin.json")); len(m) != 1 {
		t.Fatalf("installed files: %v", m)
	}
	if n := count(`SELECT count(*) FROM auth_casbin_rules WHERE ptype = 'p' AND v0 = $1`, pluginhost.Role("clean-widget")); n == 0 {
		t.Error("the plugin's role is not in the policy")
	}

	res = execute(t, vars, "", "plugin", "install", clean)
	if res.code != exitOK || !strings.Contains(res.stdout, "clean-widget 1.0.0 is already installed; nothing changed") || res.stderr != "" {
		t.Fatalf("install again: %+v", res)
	}

	// A malicious bundle: rejected, the blocking findings listed.
	res = execute(t, vars, "", "plugin", "install", maliciousBundle)
	if res.code != exitFailure || !strings.Contains(res.stdout, "Rejected xss-injection-plugin 1.0.0: The plugin was refused") ||
		!strings.Contains(res.stdout, "Blocking findings:\n  critical  code.eval") || !strings.Contains(res.stdout, "index.html:13:9") ||
		!strings.Contains(res.stderr, "blocking finding(s); fix them and install again") {
		t.Fatalf("malicious bundle: %+v", res)
	}
	malicious, _ := zipBundle(t, maliciousBundle, nil)
	res = execute(t, vars, "", "plugin", "install", malicious, "--output", "json")
	sum := decode[installSummary](t, res)
	if res.code != exitFailure || sum.Status != pluginhost.OutcomeRejected || sum.Blocking == 0 || sum.Severities["critical"] == 0 ||
		len(sum.Findings) < sum.Blocking {
		t.Fatalf("malicious archive: exit %d, %+v", res.code, sum)
	}
	if n := count(`SELECT count(*) FROM plugins WHERE id = 'xss-injection-plugin'`); n != 0 {
		t.Fatal("the rejected plugin was recorded")
	}

	// A bundle directory.
	res = execute(t, vars, "", "plugin", "install", legitimateBundle, "-o", "json")
	if sum := decode[installSummary](t, res); res.code != exitOK || sum.Status != pluginhost.OutcomeInstalled || sum.PluginID != "project-dashboard" || sum.Blocking != 0 {
		t.Fatalf("directory: exit %d, %+v", res.code, sum)
	}

	// An https URL, pinned: an update to 1.1.0.
	_, archive := zipBundle(t, cleanBundle, func(name string, data []byte) []byte {
		if name == "plugin.json" {
			return bytes.Replace(data, []byte(`"version": "1.0.0"`), []byte(`"version": "1.1.0"`), 1)
		}
		return data
	})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
		_, _ = w.Write(archive)
	}))
	t.Cleanup(srv.Close)
	sum256 := sha256.Sum256(archive)
	withServer := func(c *cli) { c.transport = srv.Client().Transport }
	res = executeWith(t, withServer, vars, "", "plugin", "install", srv.URL+"/clean-1.1.0.zip", "--sha256", strings.Repeat("0", 64))
	if res.code != exitFailure || !strings.Contains(res.stderr, "not the pinned") {
		t.Fatalf("wrong digest: %+v", res)
	}
	res = executeWith(t, withServer, vars, "", "plugin", "install", srv.URL+"/clean-1.1.0.zip", "--sha256", hex.EncodeToString(sum256[:]),
		"--progress", "always")
	if res.code != exitOK || !strings.Contains(res.stdout, "Installed clean-widget 1.1.0 (replacing 1.0.0).") || !strings.Contains(res.stderr, "downloading 100%") {
		t.Fatalf("url: %+v", res)
	}

	res = execute(t, vars, "", "plugin", "list", "--output", "json")
	list := decode[struct {
		Plugins []pluginhost.PluginInfo `json:"plugins"`
		Total   int                     `json:"total"`
	}](t, res)
	if res.code != exitOK || list.Total != 2 || len(list.Plugins) != 2 || list.Plugins[0].ID != "clean-widget" || list.Plugins[0].Version != "1.1.0" ||
		list.Plugins[0].Source != pluginhost.SourceURL || list.Plugins[1].ID != "project-dashboard" || list.Plugins[1].Source != pluginhost.SourcePath ||
		list.Plugins[0].UIPath != "/plugins/clean-widget/index.html" {
		t.Fatalf("list: %+v", list)
	}
	res = execute(t, vars, "", "plugin", "list")
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "ID ") || !strings.Contains(res.stdout, "clean-widget       1.1.0    ui       installed  url") {
		t.Fatalf("list: %+v", res)
	}
	if n := count(`SELECT count(*) FROM auth_audit_log WHERE event_type IN ('plugin_installed', 'plugin_updated', 'plugin_rejected')`); n != 5 {
		t.Errorf("plugin audit events: %d, want 5", n)
	}
}
