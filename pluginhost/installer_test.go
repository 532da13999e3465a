package pluginhost_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// installerBundle is a fresh database and plugin directory with an
// installer on them.
type installerBundle struct {
	db  *testkit.Database
	dir string
	in  *pluginhost.Installer
	reg *pluginhost.Registry
}

func newInstaller(t *testing.T, cfg pluginhost.InstallerConfig, opts pluginhost.InstallerOptions) installerBundle {
	t.Helper()
	db := testkit.Postgres(t, pluginhost.Migrations)
	cfg.Dir = t.TempDir()
	if cfg.HostVersion == "" {
		cfg.HostVersion = "1.0.0"
	}
	in, err := pluginhost.NewInstaller(db.DB, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return installerBundle{db: db, dir: cfg.Dir, in: in, reg: pluginhost.NewRegistry(db.DB)}
}

// assertNothingLeft checks that no plugin row and no file was kept.
func (b installerBundle) assertNothingLeft(t *testing.T) {
	t.Helper()
	for _, table := range []string{"plugins", "plugin_security_violations", "plugin_config_history", "plugin_api_access"} {
		var n int
		if err := b.db.DB.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s has %d rows, want 0", table, n)
		}
	}
	var left []string
	_ = filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(b.dir, p); rel != "." && rel != ".staging" {
			left = append(left, rel)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestInstallRefusesHostileArchivesLeavingNothing(t *testing.T) {
	b := newInstaller(t, pluginhost.InstallerConfig{}, pluginhost.InstallerOptions{})
	zeros := make([]byte, 30<<20)
	cases := map[string]struct {
		data []byte
		rule string
	}{
		"traversal": {zipOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "../../escape.js", body: []byte("x")}), "archive.path_traversal"},
		"symlink":   {tarGzOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "index.html", link: "/etc/passwd"}), "archive.symlink"},
		"hard link": {tarGzOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "index.html", link: "/etc/shadow", hard: true}), "archive.hard_link"},
		"bomb":      {zipOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "zeros.bin", body: zeros}), "archive.file_too_large"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromArchive(bytes.NewReader(c.data)), Actor: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != pluginhost.OutcomeRejected || len(res.Findings) != 1 || res.Findings[0].RuleID != c.rule || !res.Findings[0].Blocking {
				t.Fatalf("result = %+v, want rejected by %s", res, c.rule)
			}
			b.assertNothingLeft(t)
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(b.dir), "escape.js")); err == nil {
		t.Error("the traversal wrote outside the plugin directory")
	}
}

func TestInstallRejectsAnInvalidManifest(t *testing.T) {
	b := newInstaller(t, pluginhost.InstallerConfig{}, pluginhost.InstallerOptions{})
	bad := []byte(strings.Replace(string(manifestJSON), `"^1.0.0"`, `"^2.0.0"`, 1))
	res, err := b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromArchive(bytes.NewReader(
		zipOf(t, entry{name: "plugin.json", body: bad}, entry{name: "index.html", body: []byte("<p>x</p>")})))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != pluginhost.OutcomeRejected || len(res.Findings) != 1 || res.Findings[0].RuleID != "manifest.taylordash_version" ||
		!strings.Contains(res.Findings[0].Message, "does not include this TaylorDash (1.0.0)") {
		t.Fatalf("result = %+v", res)
	}
	b.assertNothingLeft(t)

	res, err = b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromArchive(bytes.NewReader(
		zipOf(t, entry{name: "index.html", body: []byte("<p>x</p>")})))})
	if err != nil || res.Status != pluginhost.OutcomeRejected || res.Findings[0].RuleID != "manifest.missing" {
		t.Fatalf("no manifest: %+v, %v", res, err)
	}
	b.assertNothingLeft(t)
}

func TestInstallWithoutScannerRefusesUIPlugins(t *testing.T) {
	b := newInstaller(t, pluginhost.InstallerConfig{}, pluginhost.InstallerOptions{})
	res, err := b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromArchive(bytes.NewReader(
		zipOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "index.html", body: []byte("<p>x</p>")})))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != pluginhost.OutcomeRejected || res.Findings[0].RuleID != "scan.unavailable" {
		t.Fatalf("result = %+v", res)
	}
	b.assertNothingLeft(t)
}

func TestInstallFromPathNeedsPermission(t *testing.T) {
	b := newInstaller(t, pluginhost.InstallerConfig{}, pluginhost.InstallerOptions{})
	_, err := b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromPath(t.TempDir())})
	if !errors.Is(err, dashcore.ErrForbidden) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	b.assertNothingLeft(t)
}

func TestInstallFromURLChecksThePin(t *testing.T) {
	archive := zipOf(t, entry{name: "plugin.json", body: manifestJSON}, entry{name: "index.html", body: []byte("<p>x</p>")})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/demo.zip" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(archive)
	}))
	defer srv.Close()
	b := newInstaller(t, pluginhost.InstallerConfig{}, pluginhost.InstallerOptions{HTTPClient: srv.Client()})
	sum := sha256.Sum256(archive)
	wrong := strings.Repeat("0", 64)

	_, err := b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromURL(srv.URL+"/demo.zip", wrong)})
	var de *pluginhost.DownloadError
	if !errors.As(err, &de) || !errors.Is(err, dashcore.ErrInvalid) || !strings.Contains(err.Error(), hex.EncodeToString(sum[:])) {
		t.Fatalf("err = %v, want a DownloadError naming the real digest", err)
	}
	b.assertNothingLeft(t)

	_, err = b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromURL(srv.URL+"/missing.zip", hex.EncodeToString(sum[:]))})
	if !errors.As(err, &de) || !strings.Contains(de.Reason, "404") {
		t.Fatalf("err = %v, want a 404 DownloadError", err)
	}
	_, err = b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromURL("http://example.com/x.zip", hex.EncodeToString(sum[:]))})
	if !errors.Is(err, dashcore.ErrInvalid) {
		t.Fatalf("plain http: err = %v, want ErrInvalid", err)
	}

	// The right pin gets past the download to the checks (no scanner here).
	res, err := b.in.Install(context.Background(), pluginhost.InstallRequest{Source: pluginhost.FromURL(srv.URL+"/demo.zip", hex.EncodeToString(sum[:]))})
	if err != nil || res.Status != pluginhost.OutcomeRejected || res.Findings[0].RuleID != "scan.unavailable" {
		t.Fatalf("result = %+v, %v", res, err)
	}
	b.assertNothingLeft(t)
}
