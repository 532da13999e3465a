package scanner

import (
	"slices"
	"strings"

	"github.com/grafana/sobek/ast"
	"github.com/grafana/sobek/file"
	"github.com/grafana/sobek/token"
)

// checkRef applies the rules about what a global path is (eval, the
// parent window, document.cookie, storage, ...), whatever is done with
// it.
func (w *jsWalker) checkRef(p gpath, u use, idx file.Idx) {
	if p.n == 0 || p.long {
		return
	}
	before := len(w.f.b.rep.Findings) + w.f.b.rep.Dropped
	name := p.String()
	a := p.seg[0]
	switch p.n {
	case 1:
		switch a {
		case "eval", "execScript":
			w.report(ruleEval, idx, a+" runs a string as code")
		case "frameElement":
			w.report(ruleFrameEscape, idx, "frameElement is the host page's <iframe> element")
		case "top", "parent", "opener":
			if u != useObject {
				w.report(ruleFrameReference, idx, a+" refers to another window")
			}
		case "localStorage", "sessionStorage", "indexedDB":
			if u == useEscape {
				w.report(ruleStorageDump, idx, a+" is passed as a whole, copying every stored value")
			} else if !w.f.b.pol.has(PermStorageLocal) {
				w.report(rulePermStorage, idx, a+" without the storage:local permission")
			}
		case "open":
			w.report(ruleWindowOpen, idx, "window.open opens a window outside the plugin's sandboxed frame")
		case "ethereum":
			w.report(ruleSensitiveAPI, idx, "window.ethereum is a crypto wallet provider")
		case "RTCPeerConnection", "webkitRTCPeerConnection", "mozRTCPeerConnection":
			w.report(rulePeerConnection, idx, a+" opens connections that connect-src does not restrict")
		case "name":
			if u == useWrite {
				w.report(ruleWindowName, idx, "window.name is written; it survives navigation to other origins")
			}
		}
	case 2:
		b := p.seg[1]
		switch {
		case (a == "top" || a == "parent" || a == "opener") && b != "postMessage":
			w.report(ruleFrameEscape, idx, name+" reaches into another window")
		case a == "document" && b == "cookie":
			w.report(ruleCookie, idx, "document.cookie reads or writes the host's cookies")
		case a == "document" && b == "domain" && u == useWrite:
			w.report(ruleDocumentDomain, idx, "document.domain is set, relaxing the same-origin policy")
		case a == "document" && (b == "write" || b == "writeln"):
			w.report(ruleDocumentWrite, idx, name+" writes markup into the page at run time")
		case a == "navigator" && b == "sendBeacon":
			w.report(ruleSendBeacon, idx, "navigator.sendBeacon sends data that outlives the page")
		case a == "navigator" && (b == "geolocation" || b == "credentials"):
			w.report(ruleSensitiveAPI, idx, name+" reaches the user's "+map[string]string{"geolocation": "location", "credentials": "stored credentials"}[b])
		case a == "navigator" && fingerprintNames[b], a == "screen":
			w.report(ruleFingerprinting, idx, name+" identifies the device")
		case a == "WebAssembly" && wasmNames[b]:
			w.report(ruleWebAssembly, idx, name+" compiles code the scan cannot read")
		}
	case 3:
		b, c := p.seg[1], p.seg[2]
		switch {
		case a == "navigator" && b == "clipboard" && (c == "readText" || c == "read"):
			w.report(ruleSensitiveAPI, idx, name+" reads the user's clipboard")
		case a == "navigator" && b == "mediaDevices" && (c == "getUserMedia" || c == "getDisplayMedia" || c == "enumerateDevices"):
			w.report(ruleSensitiveAPI, idx, name+" reaches the camera, microphone or screen")
		case a == "navigator" && b == "serviceWorker" && c == "register":
			w.report(ruleWorker, idx, "a service worker runs in the background and intercepts requests")
		}
	}
	if p.obf && len(w.f.b.rep.Findings)+w.f.b.rep.Dropped > before {
		w.report(ruleObfuscatedAccess, idx, name+" is reached through a name built from strings")
	}
}

