package scanner

import "slices"

// Rule is one check of the scanner.
type Rule struct {
	// ID names the rule, "<area>.<name>".
	ID string `json:"id"`
	// Category groups it.
	Category Category `json:"category"`
	// Severity is its default severity (Config.Severities can change it).
	Severity Severity `json:"severity"`
	// What the rule finds.
	What string `json:"what"`
	// Why it matters.
	Why string `json:"why"`
}

// Rule ids.
const (
	ruleEval                = "code.eval"
	ruleFunctionConstructor = "code.function-constructor"
	ruleStringTimer         = "code.string-timer"
	ruleDocumentWrite       = "code.document-write"
	ruleJavascriptURL       = "code.javascript-url"
	ruleStringHandler       = "code.string-handler"
	ruleInlineHandler       = "code.inline-handler"
	ruleHTMLSink            = "code.html-sink"
	ruleDynamicScript       = "code.dynamic-script"
	ruleObfuscatedAccess    = "code.obfuscated-access"
	ruleDynamicGlobalAccess = "code.dynamic-global-access"
	ruleCSSExpression       = "code.css-expression"
	ruleSVGScript           = "code.svg-script"
	ruleSVGForeignObject    = "code.svg-foreign-object"
	ruleSyntaxError         = "code.syntax-error"

	ruleFrameEscape     = "frame.escape"
	ruleFrameReference  = "frame.reference"
	ruleSandboxOverride = "frame.sandbox-override"
	ruleEmbeddedFrame   = "frame.embedded"
	ruleDocumentDomain  = "frame.document-domain"
	ruleWindowOpen      = "frame.window-open"
	ruleWindowName      = "frame.window-name"
	ruleMetaRefresh     = "frame.meta-refresh"

	rulePostMessageWildcard = "exfil.postmessage-wildcard"
	ruleSendBeacon          = "exfil.send-beacon"
	ruleCookie              = "exfil.cookie"
	ruleStorageDump         = "exfil.storage-dump"
	ruleCredentialRead      = "exfil.credential-read"
	ruleInputListener       = "exfil.input-listener"
	ruleSensitiveAPI        = "exfil.sensitive-api"
	ruleFingerprinting      = "exfil.fingerprinting"
	ruleHardcodedSecret     = "exfil.hardcoded-secret"

	ruleUndeclaredOrigin = "net.undeclared-origin"
	ruleDynamicURL       = "net.dynamic-url"
	ruleExternalLink     = "net.external-link"
	ruleScriptIntegrity  = "net.script-integrity"
	rulePeerConnection   = "net.peer-connection"
	ruleBaseTag          = "net.base-tag"

	ruleUndeclaredEndpoint = "api.undeclared-endpoint"

	rulePermNetwork = "perm.network"
	rulePermStorage = "perm.storage"

	ruleWorker      = "res.worker"
	ruleWebAssembly = "res.webassembly"

	ruleFileTooLarge   = "file.too-large"
	ruleBundleTooLarge = "file.bundle-too-large"
	ruleTooManyFiles   = "file.too-many-files"
	ruleSymlink        = "file.symlink"
)

