package scanner

import (
	"encoding/base64"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// A URL pattern is a URL whose parts unknown before run time (template
// expressions, variables) are each one wild byte: "https://x.example/" +
// id becomes "https://x.example/\x00".
const wild = '\x00'

// sinkKind is what a URL is used for; it decides which checks apply.
type sinkKind uint8

const (
	sinkFetch    sinkKind = iota // fetch, XMLHttpRequest, EventSource, Request
	sinkBeacon                   // navigator.sendBeacon, <a ping>
	sinkSocket                   // WebSocket
	sinkForm                     // <form action>, formaction
	sinkScript                   // <script src>, import, importScripts, workers
	sinkResource                 // images, styles, media, fonts, frames
	sinkNavigate                 // location, window.open, meta refresh
	sinkLink                     // <a href>, <area href>
)

// network kinds send data: every host path they use must be declared.
func (k sinkKind) network() bool {
	return k == sinkFetch || k == sinkBeacon || k == sinkSocket || k == sinkForm
}

// dynamicMatters: an unknown destination is worth a finding.
func (k sinkKind) dynamicMatters() bool { return k != sinkResource && k != sinkLink }

// checkURL applies the origin, endpoint and scheme rules to a URL
// pattern used as kind. what names the use in messages ("fetch",
// "<img src>"). off is the file offset to report at.
func (f *fileScan) checkURL(kind sinkKind, what, pat string, off int) {
	pat = normalizeURL(pat)
	if pat == "" || pat[0] == '#' {
		return
	}
	if pat[0] == wild {
		if kind.dynamicMatters() {
			f.report(ruleDynamicURL, off, what+" to a URL computed at run time; the scan cannot tell where it goes")
		}
		return
	}
	static, _, _ := strings.Cut(pat, string(wild))
	if scheme, rest, ok := splitScheme(static, pat); ok {
		switch scheme {
		case "javascript", "vbscript":
			f.report(ruleJavascriptURL, off, what+" with a "+scheme+": URL runs code")
			return
		case "http", "https", "ws", "wss":
			f.checkAbsolute(kind, what, scheme, strings.TrimLeft(rest, `/\`), off)
			return
		case "file", "ftp":
			f.report(ruleUndeclaredOrigin, off, what+" to a "+scheme+": URL, which no manifest can allow")
		case "data":
			f.scanDataURL(rest, off)
		}
		// data:, blob:, about:, mailto:, tel: and other schemes reach no
		// server of their own.
		return
	}
	if strings.HasPrefix(pat, "//") || strings.HasPrefix(pat, `\\`) || strings.HasPrefix(pat, `/\`) {
		f.checkAbsolute(kind, what, "https", strings.TrimLeft(pat, `/\`), off)
		return
	}
	if pat[0] == '/' || pat[0] == '\\' {
		f.checkHostPath(kind, what, pat, off, "")
		return
	}
	// A relative URL: within the bundle unless it climbs out of it.
	p, _, _ := strings.Cut(pat, "?")
	p, _, _ = strings.Cut(p, "#")
	if kind == sinkResource || kind == sinkLink || !strings.Contains(p, "..") {
		return
	}
	static, _, _ = strings.Cut(p, string(wild))
	joined := path.Join("/", f.dir, strings.ReplaceAll(static, `\`, "/"))
	if climbs(f.dir, static) {
		f.checkHostPath(kind, what, joined+strings.TrimPrefix(pat, static), off, " (a relative path that leaves the bundle)")
	}
}

// checkAbsolute checks a URL of a web scheme whose authority starts rest.
func (f *fileScan) checkAbsolute(kind sinkKind, what, scheme, rest string, off int) {
	end := strings.IndexAny(rest, `/?#\`)
	authority := rest
	if end >= 0 {
		authority = rest[:end]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 && !strings.ContainsRune(authority[at:], wild) {
		authority = authority[at+1:]
	}
	if strings.ContainsRune(authority, wild) || end < 0 && strings.ContainsRune(rest, wild) {
		// The host is built at run time: can it be an allowed origin?
		hostPat := strings.ToLower(authority)
		if end < 0 {
			hostPat = strings.ToLower(rest)
		}
		for _, o := range f.b.pol.origins {
			if o.scheme != scheme {
				continue
			}
			if globMatch(hostPat, o.host) || globMatch(hostPat, o.host+":"+strconv.Itoa(o.port)) {
				if kind.dynamicMatters() {
					f.report(ruleDynamicURL, off, what+" to "+showPattern(scheme+"://"+hostPat)+", a host computed at run time")
				}
				return
			}
		}
		f.report(ruleUndeclaredOrigin, off, what+" to "+showPattern(scheme+"://"+hostPat)+": a host computed at run time that cannot be one of allowed_origins")
		return
	}
	o, ok := parseOrigin(scheme, authority)
	if !ok {
		f.report(ruleUndeclaredOrigin, off, what+" to "+scheme+"://"+authority+", an unparseable origin")
		return
	}
	if !f.b.pol.allowsOrigin(o) {
		if kind == sinkLink {
			f.report(ruleExternalLink, off, what+" to "+o.String()+", which is not in allowed_origins")
		} else {
			f.report(ruleUndeclaredOrigin, off, what+" to "+o.String()+", which is not in allowed_origins")
		}
		return
	}
	switch {
	case kind == sinkSocket && !f.b.pol.has(PermNetworkWebSocket):
		f.report(rulePermNetwork, off, what+" to "+o.String()+" without the network:websocket permission")
	case kind.network() && kind != sinkSocket && !f.b.pol.has(PermNetworkHTTP):
		f.report(rulePermNetwork, off, what+" to "+o.String()+" without the network:http permission")
	}
}

// checkHostPath checks a path on the host's origin (starting with /).
func (f *fileScan) checkHostPath(kind sinkKind, what, pat string, off int, why string) {
	p := strings.ReplaceAll(pat, `\`, "/")
	if i := strings.IndexAny(p, "?#"); i >= 0 && !strings.ContainsRune(p[:i], wild) {
		p = p[:i]
	}
	if dec, err := url.PathUnescape(p); err == nil {
		p = dec // the server routes the decoded path
	}
	if strings.HasPrefix(p, "/plugins/") && !strings.Contains(p, "..") {
		return // plugin files, public (pluginhost.AssetsPattern)
	}
	if !kind.network() && !strings.HasPrefix(strings.ToLower(p), "/api/") {
		return // a static file of the host
	}
	static, _, dynamic := strings.Cut(p, string(wild))
	if !dynamic {
		clean := cleanPath(p)
		if !f.b.pol.allowsPath(clean) {
			f.report(ruleUndeclaredEndpoint, off, what+" to "+clean+why+", which is not in api_endpoints")
		}
		return
	}
	// Dynamic tail: covered if the static part is inside a declared
	// subtree, possible if some declared path matches the pattern.
	for _, e := range f.b.pol.endpoints {
		if e.subtree && strings.HasPrefix(static, e.path+"/") && !strings.Contains(static, "..") {
			return
		}
	}
	for _, e := range f.b.pol.endpoints {
		if globMatch(p, e.path) || globMatch(p, e.path+"/") || e.subtree && globMatch(p, e.path+"/x") {
			if kind.dynamicMatters() {
				f.report(ruleDynamicURL, off, what+" to "+showPattern(p)+", a path computed at run time"+why)
			}
			return
		}
	}
	f.report(ruleUndeclaredEndpoint, off, what+" to "+showPattern(p)+why+", which matches nothing in api_endpoints")
}

// normalizeURL strips what browsers strip: leading and trailing C0
// controls and spaces, and tabs and newlines anywhere.
func normalizeURL(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' && r != wild })
	if strings.ContainsAny(s, "\t\n\r") {
		s = urlWhitespace.Replace(s)
	}
	return s
}

var urlWhitespace = strings.NewReplacer("\t", "", "\n", "", "\r", "")

// splitScheme finds a URL scheme in the static prefix of pat.
func splitScheme(static, pat string) (scheme, rest string, ok bool) {
	colon := strings.IndexByte(static, ':')
	if colon < 1 {
		return "", "", false
	}
	for i := 0; i < colon; i++ {
		c := static[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(static[:colon]), pat[colon+1:], true
}

// climbs reports whether a relative path, resolved in dir, leaves the
// bundle root.
func climbs(dir, rel string) bool {
	depth := 0
	if dir != "." && dir != "" {
		depth = strings.Count(dir, "/") + 1
	}
	for _, seg := range strings.Split(strings.ReplaceAll(rel, `\`, "/"), "/") {
		switch seg {
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		case ".", "":
		default:
			depth++
		}
	}
	return false
}

// cleanPath resolves dot segments as a browser does, keeping a trailing
// slash.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// globMatch matches s against pat, where each wild byte matches any
// run of bytes.
func globMatch(pat, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pat) || sx < len(s) {
		if px < len(pat) {
			if c := pat[px]; c == wild {
				nextPx, nextSx = px, sx+1
				px++
				continue
			} else if sx < len(s) && s[sx] == c {
				px++
				sx++
				continue
			}
		}
		if nextPx >= 0 && nextSx <= len(s) {
			px, sx = nextPx+1, nextSx
			nextSx++
			continue
		}
		return false
	}
	return true
}

// showPattern renders a pattern for a message, wild parts as ${…}.
func showPattern(p string) string { return strings.ReplaceAll(p, string(wild), "${…}") }

// scanDataURL scans the content of a data: URL (rest follows "data:")
// that a browser would run: markup, script or style. Findings are
// reported at the URL.
func (f *fileScan) scanDataURL(rest string, off int) {
	if f.depth >= maxDepth || strings.ContainsRune(rest, wild) {
		return
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return
	}
	params := strings.Split(strings.ToLower(meta), ";")
	mediaType := strings.TrimSpace(params[0])
	var content string
	if slices.Contains(params[1:], "base64") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimRight(strings.Join(strings.Fields(data), ""), "="))
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.Join(strings.Fields(data), ""), "="))
		}
		if err != nil {
			return
		}
		content = string(b)
	} else if d, err := url.PathUnescape(data); err == nil {
		content = d
	} else {
		content = data
	}
	om := offMap{{code: 0, file: off}}
	f.depth++
	defer func() { f.depth-- }()
	switch mediaType {
	case "text/html", "application/xhtml+xml":
		f.scanMarkup(content, om, mediaType != "text/html")
	case "image/svg+xml":
		f.scanMarkup(content, om, true)
	case "text/javascript", "application/javascript", "text/ecmascript", "application/ecmascript":
		f.scanJS(content, om, false, false)
	case "text/css":
		f.scanCSS(content, om)
	}
}
