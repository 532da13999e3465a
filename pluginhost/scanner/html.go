package scanner

import (
	"encoding/json"
	"maps"
	"path"
	"slices"
	"strings"

	"golang.org/x/net/html"
)

var (
	// frameElements create nested browsing contexts or plugin content.
	frameElements = setOf("iframe", "frame", "frameset", "object", "embed", "applet", "portal", "fencedframe")
	// urlAttributes hold URLs the browser loads or follows.
	urlAttributes = setOf("src", "href", "xlink:href", "action", "formaction", "data", "poster", "codebase",
		"archive", "code", "background", "lowsrc", "dynsrc", "manifest")
	voidElements = setOf("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
		"source", "track", "wbr")
	// breakoutElements end foreign (SVG, MathML) content in HTML.
	breakoutElements = setOf("b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt",
		"em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu",
		"meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup",
		"table", "tt", "u", "ul", "var")
	jsTypes = setOf("", "text/javascript", "application/javascript", "module", "text/ecmascript",
		"application/ecmascript", "application/x-javascript", "text/x-javascript", "text/jscript",
		"text/livescript", "application/x-ecmascript", "text/x-ecmascript", "text/javascript1.0",
		"text/javascript1.1", "text/javascript1.2", "text/javascript1.3", "text/javascript1.4", "text/javascript1.5")
	templateTypes = setOf("text/html", "text/template", "text/x-template", "text/ng-template",
		"text/x-handlebars-template", "text/x-handlebars", "text/x-jsrender", "text/x-kendo-template")
)

// sandboxProblem says why sandbox tokens undo the sandbox, or "".
func sandboxProblem(tokens string) string {
	set := strings.Fields(strings.ToLower(tokens))
	has := func(t string) bool {
		for _, s := range set {
			if s == t {
				return true
			}
		}
		return false
	}
	switch {
	case has("allow-scripts") && has("allow-same-origin"):
		return "allow-scripts with allow-same-origin lets the framed page remove its own sandbox"
	case has("allow-top-navigation") || has("allow-top-navigation-by-user-activation") || has("allow-top-navigation-to-custom-protocols"):
		return "lets the framed page navigate the host page"
	case has("allow-popups-to-escape-sandbox"):
		return "opens popups without the sandbox"
	}
	return ""
}

// scanMarkupFragment scans markup found in a string or an attribute.
func (f *fileScan) scanMarkupFragment(s string, om offMap) {
	if f.depth >= maxDepth || !strings.ContainsAny(s, "<&") {
		return
	}
	f.depth++
	f.scanMarkup(s, om, false)
	f.depth--
}

// scanMarkup scans HTML, or with xml an XML dialect (SVG, XHTML): no
// raw-text elements, CDATA sections allowed.
func (f *fileScan) scanMarkup(src string, om offMap, xml bool) {
	m := &markupScan{f: f, src: src, om: om, xml: xml,
		svgFile: xml && strings.EqualFold(path.Ext(f.path), ".svg") && f.depth == 0}
	z := html.NewTokenizer(strings.NewReader(src))
	z.AllowCDATA(xml)
	m.run(z)
}

type markupScan struct {
	f       *fileScan
	src     string
	om      offMap
	xml     bool
	svgFile bool

	off   int       // offset in src of the current token
	stack []element // open elements since an <svg> or <math> (HTML only)

	// An element whose content is code: its text tokens, until its end
	// tag.
	collecting string // "script", "style", "" when not collecting
	collected  []piece
	script     scriptInfo
}

type element struct {
	name    string
	foreign bool
}

type piece struct {
	text  string
	off   int // offset in src
	exact bool
}

// scriptInfo is how a <script> element's content is scanned.
type scriptInfo struct {
	run       bool // executable JavaScript
	module    bool // type=module
	template  bool // markup in a <script type=text/template>
	importMap bool // type=importmap
}

// foreign reports whether the tokenizer is in foreign content, where
// no element's text is raw.
func (m *markupScan) foreign() bool {
	return m.xml || len(m.stack) > 0 && m.stack[len(m.stack)-1].foreign
}

