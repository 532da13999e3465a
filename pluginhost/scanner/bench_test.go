package scanner_test

import (
	"context"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/grafana/sobek/parser"
	"golang.org/x/net/html"

	"github.com/taylordash/taylordash/pluginhost/scanner"
)

// syntheticBundle is a larger bundle made of the legitimate fixture's
// code: a page, about 1 MiB of JavaScript (its widget class, 60 times,
// each in its own scope) and style sheets.
func syntheticBundle(tb testing.TB) fstest.MapFS {
	tb.Helper()
	page, err := os.ReadFile("testdata/original/legitimate/project-dashboard/dashboard.html")
	if err != nil {
		tb.Fatal(err)
	}
	s := string(page)
	script := s[strings.Index(s, "<script>\n")+len("<script>\n") : strings.LastIndex(s, "</script>")]
	style := s[strings.Index(s, "<style>")+len("<style>") : strings.Index(s, "</style>")]
	var js, css strings.Builder
	for i := range 60 {
		js.WriteString("(() => {\n" + strings.ReplaceAll(script, "ProjectDashboard", "ProjectDashboard"+string(rune('A'+i%26))) + "\n})();\n")
	}
	for range 40 {
		css.WriteString(style)
	}
	return fstest.MapFS{
		"index.html":     {Data: page},
		"js/app.js":      {Data: []byte(js.String())},
		"css/styles.css": {Data: []byte(css.String())},
		"plugin.json":    {Data: []byte(`{"id": "synthetic"}`)},
	}
}

// BenchmarkScan measures the scanner's throughput, and in the same run
// two baselines over the same bytes: reading the files, and reading
// them plus tokenizing the markup and parsing every script (the floor
// the scan's rules add to).
func BenchmarkScan(b *testing.B) {
	m := scanner.Manifest{
		Permissions:    []string{"read:projects", "read:events"},
		APIEndpoints:   []string{"/api/v1/projects", "/api/v1/events"},
		AllowedOrigins: []string{"https://cdn.taylordash.com", "https://api.chartjs.org"},
	}
	bundles := []struct {
		name string
		fsys fs.FS
	}{
		{"fixtures", os.DirFS("testdata/original")},
		{"synthetic", syntheticBundle(b)},
	}
	s := newScanner(b, scanner.Config{})
	for _, bundle := range bundles {
		rep, err := s.ScanFS(context.Background(), bundle.fsys, m)
		if err != nil {
			b.Fatal(err)
		}
		size := rep.Bytes
		b.Run("scan/"+bundle.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ScanFS(context.Background(), bundle.fsys, m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("baseline-read/"+bundle.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				readAll(b, bundle.fsys, nil)
			}
		})
		b.Run("baseline-parse/"+bundle.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				readAll(b, bundle.fsys, parseOnly)
			}
		})
	}
}

// readAll reads every file a scan reads and hands it to use.
func readAll(b *testing.B, fsys fs.FS, use func(name string, src []byte)) {
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch path.Ext(p) {
		case ".js", ".html", ".css":
		default:
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err == nil && use != nil {
			use(p, src)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// parseOnly tokenizes markup and parses JavaScript (files and inline
// scripts), with no rule applied.
func parseOnly(name string, src []byte) {
	switch path.Ext(name) {
	case ".js":
		_, _ = parser.ParseFile(nil, "", string(src), 0, parser.WithDisableSourceMaps)
	case ".html":
		z := html.NewTokenizer(strings.NewReader(string(src)))
		inScript := false
		for {
			tt := z.Next()
			switch tt {
			case html.ErrorToken:
				return
			case html.StartTagToken:
				n, _ := z.TagName()
				inScript = string(n) == "script"
			case html.TextToken:
				if inScript {
					_, _ = parser.ParseFile(nil, "", string(z.Raw()), 0, parser.WithDisableSourceMaps)
				}
			default:
				inScript = false
			}
		}
	}
}