// ruleTable is every rule, in the order of the package documentation.
var ruleTable = []Rule{
	{ruleEval, CategoryCode, SeverityCritical,
		"eval or execScript, called or referenced (window.eval, an alias, a string-built name; constant code passed to it is scanned too)",
		"runs a string as code, which no review can see"},
	{ruleFunctionConstructor, CategoryCode, SeverityCritical,
		"Function(...) or new Function(...), or x.constructor(...) with a string argument (not the constant Function('return this') bundlers emit; constant code is scanned too)",
		"the Function constructor is eval under another name"},
	{ruleStringTimer, CategoryCode, SeverityHigh,
		"setTimeout, setInterval or setImmediate with a string as the first argument",
		"a string timer is evaluated like eval"},
	{ruleDocumentWrite, CategoryCode, SeverityHigh,
		"document.write or document.writeln (constant markup written is scanned too)",
		"writes markup, and any script in it, into the page at run time"},
	{ruleJavascriptURL, CategoryCode, SeverityHigh,
		"a javascript: or vbscript: URL in a link, frame, form, location, window.open, setAttribute or CSS url()",
		"runs code through a URL, outside every script check and the CSP"},
	{ruleStringHandler, CategoryCode, SeverityHigh,
		"an event handler set from a string: setAttribute('on...', ...) or el.onclick = '...'",
		"the string is compiled as code when the event fires"},
	{ruleInlineHandler, CategoryCode, SeverityMedium,
		"an on* event-handler attribute in HTML or SVG (its code is scanned as JavaScript too)",
		"inline handlers do not run under the CSP plugins are served with; they are the usual XSS vector"},
	{ruleHTMLSink, CategoryCode, SeverityMedium,
		"innerHTML, outerHTML, srcdoc, insertAdjacentHTML or createContextualFragment given non-constant markup (constant markup is scanned instead)",
		"markup built from data is how injected script gets in; set textContent or build elements instead"},
	{ruleDynamicScript, CategoryCode, SeverityHigh,
		"document.createElement('script')",
		"loads or runs script chosen at run time, which the scan cannot see"},
	{ruleObfuscatedAccess, CategoryCode, SeverityHigh,
		"a dangerous property reached with a computed name built from strings: window['ev'+'al'], obj[`inner${'HTML'}`], a constant variable, String.fromCharCode, atob, split/reverse/join",
		"there is no honest reason to spell a dangerous name in pieces; it is evasion of scanners"},
	{ruleDynamicGlobalAccess, CategoryCode, SeverityMedium,
		"window, self, globalThis, document, top or parent indexed with a name not known until run time",
		"window[name] can reach eval, fetch or anything else; the scan cannot tell which"},
	{ruleCSSExpression, CategoryCode, SeverityHigh,
		"CSS expression(), behavior: or -moz-binding:",
		"legacy ways to run script from a style sheet"},
	{ruleSVGScript, CategoryCode, SeverityHigh,
		"a <script> element in an SVG image or inline <svg>",
		"SVG files are often treated as images, yet run script when opened; keep code in .js files"},
	{ruleSVGForeignObject, CategoryCode, SeverityMedium,
		"an SVG <foreignObject>",
		"embeds HTML inside an image, a common way to smuggle markup past filters"},
	{ruleSyntaxError, CategoryUnverifiable, SeverityHigh,
		"JavaScript that does not parse (the parts that parse are still checked)",
		"code that cannot be parsed cannot be verified; browsers may still run parts of it"},

	{ruleFrameEscape, CategoryFrame, SeverityCritical,
		"reaching into another window: top.*, parent.* or opener.* (other than postMessage), frameElement",
		"the plugin runs in a sandboxed iframe; touching the host page or navigating it is an escape attempt"},
	{ruleFrameReference, CategoryFrame, SeverityLow,
		"top, parent or opener used as a value (frame detection such as window.top !== window)",
		"harmless alone, but plugins have no need to know about their embedding"},
	{ruleSandboxOverride, CategoryFrame, SeverityCritical,
		"a sandbox attribute or property granting allow-same-origin with allow-scripts, allow-top-navigation* or allow-popups-to-escape-sandbox",
		"TaylorDash controls the sandbox; these tokens undo it"},
	{ruleEmbeddedFrame, CategorySandbox, SeverityHigh,
		"<iframe>, <frame>, <object>, <embed>, <applet>, <portal>, or creating one with createElement",
		"nested browsing contexts and plugins escape the scan (their content is loaded at run time)"},
	{ruleDocumentDomain, CategoryFrame, SeverityHigh,
		"an assignment to document.domain",
		"relaxes the same-origin policy between frames"},
	{ruleWindowOpen, CategoryFrame, SeverityHigh,
		"window.open",
		"popups open outside the plugin's sandboxed frame"},
	{ruleWindowName, CategoryFrame, SeverityLow,
		"an assignment to window.name",
		"window.name survives navigation and is a known cross-origin channel"},
	{ruleMetaRefresh, CategoryFrame, SeverityHigh,
		"<meta http-equiv=refresh>",
		"navigates the plugin frame without script"},

	{rulePostMessageWildcard, CategoryExfiltration, SeverityHigh,
		"postMessage(data, '*') or targetOrigin '*'",
		"sends the data to whatever page holds the window, not only to TaylorDash"},
	{ruleSendBeacon, CategoryExfiltration, SeverityHigh,
		"navigator.sendBeacon",
		"a fire-and-forget request that outlives the page, the classic exfiltration channel; call declared endpoints with fetch"},
	{ruleCookie, CategoryExfiltration, SeverityHigh,
		"document.cookie, read or written",
		"plugins have no cookies of their own; this reads or plants the host's"},
	{ruleStorageDump, CategoryExfiltration, SeverityHigh,
		"localStorage, sessionStorage or indexedDB passed as a whole: Object.assign({}, localStorage), JSON.stringify(sessionStorage), for-in, spread, an alias",
		"copies every stored value, including other code's tokens"},
	{ruleCredentialRead, CategoryExfiltration, SeverityHigh,
		"reading password inputs (input[type=password], getElementsByName('password')) or token-like keys from storage (getItem('token'), 'authorization', 'jwt', ...)",
		"credential harvesting; plugins never handle the user's credentials"},
	{ruleInputListener, CategoryExfiltration, SeverityHigh,
		"a key, input, clipboard or pointer-move listener on window or document whose handler makes a network request",
		"a keylogger or mouse tracker sending what the user does"},
	{ruleSensitiveAPI, CategoryExfiltration, SeverityHigh,
		"clipboard reads, geolocation, camera or microphone, credential management, window.ethereum",
		"personal data and wallets a dashboard widget has no reason to touch"},
	{ruleFingerprinting, CategoryExfiltration, SeverityLow,
		"navigator.userAgent, platform, hardwareConcurrency, deviceMemory, connection, plugins; screen.*",
		"device fingerprinting; harmless alone, telling next to network findings"},
	{ruleHardcodedSecret, CategoryExfiltration, SeverityMedium,
		"a string constant that looks like a secret: a password, key, secret or token name with a long value, or a known key format (sk-, ghp_, AKIA, xox?-, private keys)",
		"anything in a bundle is public; a secret in it is leaked, or the bundle was built to impersonate someone"},

	{ruleUndeclaredOrigin, CategoryNetwork, SeverityHigh,
		"a request, script, style, image, frame, form or navigation to an origin not in allowed_origins (scheme, host and port compared exactly; the static part of template literals and concatenations is resolved)",
		"the manifest's allowed_origins is the complete list of places a plugin may reach"},
	{ruleDynamicURL, CategoryNetwork, SeverityMedium,
		"a fetch, XMLHttpRequest, WebSocket, EventSource, beacon, import, worker or navigation whose destination is not known before run time",
		"the scan cannot tell where it goes; the served CSP still confines it to allowed_origins"},
	{ruleExternalLink, CategoryNetwork, SeverityLow,
		"a link (<a href>) to an origin not in allowed_origins",
		"following it leaves the dashboard; fine for documentation links, suspicious for look-alike pages"},
	{ruleScriptIntegrity, CategoryNetwork, SeverityLow,
		"an external <script src> without an integrity attribute",
		"the allowed origin can change the script after the scan; Subresource Integrity pins it"},
	{rulePeerConnection, CategoryNetwork, SeverityHigh,
		"RTCPeerConnection",
		"WebRTC data channels and ICE candidates reach hosts that connect-src cannot restrict"},
	{ruleBaseTag, CategoryNetwork, SeverityHigh,
		"a <base> element",
		"rewrites every relative URL of the page, including API calls"},

	{ruleUndeclaredEndpoint, CategoryAPI, SeverityHigh,
		"a call to a host path (/api/... or any absolute path, or a relative path climbing out of the bundle) not declared in api_endpoints",
		"plugins may call only the API endpoints their manifest declares"},

	{rulePermNetwork, CategoryPermission, SeverityHigh,
		"fetch, XMLHttpRequest, EventSource or a beacon to an allowed external origin without network:http; a WebSocket without network:websocket",
		"allowed_origins says where, the permission says that the plugin may talk to the network at all"},
	{rulePermStorage, CategoryPermission, SeverityLow,
		"localStorage, sessionStorage or indexedDB without storage:local",
		"the manifest must say the plugin keeps data; in the host's opaque-origin sandbox storage is unavailable anyway"},

	{ruleWorker, CategoryResource, SeverityHigh,
		"new Worker, new SharedWorker, navigator.serviceWorker.register",
		"background threads run code out of sight (mining, polling) and outlive user interaction"},
	{ruleWebAssembly, CategoryResource, SeverityHigh,
		"WebAssembly.instantiate, instantiateStreaming, compile, compileStreaming, Module or Instance",
		"compiled code the scanner cannot read; UI plugins have no need for it (wasm plugins run on the host's runtime)"},

	{ruleFileTooLarge, CategoryResource, SeverityHigh,
		"a file larger than Config.MaxFileBytes (not scanned)",
		"an unscanned file cannot be verified"},
	{ruleBundleTooLarge, CategoryResource, SeverityHigh,
		"a bundle larger than Config.MaxBytes (the rest is not scanned)",
		"an unscanned file cannot be verified"},
	{ruleTooManyFiles, CategoryResource, SeverityHigh,
		"more than Config.MaxFiles files (the rest is not scanned)",
		"an unscanned file cannot be verified"},
	{ruleSymlink, CategorySandbox, SeverityHigh,
		"a symbolic link in the bundle (never followed)",
		"a link can point outside the bundle and serve the host's files"},
}

var rulesByID = func() map[string]*Rule {
	m := make(map[string]*Rule, len(ruleTable))
	for i := range ruleTable {
		m[ruleTable[i].ID] = &ruleTable[i]
	}
	return m
}()

// Rules returns every rule the scanner applies, in documentation order.
func Rules() []Rule { return slices.Clone(ruleTable) }