func (m *markupScan) inSVG() bool {
	if m.svgFile {
		return true
	}
	for _, e := range m.stack {
		if e.name == "svg" {
			return true
		}
	}
	return false
}

func (m *markupScan) run(z *html.Tokenizer) {
	for {
		tt := z.Next()
		start := m.off
		m.off = min(len(m.src), m.off+len(z.Raw()))
		raw := m.src[start:m.off] // the token's bytes, before TagName or Text rewrite them
		switch tt {
		case html.ErrorToken:
			m.flush()
			return
		case html.TextToken:
			if m.collecting != "" {
				if strings.HasPrefix(raw, "<![CDATA[") && strings.HasSuffix(raw, "]]>") {
					m.collected = append(m.collected, piece{raw[9 : len(raw)-3], start + 9, true})
				} else {
					text := string(z.Text())
					if m.foreign() {
						m.collected = append(m.collected, piece{text, start, text == raw})
					} else {
						m.collected = append(m.collected, piece{raw, start, true})
					}
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			m.flush()
			name, _ := z.TagName()
			m.startTag(z, string(name), raw, start, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			m.endTag(string(name))
		default:
			m.flush()
		}
	}
}

func (m *markupScan) startTag(z *html.Tokenizer, name, raw string, start int, selfClosing bool) {
	foreign := m.foreign()
	switch {
	case m.xml:
	case !foreign && (name == "svg" || name == "math"):
		if !selfClosing {
			m.stack = append(m.stack, element{name, true})
		}
	case foreign && breakoutElements[name]:
		m.stack = nil
	case foreign && !selfClosing:
		integration := name == "foreignobject" || name == "desc" || name == "title"
		m.stack = append(m.stack, element{name, !integration})
	case len(m.stack) > 0 && !selfClosing && !voidElements[name]:
		m.stack = append(m.stack, element{name, false})
	}
	if m.foreign() || foreign {
		z.NextIsNotRawText()
	}
	m.element(name, parseAttrs(raw), start, selfClosing, foreign)
}

func (m *markupScan) endTag(name string) {
	if m.collecting == name {
		m.flush()
	}
	for i := len(m.stack) - 1; i >= 0; i-- {
		if m.stack[i].name == name {
			m.stack = m.stack[:i]
			break
		}
	}
}

// flush scans the collected content of a script or style element.
func (m *markupScan) flush() {
	kind := m.collecting
	if kind == "" {
		return
	}
	m.collecting = ""
	pieces := m.collected
	m.collected = nil
	var sb strings.Builder
	om := make(offMap, 0, len(pieces))
	for _, p := range pieces {
		om = append(om, segment{code: sb.Len(), file: m.om.at(p.off), exact: p.exact && m.exact()})
		sb.WriteString(p.text)
	}
	code := sb.String()
	if strings.TrimSpace(code) == "" {
		return
	}
	f := m.f
	switch {
	case kind == "style":
		f.scanCSS(code, om)
	case m.script.run:
		f.scanJS(code, om, m.script.module, false)
	case m.script.template:
		f.scanMarkupFragment(code, om)
	case m.script.importMap:
		m.importMap(code, om.at(0))
	}
}

// exact reports whether m's offsets map exactly to the file.
func (m *markupScan) exact() bool { return len(m.om) == 1 && m.om[0].exact }

// at maps an offset in src to the file.
func (m *markupScan) at(off int) int { return m.om.at(off) }

type attr struct {
	name, value string
	nameOff     int // offsets in the raw tag
	valOff      int
	exact       bool // the value was not unescaped
}

// parseAttrs splits the attributes of a raw start tag as the HTML
// tokenizer does, keeping their offsets. Names are lower-cased and
// values unescaped.
func parseAttrs(raw string) []attr {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
	i := 1
	for i < len(raw) && !isSpace(raw[i]) && raw[i] != '/' && raw[i] != '>' {
		i++
	}
	var out []attr
	for i < len(raw) {
		for i < len(raw) && (isSpace(raw[i]) || raw[i] == '/') {
			i++
		}
		if i >= len(raw) || raw[i] == '>' {
			break
		}
		a := attr{nameOff: i}
		i++
		for i < len(raw) && !isSpace(raw[i]) && raw[i] != '/' && raw[i] != '>' && raw[i] != '=' {
			i++
		}
		a.name = strings.ToLower(raw[a.nameOff:i])
		j := i
		for j < len(raw) && isSpace(raw[j]) {
			j++
		}
		rawVal := ""
		a.valOff = i
		if j < len(raw) && raw[j] == '=' {
			j++
			for j < len(raw) && isSpace(raw[j]) {
				j++
			}
			if j < len(raw) && (raw[j] == '"' || raw[j] == '\'') {
				q := raw[j]
				end := strings.IndexByte(raw[j+1:], q)
				if end < 0 {
					end = len(raw) - j - 1
				}
				a.valOff = j + 1
				rawVal = raw[j+1 : j+1+end]
				i = min(len(raw), j+2+end)
			} else {
				k := j
				for k < len(raw) && !isSpace(raw[k]) && raw[k] != '>' {
					k++
				}
				a.valOff = j
				rawVal = raw[j:k]
				i = k
			}
		}
		a.value = rawVal
		a.exact = true
		if strings.ContainsRune(rawVal, '&') {
			a.value = html.UnescapeString(rawVal)
			a.exact = a.value == rawVal
		}
		out = append(out, a)
	}
	return out
}

// element applies the rules about one start tag.
func (m *markupScan) element(name string, attrs []attr, start int, selfClosing, foreign bool) {
	f := m.f
	tagAt := m.at(start)
	get := func(n string) (attr, bool) {
		for _, a := range attrs {
			if a.name == n {
				return a, true
			}
		}
		return attr{}, false
	}
	valAt := func(a attr) int { return m.at(start + a.valOff) }
	valMap := func(a attr) offMap {
		return offMap{{code: 0, file: valAt(a), exact: a.exact && m.exact()}}
	}
	tag := "<" + name + ">"

	switch {
	case name == "script":
		src, hasSrc := get("src")
		if !hasSrc {
			src, hasSrc = get("href") // SVG
			if !hasSrc {
				src, hasSrc = get("xlink:href")
			}
		}
		if m.inSVG() {
			f.report(ruleSVGScript, tagAt, "a <script> in SVG; keep code in .js files")
		}
		if hasSrc {
			if _, ok := get("integrity"); !ok && isAbsoluteWeb(src.value) {
				f.report(ruleScriptIntegrity, tagAt, "an external script without integrity; the origin can change it after the scan")
			}
		}
		typ, _ := get("type")
		t := strings.ToLower(strings.TrimSpace(typ.value))
		if i := strings.IndexByte(t, ';'); i >= 0 {
			t = strings.TrimSpace(t[:i])
		}
		m.script = scriptInfo{run: jsTypes[t] && !hasSrc, module: t == "module", template: templateTypes[t], importMap: t == "importmap"}
		if !selfClosing || !foreign {
			m.collecting = "script"
		}
	case name == "style":
		if !selfClosing || !foreign {
			m.collecting = "style"
		}
	case frameElements[name]:
		f.report(ruleEmbeddedFrame, tagAt, tag+" embeds content loaded at run time")
		if a, ok := get("sandbox"); ok {
			if why := sandboxProblem(a.value); why != "" {
				f.report(ruleSandboxOverride, m.at(start+a.nameOff), "sandbox=\""+a.value+"\": "+why)
			}
		}
		if a, ok := get("srcdoc"); ok {
			f.scanMarkupFragment(a.value, valMap(a))
		}
	case name == "base":
		f.report(ruleBaseTag, tagAt, "<base> changes where every relative URL of the page points")
	case name == "meta":
		if a, ok := get("http-equiv"); ok && strings.EqualFold(strings.TrimSpace(a.value), "refresh") {
			f.report(ruleMetaRefresh, tagAt, "<meta http-equiv=refresh> navigates the frame")
			if c, ok := get("content"); ok {
				if u := refreshURL(c.value); u != "" {
					f.checkURL(sinkNavigate, "<meta refresh>", u, valAt(c))
				}
			}
		}
	case name == "foreignobject":
		f.report(ruleSVGForeignObject, tagAt, "<foreignObject> embeds HTML in SVG")
	case name == "animate" || name == "set" || name == "animatetransform" || name == "animatemotion":
		if a, ok := get("attributename"); ok && (strings.EqualFold(a.value, "href") || strings.EqualFold(a.value, "xlink:href")) {
			for _, n := range []string{"to", "from", "values", "by"} {
				if v, ok := get(n); ok {
					for _, u := range strings.Split(v.value, ";") {
						f.checkURL(sinkLink, "<"+name+"> of href", u, valAt(v))
					}
				}
			}
		}
	}

	rel := ""
	if a, ok := get("rel"); ok {
		rel = strings.ToLower(a.value)
	}
	for _, a := range attrs {
		switch {
		case strings.HasPrefix(a.name, "on") && len(a.name) > 2:
			f.report(ruleInlineHandler, m.at(start+a.nameOff), a.name+" handler attribute on "+tag+"; it does not run under the plugin CSP")
			if f.depth < maxDepth {
				f.depth++
				f.scanJS(a.value, valMap(a), false, true)
				f.depth--
			}
		case a.name == "style":
			f.scanCSS(a.value, valMap(a))
		case a.name == "srcset" || a.name == "imagesrcset":
			for _, cand := range strings.Split(a.value, ",") {
				if fields := strings.Fields(cand); len(fields) > 0 {
					f.checkURL(sinkResource, tag+" "+a.name, fields[0], valAt(a))
				}
			}
		case a.name == "ping":
			for _, u := range strings.Fields(a.value) {
				f.checkURL(sinkBeacon, tag+" ping", u, valAt(a))
			}
		case a.name == "target" || a.name == "formtarget":
			if t := strings.ToLower(strings.TrimSpace(a.value)); t == "_top" || t == "_parent" {
				f.report(ruleFrameEscape, m.at(start+a.nameOff), a.name+"="+t+" navigates the host page")
			}
		case urlAttributes[a.name]:
			f.checkURL(urlKind(name, a.name, rel), tag+" "+a.name, a.value, valAt(a))
		}
	}
}

// urlKind is what a URL attribute is used for.
func urlKind(elem, attr, rel string) sinkKind {
	switch attr {
	case "action", "formaction":
		return sinkForm
	case "href", "xlink:href":
		switch elem {
		case "a", "area":
			return sinkLink
		case "script":
			return sinkScript
		case "link":
			for _, r := range strings.Fields(rel) {
				switch r {
				case "modulepreload", "import", "serviceworker":
					return sinkScript
				case "stylesheet", "preload", "prefetch", "icon", "manifest", "dns-prefetch", "preconnect", "prerender", "apple-touch-icon":
					return sinkResource
				}
			}
			return sinkLink
		case "use", "image", "feimage", "base", "pattern", "filter", "textpath", "mpath", "tref", "cursor":
			return sinkResource
		}
		return sinkLink
	case "src":
		if elem == "script" {
			return sinkScript
		}
	}
	return sinkResource
}

// refreshURL extracts the URL of a meta refresh content value.
func refreshURL(content string) string {
	_, rest, ok := strings.Cut(content, ";")
	if !ok {
		_, rest, ok = strings.Cut(content, ",")
		if !ok {
			return ""
		}
	}
	rest = strings.TrimSpace(rest)
	if len(rest) >= 4 && strings.EqualFold(rest[:3], "url") {
		rest = strings.TrimSpace(rest[3:])
		rest = strings.TrimSpace(strings.TrimPrefix(rest, "="))
	}
	return strings.Trim(rest, `'"`)
}

func isAbsoluteWeb(u string) bool {
	u = strings.ToLower(normalizeURL(u))
	return strings.HasPrefix(u, "http:") || strings.HasPrefix(u, "https:") || strings.HasPrefix(u, "//")
}

// importMap checks the URLs an import map maps modules to.
func (m *markupScan) importMap(code string, at int) {
	var v any
	if err := json.Unmarshal([]byte(code), &v); err != nil {
		return // browsers ignore an invalid import map
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			m.f.checkURL(sinkScript, "an import map entry", v, at)
		}
	}
	walk(v)
}
