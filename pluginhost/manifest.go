package pluginhost

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ManifestFile is the name of a plugin's manifest at the root of its bundle.
const ManifestFile = "plugin.json"

// MaxManifestBytes bounds the size of a manifest.
const MaxManifestBytes = 256 << 10

// Plugin types (the original's four).
const (
	TypeUI          = "ui"
	TypeData        = "data"
	TypeIntegration = "integration"
	TypeSystem      = "system"
)

// Runtimes a plugin can declare.
const (
	// RuntimeUI is a browser bundle served under /plugins/<id>/ in a
	// sandboxed iframe; the host never runs its code.
	RuntimeUI = "ui"
	// RuntimeWasm is a WebAssembly module the host runs in its sandbox.
	RuntimeWasm = "wasm"
)

// Permissions are the values a manifest may list: the original's ten,
// and two for WebAssembly plugins (system:clock, the host's real clocks;
// system:random, real randomness).
var Permissions = []string{
	"read:projects", "write:projects", "read:events", "publish:events", "read:logs",
	"read:system", "network:http", "network:websocket", "storage:local", "plugin:messaging",
	"system:clock", "system:random",
}

// Manifest is a plugin's plugin.json. The original's fields keep their
// names; runtime, wasm, subscriptions, limits and sha256 are new.
type Manifest struct {
	// ID names the plugin: 3 to 50 characters of a-z, 0-9 and '-'.
	ID string `json:"id"`
	// Name is shown to people, 1 to 100 characters.
	Name string `json:"name"`
	// Version is the plugin's semantic version, e.g. 1.2.0.
	Version string `json:"version"`
	// Description says what the plugin does, 1 to 500 characters.
	Description string `json:"description"`
	// Author is who wrote it, 1 to 100 characters.
	Author string `json:"author"`
	// Repository is the plugin's source, an https URL (any host).
	Repository string `json:"repository,omitempty"`
	// Homepage is an optional https URL.
	Homepage string `json:"homepage,omitempty"`
	// Type is ui, data, integration or system.
	Type string `json:"type"`
	// Kind is a free label kept from the original (its frontend used it).
	Kind string `json:"kind,omitempty"`
	// EntryPoint is the HTML page of a UI plugin, relative to the bundle
	// root, without ".." segments.
	EntryPoint string `json:"entry_point,omitempty"`
	// Permissions is what the plugin may do; see [Permissions].
	Permissions []string `json:"permissions,omitempty"`
	// APIEndpoints are the API paths the plugin may call, each under
	// /api/v1/. A trailing "/*" allows the subtree.
	APIEndpoints []string `json:"api_endpoints,omitempty"`
	// AllowedOrigins are the external origins (scheme://host[:port], no
	// path) the plugin may reach, matched exactly.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// TaylorDashVersion is the semantic version range of TaylorDash the
	// plugin works with, e.g. ^1.0.0; it is checked against the host's.
	TaylorDashVersion string `json:"taylordash_version"`
	// Dependencies maps names to version ranges (informational).
	Dependencies map[string]string `json:"dependencies,omitempty"`
	// InstallHooks is kept from the original and never executed.
	InstallHooks map[string]any `json:"install_hooks,omitempty"`
	// ConfigSchema is a JSON Schema (draft 2020-12 unless $schema says
	// otherwise) every configuration update must satisfy. Properties
	// with "writeOnly": true are secrets.
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
	// Runtime is ui (the default) or wasm.
	Runtime string `json:"runtime,omitempty"`
	// Wasm is the path of the WebAssembly module of a wasm plugin,
	// relative to the bundle root.
	Wasm string `json:"wasm,omitempty"`
	// Subscriptions are the MQTT topic filters a wasm plugin handles.
	Subscriptions []string `json:"subscriptions,omitempty"`
	// Limits asks for resource limits, capped by the host's.
	Limits *Limits `json:"limits,omitempty"`
	// SHA256 is the hex SHA-256 of the wasm module, checked at install.
	SHA256 string `json:"sha256,omitempty"`
}

