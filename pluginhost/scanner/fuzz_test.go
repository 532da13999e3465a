package scanner_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/taylordash/taylordash/pluginhost/scanner"
)

// FuzzScan feeds arbitrary content to every language: the scan must
// finish, with findings that point inside the file.
func FuzzScan(f *testing.F) {
	for _, p := range []string{
		"testdata/original/legitimate/project-dashboard/dashboard.html",
		"testdata/original/malicious/xss-injection/index.html",
		"testdata/original/malicious/iframe-escape/index.html",
		"testdata/clean/js/app.mjs",
		"testdata/clean/css/style.css",
		"testdata/clean/img/logo.svg",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Ext(p), b)
	}
	f.Add(".js", []byte("window['ev'+'al'](`${a}`); for await (x of y) {}\nfoo.default\nbar()"))
	f.Add(".html", []byte("<svg><style><img src=x onerror=eval(1)></style><script><![CDATA[x]]></script>"))
	s, err := scanner.New(scanner.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ext string, src []byte) {
		switch ext {
		case ".js", ".mjs", ".html", ".svg", ".css":
		default:
			ext = ".js"
		}
		rep, err := s.ScanBytes("f"+ext, src, scanner.Manifest{AllowedOrigins: []string{"https://a.example"}, APIEndpoints: []string{"/api/v1/x/*"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range rep.Findings {
			if fd.Line < 0 || fd.Column < 0 || len(fd.Snippet) > scanner.SnippetMax {
				t.Fatalf("finding %+v", fd)
			}
			if fd.Message == "" || fd.RuleID == "" {
				t.Fatalf("finding %+v", fd)
			}
		}
	})
}
