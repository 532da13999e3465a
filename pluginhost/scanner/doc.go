// Package scanner checks UI plugin bundles before pluginhost installs
// them: a static analysis of every file a browser would run or parse,
// with structured findings (rule, category, severity, file, line,
// column, snippet) that pluginhost stores as security violations.
//
// It replaces the original's regular expressions (spec §5.3), which
// rejected the project's own legitimate fixture for "function(",
// "content=" and "response =" and let backtick URLs, sendBeacon,
// window['ev'+'al'], postMessage to '*', document.domain and undeclared
// API calls through (bugs B-P2, B-P6).
//
// # Use
//
//	s, err := scanner.New(scanner.Config{}) // high and critical block
//	rep, err := s.ScanDir(ctx, dir, scanner.Manifest{
//		Permissions:    []string{"read:projects"},
//		APIEndpoints:   []string{"/api/v1/projects"},
//		AllowedOrigins: []string{"https://cdn.example.com"},
//	})
//	switch rep.Verdict() { // accepted, accepted_with_warnings, rejected
//	...
//	}
//
// [Scanner.ScanFS] scans any [io/fs.FS] (a zip.Reader, an fstest.MapFS);
// [Scanner.ScanBytes] one file. A *Scanner is a
// [github.com/taylordash/taylordash/pluginhost.BundleScanner]
// ([Scanner.ScanBundle]); [Module] provides it to pluginhost.Module,
// configured from TAYLORDASH_PLUGINS_SCAN_*. It is safe for concurrent
// use.
//
// # What is scanned
//
// Every file whose extension a browser runs or parses, compared without
// case: .js .cjs (a classic script, or a module if that is what parses),
// .mjs (a module), .html .htm (HTML), .svg .xhtml .xht .xml .xsl .xslt
// (XML: no raw-text elements, CDATA) and .css. Inside markup: inline
// <script> bodies (executable types only; type=module as a module;
// text/template types as markup; import maps' URLs), <style> bodies,
// style attributes, on* event-handler attributes (scanned as the body of
// a function), URL attributes of every element, srcdoc, and the content
// of data: URLs (markup, script, style). Markup assigned to innerHTML,
// outerHTML or srcdoc, or written with document.write or
// insertAdjacentHTML, is scanned as markup when it is constant. Other
// files (images, JSON, fonts, .wasm, .ts) are listed in Report.Skipped:
// browsers do not run them as code.
//
// Findings point into the file: 1-based lines (\n, \r\n or \r end a
// line) and byte columns, also for a script inside an HTML page, a
// handler inside an attribute or markup inside a string (when the
// string has no escapes; otherwise at the string).
//
// # Parsers
//
// JavaScript is parsed by github.com/grafana/sobek/parser (the
// maintained fork of goja that k6 uses), walked as a syntax tree with
// scopes, so a local variable named top, parent, open or fetch is not
// the global, while an alias of a global is (var d = document;
// const {cookie} = document; (function (w) {...})(window), the UMD
// wrapper; this at the top level). It was chosen over github.com/tdewolff/parse/v2/js, the
// faster and more complete parser, because tdewolff's tree carries no
// source positions (and shares one node for every use of a global), so
// findings could not point at a line and column; sobek gives every node
// its offset, parses ES2022 scripts and modules (classes, private
// fields, optional chaining, async/await, dynamic import), and never
// loads the source maps a bundle points to (that option is set). Its
// gaps are patched without moving a byte: for-await loops are parsed as
// for-of, import attributes are blanked, and a line ending in a keyword
// used as a property (x.default) gets the semicolon automatic semicolon
// insertion gives it. Async generator methods remain unsupported (a
// code.syntax-error; the rest of the file is still checked). Code that
// does not parse is a finding, never a crash: the parser recovers and
// what parses is checked.
//
// Constant expressions are folded before the rules look at them:
// concatenation, template literals, const variables, String.fromCharCode,
// atob, decodeURIComponent, split/reverse/join and the like, so
// window['ev'+'al'] is eval and fetch(base + '/x') has a destination.
// URLs that are only partly known become patterns (https://x.example/${…})
// and are matched as such. Constant code given to eval, a string timer
// or the Function constructor is scanned as JavaScript.
//
// Markup is tokenized by golang.org/x/net/html as browsers tokenize it: a
// "</script>" inside a script string ends the element, and what follows
// is markup, exactly as in the original's xss-injection fixture. SVG and
// MathML inside HTML follow the foreign-content rules (no raw text, so
// <svg><style><img onerror> is seen as the browser sees it). CSS is read
// by a small tokenizer that decodes escapes (\65 xpression).
//
// # Network destinations
//
// Every request, load and navigation is checked against the manifest:
// fetch, XMLHttpRequest.open, EventSource, WebSocket, Request,
// navigator.sendBeacon, import() and import ... from, importScripts,
// workers, window.open, location, src/href/action assignments and
// setAttribute, and in markup every URL attribute, srcset, ping, meta
// refresh, CSS url() and @import. An absolute URL must have an origin in
// allowed_origins, compared as scheme, host and port (userinfo and
// backslash tricks resolved as browsers do; never a prefix match). A
// path on the host (/...) used by fetch-like calls, and any /api/ path,
// must be declared (plugin files under /plugins/ excepted) in api_endpoints (exactly, or under an entry ending in
// /*; dot segments and percent-escapes resolved first). Requests to an
// allowed external origin also need network:http (network:websocket for
// WebSockets). A destination only partly known is undeclared when no
// allowed origin or endpoint can match it, and a medium net.dynamic-url
// otherwise: the CSP the host serves still confines it.
//
// # Rules
//
// Each rule has an id, a category (the violation type pluginhost
// stores), a default severity, what it finds and why it matters. With
// the default Config.BlockAt, high and critical findings block the
// install and medium and low ones install with warnings.
//
//   - code.eval (critical, code): eval or execScript, called or referenced (window.eval, an alias, a
//     string-built name; constant code passed to it is scanned too). Runs a string as code, which no
//     review can see.
//   - code.function-constructor (critical, code): Function(...) or new Function(...), or
//     x.constructor(...) with a string argument (not the constant Function('return this') bundlers
//     emit; constant code is scanned too). The Function constructor is eval under another name.
//   - code.string-timer (high, code): setTimeout, setInterval or setImmediate with a string as the
//     first argument. A string timer is evaluated like eval.
//   - code.document-write (high, code): document.write or document.writeln (constant markup written is
//     scanned too). Writes markup, and any script in it, into the page at run time.
//   - code.javascript-url (high, code): a javascript: or vbscript: URL in a link, frame, form,
//     location, window.open, setAttribute or CSS url(). Runs code through a URL, outside every script
//     check and the CSP.
//   - code.string-handler (high, code): an event handler set from a string: setAttribute('on...', ...)
//     or el.onclick = '...'. The string is compiled as code when the event fires.
//   - code.inline-handler (medium, code): an on* event-handler attribute in HTML or SVG (its code is
//     scanned as JavaScript too). Inline handlers do not run under the CSP plugins are served with;
//     they are the usual XSS vector.
//   - code.html-sink (medium, code): innerHTML, outerHTML, srcdoc, insertAdjacentHTML or
//     createContextualFragment given non-constant markup (constant markup is scanned instead). Markup
//     built from data is how injected script gets in; set textContent or build elements instead.
//   - code.dynamic-script (high, code): document.createElement('script'). Loads or runs script chosen
//     at run time, which the scan cannot see.
//   - code.obfuscated-access (high, code): a dangerous property reached with a computed name built
//     from strings: window['ev'+'al'], obj[`inner${'HTML'}`], a constant variable,
//     String.fromCharCode, atob, split/reverse/join. There is no honest reason to spell a dangerous
//     name in pieces; it is evasion of scanners.
//   - code.dynamic-global-access (medium, code): window, self, globalThis, document, top or parent
//     indexed with a name not known until run time. Window[name] can reach eval, fetch or anything
//     else; the scan cannot tell which.
//   - code.css-expression (high, code): CSS expression(), behavior: or -moz-binding:. Legacy ways to
//     run script from a style sheet.
//   - code.svg-script (high, code): a <script> element in an SVG image or inline <svg>. 3VG files are
//     often treated as images, yet run script when opened; keep code in .js files.
//   - code.svg-foreign-object (medium, code): an SVG <foreignObject>. Embeds HTML inside an image, a
//     common way to smuggle markup past filters.
//   - code.syntax-error (high, unverifiable): JavaScript that does not parse (the parts that parse are
//     still checked). Code that cannot be parsed cannot be verified; browsers may still run parts of
//     it.
//   - frame.escape (critical, frame): reaching into another window: top.*, parent.* or opener.* (other
//     than postMessage), frameElement. The plugin runs in a sandboxed iframe; touching the host page
//     or navigating it is an escape attempt.
//   - frame.reference (low, frame): top, parent or opener used as a value (frame detection such as
//     window.top !== window). Harmless alone, but plugins have no need to know about their embedding.
//   - frame.sandbox-override (critical, frame): a sandbox attribute or property granting
//     allow-same-origin with allow-scripts, allow-top-navigation* or allow-popups-to-escape-sandbox.
//     4aylorDash controls the sandbox; these tokens undo it.
//   - frame.embedded (high, sandbox): <iframe>, <frame>, <object>, <embed>, <applet>, <portal>, or
//     creating one with createElement. Nested browsing contexts and plugins escape the scan (their
//     content is loaded at run time).
//   - frame.document-domain (high, frame): an assignment to document.domain. Relaxes the same-origin
//     policy between frames.
//   - frame.window-open (high, frame): window.open. Popups open outside the plugin's sandboxed frame.
//   - frame.window-name (low, frame): an assignment to window.name. Window.name survives navigation
//     and is a known cross-origin channel.
//   - frame.meta-refresh (high, frame): <meta http-equiv=refresh>. Navigates the plugin frame without
//     script.
//   - exfil.postmessage-wildcard (high, exfiltration): postMessage(data, '*') or targetOrigin '*'.
//     Sends the data to whatever page holds the window, not only to TaylorDash.
//   - exfil.send-beacon (high, exfiltration): navigator.sendBeacon. A fire-and-forget request that
//     outlives the page, the classic exfiltration channel; call declared endpoints with fetch.
//   - exfil.cookie (high, exfiltration): document.cookie, read or written. Plugins have no cookies of
//     their own; this reads or plants the host's.
//   - exfil.storage-dump (high, exfiltration): localStorage, sessionStorage or indexedDB passed as a
//     whole: Object.assign({}, localStorage), JSON.stringify(sessionStorage), for-in, spread, an
//     alias. Copies every stored value, including other code's tokens.
//   - exfil.credential-read (high, exfiltration): reading password inputs (input[type=password],
//     getElementsByName('password')) or token-like keys from storage (getItem('token'),
//     'authorization', 'jwt', ...). Credential harvesting; plugins never handle the user's
//     credentials.
//   - exfil.input-listener (high, exfiltration): a key, input, clipboard or pointer-move listener on
//     window or document whose handler makes a network request. A keylogger or mouse tracker sending
//     what the user does.
//   - exfil.sensitive-api (high, exfiltration): clipboard reads, geolocation, camera or microphone,
//     credential management, window.ethereum. Personal data and wallets a dashboard widget has no
//     reason to touch.
//   - exfil.fingerprinting (low, exfiltration): navigator.userAgent, platform, hardwareConcurrency,
//     deviceMemory, connection, plugins; screen.*. Device fingerprinting; harmless alone, telling next
//     to network findings.
//   - exfil.hardcoded-secret (medium, exfiltration): a string constant that looks like a secret: a
//     password, key, secret or token name with a long value, or a known key format (sk-, ghp_, AKIA,
//     xox?-, private keys). Anything in a bundle is public; a secret in it is leaked, or the bundle
//     was built to impersonate someone.
//   - net.undeclared-origin (high, network): a request, script, style, image, frame, form or
//     navigation to an origin not in allowed_origins (scheme, host and port compared exactly; the
//     static part of template literals and concatenations is resolved). The manifest's allowed_origins
//     is the complete list of places a plugin may reach.
//   - net.dynamic-url (medium, network): a fetch, XMLHttpRequest, WebSocket, EventSource, beacon,
//     import, worker or navigation whose destination is not known before run time. The scan cannot
//     tell where it goes; the served CSP still confines it to allowed_origins.
//   - net.external-link (low, network): a link (<a href>) to an origin not in allowed_origins.
//     Following it leaves the dashboard; fine for documentation links, suspicious for look-alike
//     pages.
//   - net.script-integrity (low, network): an external <script src> without an integrity attribute.
//     The allowed origin can change the script after the scan; Subresource Integrity pins it.
//   - net.peer-connection (high, network): RTCPeerConnection. 7ebRTC data channels and ICE candidates
//     reach hosts that connect-src cannot restrict.
//   - net.base-tag (high, network): a <base> element. Rewrites every relative URL of the page,
//     including API calls.
//   - api.undeclared-endpoint (high, api): a call to a host path (/api/... or any absolute path, or a
//     relative path climbing out of the bundle) not declared in api_endpoints. Plugins may call only
//     the API endpoints their manifest declares.
//   - perm.network (high, permission): fetch, XMLHttpRequest, EventSource or a beacon to an allowed
//     external origin without network:http; a WebSocket without network:websocket. Allowed_origins
//     says where, the permission says that the plugin may talk to the network at all.
//   - perm.storage (low, permission): localStorage, sessionStorage or indexedDB without storage:local.
//     The manifest must say the plugin keeps data; in the host's opaque-origin sandbox storage is
//     unavailable anyway.
//   - res.worker (high, resource): new Worker, new SharedWorker, navigator.serviceWorker.register.
//     Background threads run code out of sight (mining, polling) and outlive user interaction.
//   - res.webassembly (high, resource): WebAssembly.instantiate, instantiateStreaming, compile,
//     compileStreaming, Module or Instance. Compiled code the scanner cannot read; UI plugins have no
//     need for it (wasm plugins run on the host's runtime).
//   - file.too-large (high, resource): a file larger than Config.MaxFileBytes (not scanned). An
//     unscanned file cannot be verified.
//   - file.bundle-too-large (high, resource): a bundle larger than Config.MaxBytes (the rest is not
//     scanned). An unscanned file cannot be verified.
//   - file.too-many-files (high, resource): more than Config.MaxFiles files (the rest is not scanned).
//     An unscanned file cannot be verified.
//   - file.symlink (high, sandbox): a symbolic link in the bundle (never followed). A link can point
//     outside the bundle and serve the host's files.
//
// A finding is kept once per rule, line and message (a minified line
// repeating one problem gives one finding); findings are sorted by file,
// line, column and rule. [Rules] returns this table.
//
// # Limits
//
// Config bounds the size of a file (5 MiB), of the bundle (50 MiB), the
// number of files (2000) and of findings kept (1000); what is past a
// limit is a finding, not an error. Symbolic links are reported and never
// followed; ScanDir opens the bundle as an [os.Root], so nothing outside
// it is read.
//
// # What a static scan cannot do
//
// It cannot see code fetched or assembled at run time beyond constant
// folding, nor follow values through calls (a global passed to a named
// function, fetch.bind(window), Reflect.get), so it is one layer of two: pluginhost serves UI plugins in an
// iframe sandboxed to allow-scripts (an opaque origin: no cookies, no
// storage, no top navigation, no popups) under a Content-Security-Policy
// derived from the manifest
// ([github.com/taylordash/taylordash/pluginhost.AssetCSP]): scripts from
// the bundle, its allowed origins and inline scripts by hash (so inline
// handlers never run), connections to allowed origins and the API only.
package scanner