// Limits are the resources a wasm plugin asks for.
type Limits struct {
	// MemoryPages is the linear memory cap in 64 KiB pages.
	MemoryPages uint32 `json:"memory_pages,omitempty"`
	// TimeoutMS is the CPU deadline of one call, in milliseconds.
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

// ManifestProblem is one rule a manifest breaks.
type ManifestProblem struct {
	// Field is the JSON path of the field, e.g. "permissions[2]".
	Field string `json:"field"`
	// Rule says what the field must be.
	Rule string `json:"rule"`
}

// ManifestError lists every rule a manifest breaks.
type ManifestError struct {
	// Problems are sorted by field.
	Problems []ManifestProblem
}

// Error implements error.
func (e *ManifestError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Rule
	}
	return "pluginhost: invalid manifest: " + strings.Join(parts, "; ")
}

// ManifestCheck configures [ParseManifest].
type ManifestCheck struct {
	// HostVersion is the running TaylorDash version the manifest's
	// taylordash_version range must contain. Empty skips the check.
	HostVersion string
	// AllowHTTPOrigins allows http:// origins in allowed_origins (for
	// development); otherwise only https:// and wss:// are accepted.
	AllowHTTPOrigins bool
}

// ParsedManifest is a valid manifest with what the parser noticed.
type ParsedManifest struct {
	Manifest
	// Unknown are top-level keys the manifest has that this version
	// does not know; they are reported, not silently dropped.
	Unknown []string
	// Warnings are accepted oddities (install_hooks that are never run).
	Warnings []string
	// Schema is the compiled config_schema, nil without one.
	Schema *jsonschema.Schema
}

var (
	idPattern      = regexp.MustCompile(`^[a-z0-9-]+$`)
	knownKeys      = jsonKeys(Manifest{})
	errNotAnObject = errors.New("is not a JSON object")
)

// jsonKeys returns the JSON names of a struct's fields.
func jsonKeys(v any) map[string]bool {
	keys := map[string]bool{}
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	for k := range m {
		keys[k] = true
	}
	// omitempty fields are absent from the marshalled zero value.
	for _, k := range []string{"repository", "homepage", "kind", "entry_point", "permissions", "api_endpoints",
		"allowed_origins", "dependencies", "install_hooks", "config_schema", "runtime", "wasm", "subscriptions",
		"limits", "sha256"} {
		keys[k] = true
	}
	return keys
}

// ParseManifest decodes and validates a plugin.json. A manifest that
// breaks rules returns a *ManifestError naming each field and rule; data
// that is not a JSON object returns a plain error.
func ParseManifest(data []byte, check ManifestCheck) (*ParsedManifest, error) {
	if len(data) > MaxManifestBytes {
		return nil, &ManifestError{Problems: []ManifestProblem{{Field: ManifestFile, Rule: fmt.Sprintf("must be at most %d bytes", MaxManifestBytes)}}}
	}
	if !utf8.Valid(data) {
		return nil, &ManifestError{Problems: []ManifestProblem{{Field: ManifestFile, Rule: "must be UTF-8"}}}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		if err == nil {
			err = errNotAnObject
		}
		return nil, &ManifestError{Problems: []ManifestProblem{{Field: ManifestFile, Rule: "must be a JSON object: " + jsonProblem(err)}}}
	}
	pm := &ParsedManifest{}
	v := &validator{}
	for k := range raw {
		if !knownKeys[k] {
			pm.Unknown = append(pm.Unknown, k)
		}
	}
	sort.Strings(pm.Unknown)
	// Decode field by field, so a wrong type names its field.
	m := &pm.Manifest
	fields := map[string]any{
		"id": &m.ID, "name": &m.Name, "version": &m.Version, "description": &m.Description, "author": &m.Author,
		"repository": &m.Repository, "homepage": &m.Homepage, "type": &m.Type, "kind": &m.Kind,
		"entry_point": &m.EntryPoint, "permissions": &m.Permissions, "api_endpoints": &m.APIEndpoints,
		"allowed_origins": &m.AllowedOrigins, "taylordash_version": &m.TaylorDashVersion,
		"dependencies": &m.Dependencies, "install_hooks": &m.InstallHooks, "runtime": &m.Runtime, "wasm": &m.Wasm,
		"subscriptions": &m.Subscriptions, "limits": &m.Limits, "sha256": &m.SHA256,
	}
	for k, dst := range fields {
		r, ok := raw[k]
		if !ok || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(r))
		if k == "limits" {
			dec.DisallowUnknownFields()
		}
		if err := dec.Decode(dst); err != nil {
			v.add(k, "has the wrong type: "+jsonProblem(err))
		}
	}
	if r, ok := raw["config_schema"]; ok && !bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
		m.ConfigSchema = slices.Clone(r)
	}
	v.manifest(pm, check)
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Field < v.problems[j].Field })
		return nil, &ManifestError{Problems: v.problems}
	}
	return pm, nil
}