var (
	fingerprintNames = setOf("userAgent", "platform", "hardwareConcurrency", "deviceMemory", "connection",
		"plugins", "mimeTypes", "vendor", "oscpu", "getBattery", "webdriver", "appVersion", "userAgentData")
	wasmNames = setOf("instantiate", "instantiateStreaming", "compile", "compileStreaming", "Module", "Instance")
	// inputEvents are what a keylogger or tracker listens to.
	inputEvents = setOf("keydown", "keyup", "keypress", "input", "beforeinput", "paste", "copy", "cut",
		"mousemove", "pointermove", "touchmove")
	timers = setOf("setTimeout", "setInterval", "setImmediate")
)

// call walks a call and applies the rules about calls.
func (w *jsWalker) call(e *ast.CallExpression) {
	args := e.ArgumentList
	if _, ok := e.Callee.(*ast.DynamicImportExpression); ok {
		for _, a := range args {
			w.expr(a, useEscape)
		}
		if len(args) > 0 {
			w.f.checkURL(sinkScript, "import()", w.urlPattern(args[0]), w.at(e.Idx0()))
		}
		return
	}
	if w.iife(e) {
		return
	}
	cp := w.expr(e.Callee, useCallee)
	name, recv, isMember := w.memberName(e.Callee)
	if !isMember && cp.n == 1 {
		name = cp.seg[0]
	}

	// An input listener on window or document: walk its handler knowing
	// that a request there sends what the user types or does.
	listenArg := -1
	if name == "addEventListener" && len(args) >= 2 && (recv == nil || w.globalTarget(recv)) {
		if ev, ok := w.constString(args[0]); ok && inputEvents[ev] {
			listenArg = 1
			w.listen = append(w.listen, ev)
		}
	}
	for i, a := range args {
		w.expr(a, useEscape)
		if i == listenArg {
			w.listen = w.listen[:len(w.listen)-1]
		}
	}

	at := e.Idx0()
	arg := func(i int) ast.Expression {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	switch {
	case cp.n == 1 && timers[cp.seg[0]] && len(args) > 0 && w.stringish(args[0]):
		w.report(ruleStringTimer, at, cp.seg[0]+" with a string evaluates it as code")
		w.constantCode(args[0], false)
	case cp.is("eval") && len(args) > 0:
		w.constantCode(args[0], false)
	case cp.is("Function"):
		w.functionConstructor(args, at, "the Function constructor")
	case cp.is("document", "write"), cp.is("document", "writeln"):
		for _, a := range args {
			w.markupValue(a, cp.String())
		}
	case cp.is("fetch"):
		w.network(at, "fetch")
		w.url(sinkFetch, "fetch", arg(0), at)
	case cp.is("navigator", "sendBeacon"):
		w.network(at, "navigator.sendBeacon")
		w.url(sinkBeacon, "navigator.sendBeacon", arg(0), at)
	case cp.is("importScripts"):
		w.network(at, "importScripts")
		for _, a := range args {
			w.url(sinkScript, "importScripts", a, at)
		}
	case cp.is("open"):
		w.url(sinkNavigate, "window.open", arg(0), at)
	case cp.is("location", "assign"), cp.is("location", "replace"), cp.is("navigate"), cp.is("document", "location", "assign"), cp.is("document", "location", "replace"):
		w.url(sinkNavigate, cp.String(), arg(0), at)
	case cp.is("navigator", "serviceWorker", "register"):
		w.url(sinkScript, "a service worker", arg(0), at)
	}
	if !isMember && cp.n != 1 {
		return
	}
	switch name {
	case "postMessage":
		if len(args) >= 2 && w.wildcardOrigin(args[1]) {
			w.report(rulePostMessageWildcard, at, "postMessage to '*' sends the data to whatever page holds the window")
		}
	case "insertAdjacentHTML":
		w.markupValue(arg(1), "insertAdjacentHTML")
	case "setHTMLUnsafe", "createContextualFragment":
		w.markupValue(arg(0), name)
	case "setAttribute":
		w.setAttribute(arg(0), arg(1), at)
	case "setAttributeNS":
		w.setAttribute(arg(1), arg(2), at)
	case "createElement":
		w.createElement(arg(0), at)
	case "createElementNS":
		w.createElement(arg(1), at)
	case "constructor":
		if slices.ContainsFunc(args, w.stringish) {
			w.functionConstructor(args, at, "x.constructor(...) with a string, the Function constructor,")
		}
	case "open":
		// XMLHttpRequest: xhr.open(method, url).
		if m, ok := w.constString(arg(0)); ok && isHTTPMethod(m) && len(args) >= 2 {
			w.network(at, "XMLHttpRequest")
			w.url(sinkFetch, "XMLHttpRequest.open", args[1], at)
		}
	case "send":
		w.network(at, name)
	case "querySelector", "querySelectorAll", "closest", "matches", "getElementsByName":
		if sel, ok := w.constString(arg(0)); ok && isPasswordSelector(name, sel) {
			w.report(ruleCredentialRead, at, name+"('"+sel+"') finds password inputs")
		}
	case "getItem":
		if rp := w.resolve(recv); rp.is("localStorage") || rp.is("sessionStorage") {
			if key, ok := w.constString(arg(0)); ok && isCredentialKey(key) {
				w.report(ruleCredentialRead, at, rp.String()+".getItem('"+key+"') reads a credential")
			}
		}
	case "add", "toggle", "replace", "setValue":
		if n, _, ok := w.memberName(recv); ok && n == "sandbox" {
			for _, a := range args {
				w.sandboxValue(a, at)
			}
		}
	}
}

// newExpr walks a new expression and applies the rules about
// constructors.
func (w *jsWalker) newExpr(e *ast.NewExpression) {
	cp := w.expr(e.Callee, useCallee)
	for _, a := range e.ArgumentList {
		w.expr(a, useEscape)
	}
	var arg0 ast.Expression
	if len(e.ArgumentList) > 0 {
		arg0 = e.ArgumentList[0]
	}
	at := e.Idx0()
	switch {
	case cp.is("Function"):
		w.functionConstructor(e.ArgumentList, at, "the Function constructor")
	case cp.is("Worker"), cp.is("SharedWorker"):
		w.report(ruleWorker, at, "new "+cp.String()+" runs code in a background thread")
		w.url(sinkScript, "new "+cp.String(), arg0, at)
	case cp.is("WebSocket"):
		w.network(at, "WebSocket")
		w.url(sinkSocket, "new WebSocket", arg0, at)
	case cp.is("EventSource"):
		w.network(at, "EventSource")
		w.url(sinkFetch, "new EventSource", arg0, at)
	case cp.is("Request"):
		w.url(sinkFetch, "new Request", arg0, at)
	case cp.is("XMLHttpRequest"):
		w.network(at, "XMLHttpRequest")
	}
}

// assign walks an assignment and applies the rules about what is
// assigned where.
func (w *jsWalker) assign(e *ast.AssignExpression) {
	lp := w.expr(e.Left, useWrite)
	name, recv, isMember := w.memberName(e.Left)
	if !isMember {
		if id, ok := e.Left.(*ast.Identifier); ok {
			name = id.Name.String()
		}
	}
	listening := false
	if strings.HasPrefix(name, "on") && inputEvents[name[2:]] && (recv == nil && lp.n == 1 || recv != nil && w.globalTarget(recv)) {
		w.listen = append(w.listen, name[2:])
		listening = true
	}
	w.expr(e.Right, useEscape)
	if listening {
		w.listen = w.listen[:len(w.listen)-1]
	}
	if id, ok := e.Left.(*ast.Identifier); ok {
		w.secret(id.Name.String(), e.Right)
	}
	if e.Operator != token.ASSIGN && e.Operator != token.PLUS {
		return
	}
	at := e.Left.Idx0()
	switch {
	case lp.is("location"), lp.is("location", "href"), lp.is("document", "location"), lp.is("document", "location", "href"):
		w.url(sinkNavigate, lp.String(), e.Right, at)
		return
	case lp.n >= 2 && (lp.seg[0] == "top" || lp.seg[0] == "parent" || lp.seg[0] == "opener") && lp.seg[1] == "location":
		w.url(sinkNavigate, lp.String(), e.Right, at)
		return
	}
	if !isMember {
		return
	}
	switch name {
	case "innerHTML", "outerHTML", "srcdoc":
		w.markupValue(e.Right, name)
	case "src", "data", "poster", "codebase", "background":
		w.network(at, "."+name)
		w.url(sinkResource, "."+name, e.Right, at)
	case "href":
		w.url(sinkLink, ".href", e.Right, at)
	case "action", "formAction":
		if pat := w.urlPattern(e.Right); pat != "" && pat[0] != wild { // this.action = getAction() is no form
			w.f.checkURL(sinkForm, "."+name, pat, w.at(at))
		}
	case "sandbox":
		w.sandboxValue(e.Right, at)
	case "value":
		if n, _, ok := w.memberName(recv); ok && n == "sandbox" {
			w.sandboxValue(e.Right, at)
		}
	default:
		if strings.HasPrefix(name, "on") && len(name) > 2 && w.stringish(e.Right) {
			w.report(ruleStringHandler, at, "."+name+" set to a string, which is compiled as code")
		}
	}
}

// functionConstructor reports a Function constructor call, unless its
// code is the constant global-object idiom bundlers emit
// (Function("return this")()); constant code is scanned too.
func (w *jsWalker) functionConstructor(args []ast.Expression, idx file.Idx, what string) {
	if len(args) > 0 {
		if body, ok := w.constString(args[len(args)-1]); ok {
			switch strings.Join(strings.Fields(strings.TrimRight(strings.TrimSpace(body), ";")), " ") {
			case "return this", "regeneratorRuntime = r":
				return
			}
		}
	}
	w.report(ruleFunctionConstructor, idx, what+" compiles a string as code")
	if len(args) > 0 {
		w.constantCode(args[len(args)-1], true)
	}
}

// constantCode scans code passed as a constant string to eval, a timer
// or the Function constructor (as a function body when body is set).
func (w *jsWalker) constantCode(e ast.Expression, body bool) {
	code, ok := w.constString(e)
	if !ok || w.f.depth >= maxDepth {
		return
	}
	w.f.depth++
	w.f.scanJS(code, w.literalMap(e), false, body)
	w.f.depth--
}

// globalTarget reports whether e is window, document or the body.
func (w *jsWalker) globalTarget(e ast.Expression) bool {
	p := w.resolve(e)
	return p.is("window") || p.is("document") || p.is("document", "body") || p.is("document", "documentElement")
}

// network notes a request; inside an input listener it is exfiltration.
func (w *jsWalker) network(idx file.Idx, what string) {
	if len(w.listen) > 0 {
		w.report(ruleInputListener, idx, "a "+w.listen[len(w.listen)-1]+" listener on window or document sends a request ("+what+")")
	}
}

// url checks the destination e of a request, load or navigation.
func (w *jsWalker) url(kind sinkKind, what string, e ast.Expression, idx file.Idx) {
	if e == nil {
		return
	}
	w.f.checkURL(kind, what, w.urlPattern(e), w.at(idx))
}

// markupValue checks markup assigned or written: constant markup is
// scanned as HTML, markup built at run time is a finding (its constant
// parts are still scanned).
func (w *jsWalker) markupValue(e ast.Expression, what string) {
	if _, bad := e.(*ast.BadExpression); e == nil || bad {
		return
	}
	if s, ok := w.constString(e); ok {
		w.f.scanMarkupFragment(s, w.literalMap(e))
		return
	}
	w.report(ruleHTMLSink, e.Idx0(), what+" is given markup built at run time; use textContent or create elements")
	if pat := w.urlPattern(e); strings.ContainsRune(pat, '<') {
		w.f.scanMarkupFragment(strings.ReplaceAll(pat, string(wild), "x"), offMap{{code: 0, file: w.at(e.Idx0())}})
	}
}

func (w *jsWalker) setAttribute(nameExpr, value ast.Expression, idx file.Idx) {
	name, ok := w.constString(nameExpr)
	if !ok {
		return
	}
	name = strings.ToLower(strings.TrimSpace(name))
	switch {
	case strings.HasPrefix(name, "on"):
		w.report(ruleStringHandler, idx, "setAttribute('"+name+"', ...) sets a handler compiled from a string")
		if s, ok := w.constString(value); ok && w.f.depth < maxDepth {
			w.f.depth++
			w.f.scanJS(s, w.literalMap(value), false, true)
			w.f.depth--
		}
	case name == "sandbox":
		w.sandboxValue(value, idx)
	case name == "srcdoc":
		w.markupValue(value, "setAttribute('srcdoc')")
	case name == "href" || name == "xlink:href":
		w.url(sinkLink, "setAttribute('"+name+"')", value, idx)
	case name == "action" || name == "formaction":
		w.url(sinkForm, "setAttribute('"+name+"')", value, idx)
	case name == "ping":
		w.url(sinkBeacon, "setAttribute('ping')", value, idx)
	case urlAttributes[name]:
		w.url(sinkResource, "setAttribute('"+name+"')", value, idx)
	}
}

func (w *jsWalker) createElement(tagExpr ast.Expression, idx file.Idx) {
	tag, ok := w.constString(tagExpr)
	if !ok {
		return
	}
	switch tag = strings.ToLower(strings.TrimSpace(tag)); {
	case tag == "script":
		w.report(ruleDynamicScript, idx, "createElement('script') loads or runs script chosen at run time")
	case frameElements[tag]:
		w.report(ruleEmbeddedFrame, idx, "createElement('"+tag+"') creates a nested browsing context")
	}
}

// sandboxValue checks sandbox tokens set from script.
func (w *jsWalker) sandboxValue(e ast.Expression, idx file.Idx) {
	s, ok := w.constString(e)
	if !ok {
		w.report(ruleSandboxOverride, idx, "sandbox tokens set from a value the scan cannot read")
		return
	}
	if why := sandboxProblem(s); why != "" {
		w.report(ruleSandboxOverride, idx, "sandbox '"+s+"': "+why)
	}
}

// wildcardOrigin reports whether a postMessage target is '*', as a
// string or as {targetOrigin: '*'}.
func (w *jsWalker) wildcardOrigin(e ast.Expression) bool {
	if s, ok := w.constString(e); ok {
		return strings.TrimSpace(s) == "*"
	}
	if o, ok := e.(*ast.ObjectLiteral); ok {
		for _, p := range o.Value {
			if kv, ok := p.(*ast.PropertyKeyed); ok {
				if name, ok := propName(kv.Key); ok && name == "targetOrigin" {
					s, ok := w.constString(kv.Value)
					return ok && strings.TrimSpace(s) == "*"
				}
			}
		}
	}
	return false
}

func isHTTPMethod(m string) bool {
	switch strings.ToUpper(m) {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
		return true
	}
	return false
}

func isPasswordSelector(method, sel string) bool {
	s := strings.ToLower(strings.ReplaceAll(sel, " ", ""))
	if method == "getElementsByName" {
		return strings.Contains(s, "password") || strings.Contains(s, "passwd")
	}
	return strings.Contains(s, "type=password") || strings.Contains(s, `type="password"`) || strings.Contains(s, `type='password'`) ||
		strings.Contains(s, "[name*=pass") || strings.Contains(s, "autocomplete=current-password")
}

// isCredentialKey reports whether a storage key names a credential.
func isCredentialKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range []string{"token", "jwt", "auth", "session", "password", "passwd", "secret", "credential", "bearer", "apikey", "api_key", "api-key", "cookie"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// secret reports a string constant bound to a name that says it is a
// secret.
func (w *jsWalker) secret(name string, value ast.Expression) {
	lit, ok := value.(*ast.StringLiteral)
	if !ok {
		return
	}
	v := lit.Value.String()
	if keyFormat(v) != "" {
		return // reported as a known key format where the literal is
	}
	if kind := secretName(name); kind != "" && looksSecret(v, kind) {
		w.report(ruleHardcodedSecret, lit.Idx, name+" holds what looks like a hard-coded "+kind+"; anything in a bundle is public")
	}
}

var nameSeparators = strings.NewReplacer("_", "", "-", "")

// secretName classifies a variable or property name: "password",
// "secret" or "token"; "" for other names.
func secretName(name string) string {
	n := strings.ToLower(nameSeparators.Replace(name))
	for _, suffix := range []string{"url", "uri", "endpoint", "path", "header", "type", "field", "param", "label",
		"placeholder", "storagekey", "cachekey", "keyname", "name", "prefix", "pattern", "regex", "message", "msg",
		"text", "title", "length", "policy", "hint", "id", "selector", "event"} {
		if strings.HasSuffix(n, suffix) {
			return ""
		}
	}
	switch {
	case strings.Contains(n, "password") || strings.Contains(n, "passwd"):
		return "password"
	case strings.Contains(n, "secret") || strings.Contains(n, "apikey") || strings.Contains(n, "accesskey") || strings.Contains(n, "privatekey"):
		return "secret"
	case strings.Contains(n, "token"):
		return "token"
	}
	return ""
}

// looksSecret rejects values that are not secrets: short ones, words
// and dotted names, with spaces, URLs and paths.
func looksSecret(v, kind string) bool {
	minLen := map[string]int{"password": 8, "secret": 16, "token": 20}[kind]
	if len(v) < minLen || strings.ContainsAny(v, " \t\n/") || strings.Contains(v, "://") || strings.HasPrefix(v, "${") {
		return false
	}
	if keyFormat(v) != "" || strings.HasPrefix(v, "eyJ") {
		return true
	}
	if strings.Contains(v, ".") {
		return false // a dotted name such as variable.other.source
	}
	digits := strings.ContainsAny(v, "0123456789")
	upper := strings.ToLower(v) != v
	lower := strings.ToUpper(v) != v
	return digits || len(v) >= 24 && upper && lower
}

// keyFormat names a well-known credential format v has, or "".
func keyFormat(v string) string {
	tail := func(prefix string, n int) bool {
		if !strings.HasPrefix(v, prefix) || len(v)-len(prefix) < n {
			return false
		}
		for _, c := range v[len(prefix):] {
			if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return false
			}
		}
		return true
	}
	switch {
	case tail("sk-", 20), tail("sk_live_", 16), tail("rk_live_", 16):
		return "an API secret key"
	case tail("ghp_", 20), tail("gho_", 20), tail("ghu_", 20), tail("ghs_", 20), tail("github_pat_", 20):
		return "a GitHub token"
	case tail("AKIA", 16) && len(v) == 20:
		return "an AWS access key"
	case tail("xoxb-", 10), tail("xoxp-", 10), tail("xoxa-", 10), tail("xoxs-", 10):
		return "a Slack token"
	case tail("AIza", 35) && len(v) == 39:
		return "a Google API key"
	case strings.Contains(v, "-----BEGIN") && strings.Contains(v, "PRIVATE KEY-----"):
		return "a private key"
	}
	return ""
}
