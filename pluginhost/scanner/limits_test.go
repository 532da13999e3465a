package scanner_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/taylordash/taylordash/pluginhost/scanner"
)

// Limits are findings, not errors: a big file is reported and not read,
// the bundle stops at its byte and file limits.
func TestLimits(t *testing.T) {
	big := strings.Repeat("// padding\n", 200) // 2200 bytes
	fsys := fstest.MapFS{
		"a.js":     {Data: []byte("ok();\n")},
		"b.js":     {Data: []byte(big)},
		"c.js":     {Data: []byte(strings.Repeat("x", 900))},
		"d.css":    {Data: []byte(strings.Repeat("p{}", 300))},
		"e.png":    {Data: []byte("\x89PNG")},
		"f/g.html": {Data: []byte("<p>x</p>")},
	}
	s := newScanner(t, scanner.Config{MaxFileBytes: 2000, MaxBytes: 1000})
	rep, err := s.ScanFS(context.Background(), fsys, scanner.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	checkAt(t, rep, []at{{rule: "file.too-large", file: "b.js"}, {rule: "file.bundle-too-large", file: "d.css"}})
	if rep.Files != 2 || rep.Bytes != 906 || !rep.Blocked {
		t.Errorf("files %d bytes %d blocked %v, want a.js and c.js scanned (906 bytes), blocked%s", rep.Files, rep.Bytes, rep.Blocked, describe(rep))
	}

	s = newScanner(t, scanner.Config{MaxFiles: 3})
	rep, err = s.ScanFS(context.Background(), fsys, scanner.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	checkAt(t, rep, []at{{rule: "file.too-many-files", file: "d.css"}})
	if rep.Files != 3 {
		t.Errorf("%d files scanned, want 3", rep.Files)
	}
}

// MaxFindings bounds the report; dropped findings still block.
func TestMaxFindings(t *testing.T) {
	src := strings.Repeat("eval(x);\n", 50)
	rep, err := newScanner(t, scanner.Config{MaxFindings: 10}).ScanBytes("a.js", []byte(src), scanner.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 10 || rep.Dropped != 40 || !rep.Blocked {
		t.Errorf("%d findings, %d dropped, blocked %v; want 10, 40, true", len(rep.Findings), rep.Dropped, rep.Blocked)
	}
}

// ScanDir reports symbolic links and never follows them, even to a
// file that would be scanned.
func TestSymlinksNotFollowed(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.js"), []byte("eval(stolen)"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(`<script src="lib.js"></script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.js"), filepath.Join(dir, "lib.js")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "vendor")); err != nil {
		t.Fatal(err)
	}
	rep, err := newScanner(t, scanner.Config{}).ScanDir(context.Background(), dir, scanner.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	checkAt(t, rep, []at{{rule: "file.symlink", file: "lib.js"}, {rule: "file.symlink", file: "vendor"}})
	if slices.Contains(rep.RuleIDs(), "code.eval") || rep.Files != 1 {
		t.Errorf("a link was followed: %d files%s", rep.Files, describe(rep))
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newScanner(t, scanner.Config{}).ScanDir(ctx, "testdata/clean", scanner.Manifest{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestBadManifest(t *testing.T) {
	s := newScanner(t, scanner.Config{})
	for _, m := range []scanner.Manifest{
		{AllowedOrigins: []string{"https://cdn.example.com/path"}},
		{AllowedOrigins: []string{"cdn.example.com"}},
		{AllowedOrigins: []string{"ftp://cdn.example.com"}},
		{APIEndpoints: []string{"api/v1/projects"}},
	} {
		if _, err := s.ScanFS(context.Background(), fstest.MapFS{}, m); err == nil {
			t.Errorf("manifest %+v accepted", m)
		}
	}
	if _, err := newScanner(t, scanner.Config{}).ScanDir(context.Background(), "testdata/none", scanner.Manifest{}); err == nil {
		t.Error("a missing directory is no error")
	}
}

func TestConfig(t *testing.T) {
	cfg := scanner.Config{}.WithDefaults()
	if cfg.MaxFileBytes != 5<<20 || cfg.MaxBytes != 50<<20 || cfg.MaxFiles != 2000 || cfg.MaxFindings != 1000 || cfg.BlockAt != scanner.SeverityHigh {
		t.Errorf("defaults %+v", cfg)
	}
	_, err := scanner.New(scanner.Config{MaxFiles: -1, BlockAt: "severe", Severities: map[string]scanner.Severity{"no.such": "high", "code.eval": "huge"}})
	for _, want := range []string{"MaxFiles", "BlockAt", `unknown rule "no.such"`, `"code.eval" severity "huge"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to name %s", err, want)
		}
	}
}

// BlockAt and Severities set the policy: the same findings block or
// warn.
func TestPolicy(t *testing.T) {
	src := []byte(`<button onclick="go()">Go</button>`)
	strict := newScanner(t, scanner.Config{Severities: map[string]scanner.Severity{"code.inline-handler": scanner.SeverityHigh}})
	rep, err := strict.ScanBytes("index.html", src, scanner.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict() != scanner.VerdictRejected || rep.Findings[0].Severity != scanner.SeverityHigh || !rep.Findings[0].Blocking {
		t.Errorf("override: %s%s", rep.Verdict(), describe(rep))
	}
	lax := newScanner(t, scanner.Config{BlockAt: scanner.SeverityCritical})
	rep, err = lax.ScanBytes("app.js", []byte("fetch('https://evil.example')"), scanner.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict() != scanner.VerdictWarnings {
		t.Errorf("BlockAt critical: %s%s", rep.Verdict(), describe(rep))
	}
}

// Findings marshal with snake_case keys, the form pluginhost stores.
func TestFindingJSON(t *testing.T) {
	rep, err := newScanner(t, scanner.Config{}).ScanBytes("app.js", []byte("eval(1)"), scanner.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"findings":[{"rule_id":"code.eval","category":"code","severity":"critical","file":"app.js","line":1,"column":1,` +
		`"snippet":"eval(1)","message":"eval runs a string as code","blocking":true}],"blocked":true,"files":1,"bytes":7}`
	if string(b) != want {
		t.Errorf("json\n got %s\nwant %s", b, want)
	}
}

// Rules are documented: every rule of the table is in the package
// documentation with its severity and category, and has a what and a
// why.
func TestRulesDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range scanner.Rules() {
		if seen[r.ID] {
			t.Errorf("rule %s twice", r.ID)
		}
		seen[r.ID] = true
		entry := "//   - " + r.ID + " (" + string(r.Severity) + ", " + string(r.Category) + "): "
		if !strings.Contains(string(doc), entry) {
			t.Errorf("doc.go lacks %q", entry)
		}
		if r.What == "" || r.Why == "" {
			t.Errorf("rule %s without what or why", r.ID)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