// jsonProblem describes a JSON error without Go type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "got a JSON " + te.Value
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	if err == errNotAnObject {
		return err.Error()
	}
	return "invalid JSON"
}

type validator struct{ problems []ManifestProblem }

func (v *validator) add(field, rule string) {
	v.problems = append(v.problems, ManifestProblem{Field: field, Rule: rule})
}

func (v *validator) text(field, s string, min, max int) {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0 && min > 0:
		v.add(field, "is required")
	case n < min || n > max:
		v.add(field, fmt.Sprintf("must be %d to %d characters", min, max))
	}
}

func (v *validator) manifest(pm *ParsedManifest, check ManifestCheck) {
	m := &pm.Manifest
	switch n := len(m.ID); {
	case n == 0:
		v.add("id", "is required")
	case !idPattern.MatchString(m.ID):
		v.add("id", "must use only a-z, 0-9 and '-'")
	case n < 3 || n > 50:
		v.add("id", "must be 3 to 50 characters")
	}
	v.text("name", m.Name, 1, 100)
	v.text("description", m.Description, 1, 500)
	v.text("author", m.Author, 1, 100)
	if len(m.Kind) > 50 {
		v.add("kind", "must be at most 50 characters")
	}
	if m.Version == "" {
		v.add("version", "is required")
	} else if _, err := semver.StrictNewVersion(m.Version); err != nil {
		v.add("version", "must be a semantic version such as 1.2.0")
	}
	v.httpsURL("repository", m.Repository)
	v.httpsURL("homepage", m.Homepage)
	switch m.Type {
	case "":
		v.add("type", "is required")
	case TypeUI, TypeData, TypeIntegration, TypeSystem:
	default:
		v.add("type", "must be one of ui, data, integration, system")
	}
	if m.Runtime == "" {
		m.Runtime = RuntimeUI
	}
	switch m.Runtime {
	case RuntimeUI:
		if m.EntryPoint == "" {
			v.add("entry_point", "is required for a ui plugin")
		} else if p := bundlePathProblem(m.EntryPoint); p != "" {
			v.add("entry_point", p)
		} else if ext := strings.ToLower(path.Ext(m.EntryPoint)); ext != ".html" && ext != ".htm" {
			v.add("entry_point", "must be an .html file")
		}
		if m.Wasm != "" {
			v.add("wasm", "is only for runtime wasm")
		}
		if len(m.Subscriptions) > 0 {
			v.add("subscriptions", "are only for runtime wasm")
		}
	case RuntimeWasm:
		if m.Wasm == "" {
			v.add("wasm", "is required for runtime wasm")
		} else if p := bundlePathProblem(m.Wasm); p != "" {
			v.add("wasm", p)
		} else if !strings.EqualFold(path.Ext(m.Wasm), ".wasm") {
			v.add("wasm", "must be a .wasm file")
		}
		if m.EntryPoint != "" {
			if p := bundlePathProblem(m.EntryPoint); p != "" {
				v.add("entry_point", p)
			}
		}
	default:
		v.add("runtime", "must be ui or wasm")
	}
	seen := map[string]bool{}
	for i, p := range m.Permissions {
		f := fmt.Sprintf("permissions[%d]", i)
		switch {
		case !slices.Contains(Permissions, p):
			v.add(f, "must be one of "+strings.Join(Permissions, ", "))
		case seen[p]:
			v.add(f, "repeats "+p)
		}
		seen[p] = true
	}
	for i, e := range m.APIEndpoints {
		f := fmt.Sprintf("api_endpoints[%d]", i)
		if p := endpointProblem(e); p != "" {
			v.add(f, p)
		}
	}
	for i, o := range m.AllowedOrigins {
		f := fmt.Sprintf("allowed_origins[%d]", i)
		if _, err := ParseOrigin(o, check.AllowHTTPOrigins); err != nil {
			v.add(f, err.Error())
		}
	}
	if m.TaylorDashVersion == "" {
		v.add("taylordash_version", "is required (a range such as ^1.0.0)")
	} else if c, err := semver.NewConstraint(m.TaylorDashVersion); err != nil {
		v.add("taylordash_version", "must be a semantic version range such as ^1.0.0")
	} else if check.HostVersion != "" {
		if hv, err := semver.NewVersion(check.HostVersion); err == nil && !c.Check(hv) {
			v.add("taylordash_version", fmt.Sprintf("%s does not include this TaylorDash (%s)", m.TaylorDashVersion, check.HostVersion))
		}
	}
	names := make([]string, 0, len(m.Dependencies))
	for name := range m.Dependencies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" || len(name) > 214 {
			v.add("dependencies", "names must be 1 to 214 characters")
			continue
		}
		if _, err := semver.NewConstraint(m.Dependencies[name]); err != nil {
			v.add("dependencies."+name, "must be a semantic version range such as ^3.9.1")
		}
	}
	if len(m.InstallHooks) > 0 {
		pm.Warnings = append(pm.Warnings, "install_hooks are never executed")
	}
	for i, s := range m.Subscriptions {
		if p := topicFilterProblem(s); p != "" {
			v.add(fmt.Sprintf("subscriptions[%d]", i), p)
		}
	}
	if m.Limits != nil {
		if m.Runtime != RuntimeWasm {
			v.add("limits", "are only for runtime wasm")
		}
		if m.Limits.MemoryPages > 65536 {
			v.add("limits.memory_pages", "must be at most 65536 (4 GiB)")
		}
		if m.Limits.TimeoutMS < 0 {
			v.add("limits.timeout_ms", "must not be negative")
		}
	}
	if m.SHA256 != "" {
		if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 {
			v.add("sha256", "must be 64 hex digits")
		}
	}
	if len(m.ConfigSchema) > 0 {
		s, err := CompileConfigSchema(m.ConfigSchema)
		if err != nil {
			v.add("config_schema", err.Error())
		}
		pm.Schema = s
	}
}

