package pluginhost

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/dashcore"
)

// AssetsPattern is the ServeMux pattern of UI plugin assets.
const AssetsPattern = "GET /plugins/{plugin_id}/{path...}"

// IframeSandbox is the only sandbox attribute a host page may give a UI
// plugin's iframe: scripts run, in an opaque origin, with no access to
// the dashboard's origin, cookies or storage, no top navigation, no
// popups and no forms. The asset responses enforce the same sandbox with
// their Content-Security-Policy, so a plugin page opened on its own (in
// a new tab) is sandboxed too.
const IframeSandbox = "allow-scripts"

// documentAssets documents the asset route (served by a plain handler)
// as public: plugin code is not secret, and an iframe cannot send a
// bearer token.
func documentAssets(api huma.API) {
	op := auth.Public(huma.Operation{
		OperationID: "plugin-asset", Method: http.MethodGet, Path: "/plugins/{plugin_id}/{path...}", Tags: []string{"plugins"},
		Summary: "A UI plugin's files",
		Description: "Served to a sandboxed iframe (sandbox=\"" + IframeSandbox + "\") with a Content-Security-Policy derived " +
			"from the manifest: default-src 'none'; scripts only from the plugin's own directory, its allowed_origins " +
			"and inline scripts by hash; connections only to its allowed_origins; the CSP sandbox " +
			"directive; framed only by this origin; no cookies. Only enabled UI plugins are served.",
		Parameters: []*huma.Param{
			{Name: "plugin_id", In: "path", Required: true, Schema: &huma.Schema{Type: "string"}},
			{Name: "path", In: "path", Required: true, Schema: &huma.Schema{Type: "string"}, Description: "A file of the bundle."},
		},
		Responses: map[string]*huma.Response{
			"200": {Description: "The file.", Content: map[string]*huma.MediaType{"*/*": {Schema: &huma.Schema{Type: "string", ContentEncoding: "binary"}, Example: "<!doctype html><title>Project Dashboard</title>..."}}},
			"404": {Description: "No such enabled plugin or file."},
		},
	}, "plugin-assets")
	api.OpenAPI().AddOperation(&op)
}

// serveAsset serves a file of an enabled UI plugin.
func (rt *Routes) serveAsset(w http.ResponseWriter, r *http.Request) {
	id, rel := r.PathValue("plugin_id"), r.PathValue("path")
	p, err := rt.Registry.Get(r.Context(), id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			dashcore.WriteProblem(w, r, http.StatusNotFound, "no such plugin")
			return
		}
		dashcore.WriteProblem(w, r, http.StatusServiceUnavailable, "")
		return
	}
	if p.Status != StatusInstalled || p.Runtime != RuntimeUI {
		dashcore.WriteProblem(w, r, http.StatusNotFound, "no such plugin")
		return
	}
	if rel == "" {
		rel = p.Manifest.EntryPoint
	}
	if bundlePathProblem(rel) != "" || strings.HasPrefix(path.Base(rel), ".") {
		dashcore.WriteProblem(w, r, http.StatusNotFound, "no such file")
		return
	}
	root, err := os.OpenRoot(p.InstallPath)
	if err != nil {
		dashcore.WriteProblem(w, r, http.StatusServiceUnavailable, "")
		return
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		dashcore.WriteProblem(w, r, http.StatusNotFound, "no such file")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		dashcore.WriteProblem(w, r, http.StatusNotFound, "no such file")
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
	if err != nil {
		dashcore.WriteProblem(w, r, http.StatusServiceUnavailable, "")
		return
	}
	ext := strings.ToLower(path.Ext(rel))
	ctype := mime.TypeByExtension(ext)
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	var hashes []string
	if ext == ".html" || ext == ".htm" {
		// A version directory never changes once installed (its name holds
		// the bundle's digest), so a page's hashes are computed once.
		key := filepath.Join(p.InstallPath, filepath.FromSlash(rel))
		if v, ok := rt.scriptHashes.Load(key); ok {
			hashes = v.([]string)
		} else {
			hashes = inlineScriptHashes(data)
			rt.scriptHashes.Store(key, hashes)
		}
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", AssetCSP(&p.Manifest, requestOrigin(r), hashes))
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+p.BundleSHA256[:min(16, len(p.BundleSHA256))]+`"`)
	h.Del("Set-Cookie")
	http.ServeContent(w, r, "", fi.ModTime(), bytes.NewReader(data))
}

// requestOrigin is the origin the request was made to.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// AssetCSP is the Content-Security-Policy of a UI plugin's files: nothing
// by default; scripts from the plugin's own directory on apiOrigin, its
// allowed_origins (https only) and the given inline-script hashes;
// styles, images and fonts from the same places (inline styles allowed);
// connections to its allowed_origins only (the API is reached through
// the host page and the plugin's proxy);
// framed by apiOrigin only; the sandbox directive with allow-scripts
// only; no base URI, forms or plugins.
func AssetCSP(m *Manifest, apiOrigin string, inlineHashes []string) string {
	own := apiOrigin + "/plugins/" + m.ID + "/"
	var origins []string
	for _, o := range m.AllowedOrigins {
		if po, err := ParseOrigin(o, false); err == nil && (po.Scheme == "https" || po.Scheme == "wss") {
			origins = append(origins, po.String())
		}
	}
	slices.Sort(origins)
	var httpsOrigins []string
	for _, o := range origins {
		if strings.HasPrefix(o, "https://") {
			httpsOrigins = append(httpsOrigins, o)
		}
	}
	join := func(parts ...[]string) string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return strings.Join(all, " ")
	}
	// The API is reached through the host page (postMessage to the
	// parent, which calls the plugin's proxy with the plugin's token), so
	// connections go only to the declared origins.
	connect := "'none'"
	if len(origins) > 0 {
		connect = join(origins)
	}
	script := []string{own}
	for _, h := range inlineHashes {
		script = append(script, "'sha256-"+h+"'")
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + join(script, httpsOrigins),
		"style-src " + join([]string{own, "'unsafe-inline'"}, httpsOrigins),
		"img-src " + join([]string{own, "data:"}, httpsOrigins),
		"font-src " + join([]string{own}, httpsOrigins),
		"connect-src " + connect,
		"frame-ancestors " + apiOrigin,
		"base-uri 'none'",
		"form-action 'none'",
		"sandbox " + IframeSandbox,
	}, "; ")
}

// inlineScriptHashes returns the base64 SHA-256 of every inline script
// element's text, as CSP hash sources; script elements with src, and
// non-JavaScript types (JSON data blocks), are skipped.
func inlineScriptHashes(doc []byte) []string {
	z := html.NewTokenizer(bytes.NewReader(doc))
	var out []string
	inScript := false
	var buf bytes.Buffer
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken:
			t := z.Token()
			if t.DataAtom != atom.Script {
				continue
			}
			inScript = true
			for _, a := range t.Attr {
				if a.Key == "src" || (a.Key == "type" && !isJSType(a.Val)) {
					inScript = false
				}
			}
			buf.Reset()
		case html.TextToken:
			if inScript {
				buf.Write(z.Text())
			}
		case html.EndTagToken:
			if inScript && z.Token().DataAtom == atom.Script {
				if strings.TrimSpace(buf.String()) != "" {
					sum := sha256.Sum256(buf.Bytes())
					out = append(out, base64.StdEncoding.EncodeToString(sum[:]))
				}
				inScript = false
			}
		}
	}
}

func isJSType(t string) bool {
	t = strings.ToLower(strings.TrimSpace(t))
	return t == "" || t == "module" || strings.Contains(t, "javascript") || t == "text/ecmascript"
}
