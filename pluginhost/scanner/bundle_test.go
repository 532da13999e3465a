package scanner_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost"
	"github.com/taylordash/taylordash/pluginhost/scanner"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The scanner as pluginhost's BundleScanner, end to end with a real
// database: the legitimate fixture installs and its warnings are stored
// as violations with their rule, file, line and snippet; each malicious
// fixture is rejected with its blocking findings and nothing is kept.
func TestInstallerWithScanner(t *testing.T) {
	db := testkit.Postgres(t, pluginhost.Migrations)
	in, err := pluginhost.NewInstaller(db.DB, pluginhost.InstallerConfig{Dir: t.TempDir(), HostVersion: "1.0.0", AllowPathSource: true},
		pluginhost.InstallerOptions{Scanner: newScanner(t, scanner.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	install := func(dir string) *pluginhost.InstallResult {
		t.Helper()
		abs, err := filepath.Abs(filepath.Join("testdata", "original", dir))
		if err != nil {
			t.Fatal(err)
		}
		res, err := in.Install(ctx, pluginhost.InstallRequest{Source: pluginhost.FromPath(abs), Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	res := install("legitimate/project-dashboard")
	if res.Status != pluginhost.OutcomeInstalled {
		t.Fatalf("legitimate: %s %s %+v", res.Status, res.Message, res.Findings)
	}
	vs, err := pluginhost.NewRegistry(db.DB).Violations(ctx, "project-dashboard", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.RuleID)
		if v.Origin != "scan" || v.File != "dashboard.html" || v.Line == 0 || v.Column == 0 || v.Snippet == "" {
			t.Errorf("violation %+v", v)
		}
	}
	slices.Sort(got)
	if want := []string{"code.html-sink", "net.script-integrity", "perm.storage", "perm.storage"}; !slices.Equal(got, want) {
		t.Errorf("stored violations %q, want %q", got, want)
	}

	for _, dir := range []string{"malicious/xss-injection", "malicious/iframe-escape", "malicious/data-exfiltration"} {
		res := install(dir)
		blocking := 0
		for _, f := range res.Findings {
			if f.Blocking {
				blocking++
			}
		}
		if res.Status != pluginhost.OutcomeRejected || blocking == 0 {
			t.Errorf("%s: %s with %d blocking findings", dir, res.Status, blocking)
		}
	}
	var n int
	if err := db.DB.QueryRow(ctx, "SELECT count(*) FROM plugins").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d plugins installed, want only the legitimate one", n)
	}
}

// ScanBundle reports dropped findings, blocking when a dropped one
// blocks and none listed does.
func TestScanBundleTruncated(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.js"), "localStorage.a = 1;\nlocalStorage.b = 2;\neval(x);\n")
	s := newScanner(t, scanner.Config{MaxFindings: 2})
	fs, err := s.ScanBundle(context.Background(), dir, &pluginhost.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	last := fs[len(fs)-1]
	if len(fs) != 3 || last.RuleID != "scan.truncated" || !last.Blocking {
		t.Errorf("findings %+v", fs)
	}
}

func TestModule(t *testing.T) {
	err := fx.ValidateApp(scanner.Module,
		fx.Provide(func() dashcore.Environment { return dashcore.NewEnvironment(nil) }),
		fx.Invoke(func(pluginhost.BundleScanner, *scanner.Scanner) {}))
	if err != nil {
		t.Fatal(err)
	}
	var s *scanner.Scanner
	app := fx.New(scanner.Module, fx.NopLogger,
		fx.Provide(func() dashcore.Environment {
			return dashcore.NewEnvironment(map[string]string{"TAYLORDASH_PLUGINS_SCAN_BLOCK_AT": "critical", "TAYLORDASH_PLUGINS_SCAN_MAX_FILES": "10"})
		}),
		fx.Populate(&s))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if cfg := s.Config(); cfg.BlockAt != scanner.SeverityCritical || cfg.MaxFiles != 10 || cfg.MaxBytes != 50<<20 {
		t.Errorf("config %+v", cfg)
	}
}