func (v *validator) httpsURL(field, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		v.add(field, "must be an https URL")
	}
}

// bundlePathProblem checks a path inside the bundle.
func bundlePathProblem(p string) string {
	switch {
	case strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || (len(p) > 1 && p[1] == ':'):
		return "must be a relative path inside the bundle"
	case slices.Contains(strings.Split(p, "/"), ".."):
		return "must not contain .. segments"
	case path.Clean(p) != p || strings.HasPrefix(p, "./"):
		return "must be a clean relative path (no ./, // or trailing /)"
	}
	return ""
}

// endpointProblem checks an api_endpoints entry.
func endpointProblem(e string) string {
	switch {
	case !strings.HasPrefix(e, "/api/v1/"):
		return "must start with /api/v1/"
	case strings.ContainsAny(e, "?#\\ "):
		return "must be a path without query, fragment or spaces"
	case slices.Contains(strings.Split(e, "/"), ".."):
		return "must not contain .. segments"
	case strings.Contains(strings.TrimSuffix(e, "/*"), "*"):
		return "may use * only as a final /* segment"
	}
	return ""
}

// topicFilterProblem checks an MQTT topic filter.
func topicFilterProblem(s string) string {
	if s == "" || len(s) > 512 {
		return "must be an MQTT topic filter of 1 to 512 characters"
	}
	if strings.HasPrefix(s, "$") {
		return "must not subscribe to $ topics"
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		if l == "#" && i != len(levels)-1 {
			return "may use # only as the last level"
		}
		if l != "#" && l != "+" && strings.ContainsAny(l, "#+") {
			return "may use + and # only as whole levels"
		}
	}
	return ""
}

