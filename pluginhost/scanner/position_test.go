package scanner_test

import (
	"strings"
	"testing"

	"github.com/taylordash/taylordash/pluginhost/scanner"
)

// Findings in inline code point into the file: the line and byte column
// of the code in the page, not in the script.
func TestPositions(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		want []at
	}{{
		name: "inline script",
		file: "index.html",
		src:  "<!doctype html>\n<p>hi</p>\n  <script>\n    let a = 1;\n    eval(a);\n  </script>\n",
		want: []at{{rule: "code.eval", line: 5, col: 5, inSnippet: "eval(a);"}},
	}, {
		name: "script on the tag's line",
		file: "index.html",
		src:  "<p>x</p><script>let y = 2; eval(y)</script>",
		want: []at{{rule: "code.eval", line: 1, col: 28}},
	}, {
		name: "second script",
		file: "index.html",
		src:  "<script>\nok()\n</script>\n<div>\n<script type=module>\n  import 'https://evil.example/m.js'\n</script></div>",
		want: []at{{rule: "net.undeclared-origin", line: 6, col: 3}},
	}, {
		name: "event handler attribute",
		file: "index.html",
		src:  "<div>\n  <button class=\"b\" onclick=\"go(); eval(x)\">Go</button>\n</div>",
		want: []at{
			{rule: "code.inline-handler", line: 2, col: 21},
			{rule: "code.eval", line: 2, col: 36},
		},
	}, {
		name: "CRLF lines",
		file: "app.js",
		src:  "// one\r\n// two\r\n\r\ndocument.cookie;\r\n",
		want: []at{{rule: "exfil.cookie", line: 4, col: 1}},
	}, {
		name: "columns count bytes",
		file: "app.js",
		src:  "const s = 'ééé'; eval(s);",
		want: []at{{rule: "code.eval", line: 1, col: 21}},
	}, {
		name: "style element",
		file: "index.html",
		src:  "<head>\n<style>\n  body {\n    background: url(https://evil.example/p.gif);\n  }\n</style>",
		want: []at{{rule: "net.undeclared-origin", line: 4, col: 21}},
	}, {
		name: "style attribute",
		file: "index.html",
		src:  `<p style="color: red; background: url('javascript:x')">x</p>`,
		want: []at{{rule: "code.javascript-url", line: 1, col: 40}},
	}, {
		name: "markup in a string",
		file: "app.js",
		src:  "\n\nel.innerHTML = '<b>x</b><img src=x onerror=\"steal()\">';",
		want: []at{{rule: "code.inline-handler", line: 3, col: 36}},
	}, {
		name: "svg cdata",
		file: "a.svg",
		src:  "<svg xmlns=\"http://www.w3.org/2000/svg\">\n<script><![CDATA[\n  var a = 1;\n  eval(a);\n]]></script>\n</svg>",
		want: []at{
			{rule: "code.svg-script", line: 2, col: 1},
			{rule: "code.eval", line: 4, col: 3},
		},
	}, {
		name: "syntax error after a patched line",
		file: "app.js",
		src:  "const d = mod.default\nconst e = 1\n\nconst f = ;\n",
		want: []at{{rule: "code.syntax-error", line: 4, col: 11}},
	}, {
		name: "syntax error",
		file: "app.js",
		src:  "const a = 1;\nconst b = ;\n",
		want: []at{{rule: "code.syntax-error", line: 2, col: 11}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := scanFiles(t, map[string]string{tt.file: tt.src}, defaultManifest)
			checkAt(t, rep, tt.want)
		})
	}
}

// Unparseable JavaScript is a blocking finding, never a crash; what
// parses is still checked.
func TestUnparseableJavaScript(t *testing.T) {
	garbage := "\x00\xff\xfe<<<>>> ((( \"unterminated\n" + strings.Repeat("{[(", 2000)
	rep := scanFiles(t, map[string]string{
		"broken.js":  "function (\n  eval('x')\n",
		"garbage.js": garbage,
		"half.js":    "const ok = fetch('https://evil.example/x');\nconst broken = {;\n",
	}, defaultManifest)
	checkAt(t, rep, []at{
		{rule: "code.syntax-error", line: 1, file: "broken.js"},
		{rule: "code.syntax-error", line: 1, file: "garbage.js"},
		{rule: "code.syntax-error", line: 2, file: "half.js"},
		{rule: "net.undeclared-origin", line: 1, file: "half.js"},
	})
	if rep.Verdict() != scanner.VerdictRejected {
		t.Errorf("verdict %s", rep.Verdict())
	}
}

// Snippets are one line, bounded, without control characters, and
// centred on the finding in a long (minified) line.
func TestSnippet(t *testing.T) {
	long := strings.Repeat("a=1;", 200) + "eval(x);" + strings.Repeat("b=2;", 200)
	rep := scanFiles(t, map[string]string{"min.js": long + "\n\tdocument.cookie\t;"}, defaultManifest)
	for _, f := range rep.Findings {
		if len(f.Snippet) > scanner.SnippetMax || strings.ContainsAny(f.Snippet, "\n\r\t") {
			t.Errorf("snippet %q", f.Snippet)
		}
	}
	checkAt(t, rep, []at{
		{rule: "code.eval", line: 1, col: 801, inSnippet: "eval(x)"},
		{rule: "exfil.cookie", line: 2, col: 2, inSnippet: "document.cookie ;"},
	})
}