// Origin is a scheme, host and port, the unit allowed_origins match.
type Origin struct {
	// Scheme is https, wss, http or ws, lower case.
	Scheme string
	// Host is the host name or IP literal, lower case.
	Host string
	// Port is explicit or the scheme's default.
	Port int
}

// String returns scheme://host[:port], omitting a default port.
func (o Origin) String() string {
	if o.Port == defaultPort(o.Scheme) {
		return o.Scheme + "://" + o.Host
	}
	return fmt.Sprintf("%s://%s:%d", o.Scheme, o.Host, o.Port)
}

func defaultPort(scheme string) int {
	switch scheme {
	case "https", "wss":
		return 443
	}
	return 80
}

// ParseOrigin parses an origin: a scheme (https or wss; http and ws when
// allowHTTP), a host and an optional port, nothing else.
func ParseOrigin(s string, allowHTTP bool) (Origin, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return Origin{}, errors.New("must be an origin such as https://cdn.example.com")
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https", "wss":
	case "http", "ws":
		if !allowHTTP {
			return Origin{}, errors.New("must use https:// or wss://")
		}
	default:
		return Origin{}, errors.New("must use https:// or wss://")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Origin{}, errors.New("must be only scheme://host[:port], without user, path, query or fragment")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || strings.Contains(host, "*") {
		return Origin{}, errors.New("must name one host (no wildcards)")
	}
	port := defaultPort(scheme)
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Origin{}, errors.New("has an invalid port")
		}
		port = n
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return Origin{Scheme: scheme, Host: host, Port: port}, nil
}

// AllowsOrigin reports whether rawURL's origin is exactly one of the
// manifest's allowed_origins (scheme, host and port; never by prefix).
func (m *Manifest) AllowsOrigin(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := defaultPort(scheme)
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		port = n
	}
	want := Origin{Scheme: scheme, Host: host, Port: port}
	for _, o := range m.AllowedOrigins {
		if got, err := ParseOrigin(o, true); err == nil && got == want {
			return true
		}
	}
	return false
}

// AllowsEndpoint reports whether an API path is declared in api_endpoints:
// equal to an entry, or under an entry that ends in "/*".
func (m *Manifest) AllowsEndpoint(p string) bool {
	if slices.Contains(strings.Split(p, "/"), "..") {
		return false
	}
	for _, e := range m.APIEndpoints {
		if prefix, ok := strings.CutSuffix(e, "/*"); ok {
			if p == prefix || strings.HasPrefix(p, prefix+"/") {
				return true
			}
		} else if strings.TrimSuffix(p, "/") == strings.TrimSuffix(e, "/") {
			return true
		}
	}
	return false
}

// HasPermission reports whether the manifest lists perm.
func (m *Manifest) HasPermission(perm string) bool { return slices.Contains(m.Permissions, perm) }
