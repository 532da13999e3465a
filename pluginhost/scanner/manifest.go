package scanner

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Manifest is what the scanner needs of a plugin's plugin.json; the
// installer fills it from the validated manifest.
type Manifest struct {
	// Permissions are the plugin's permissions, e.g. "network:http",
	// "storage:local".
	Permissions []string
	// APIEndpoints are the host API paths the bundle may call, e.g.
	// "/api/v1/projects". An entry ending in "/*" allows the subtree
	// ("/api/v1/projects/*" allows "/api/v1/projects/42/tasks").
	APIEndpoints []string
	// AllowedOrigins are the external origins the bundle may reach,
	// scheme://host[:port] (no path), matched exactly: scheme, host and
	// port; never by prefix, so https://cdn.example.com does not allow
	// https://cdn.example.com.evil.net.
	AllowedOrigins []string
}

// Permissions the scanner checks.
const (
	// PermNetworkHTTP allows fetch, XMLHttpRequest, EventSource and
	// beacons to allowed external origins.
	PermNetworkHTTP = "network:http"
	// PermNetworkWebSocket allows WebSockets to allowed external origins.
	PermNetworkWebSocket = "network:websocket"
	// PermStorageLocal allows localStorage, sessionStorage and indexedDB.
	PermStorageLocal = "storage:local"
)

// policy is a Manifest prepared for matching.
type policy struct {
	perms     []string
	endpoints []endpoint
	origins   []origin
}

type endpoint struct {
	path    string // without a trailing slash
	subtree bool   // declared with a trailing /*
}

// origin is a normalised scheme://host:port.
type origin struct {
	scheme, host string
	port         int
}

func (o origin) String() string {
	if o.port == defaultPort(o.scheme) {
		return o.scheme + "://" + o.host
	}
	return o.scheme + "://" + o.host + ":" + strconv.Itoa(o.port)
}

func compilePolicy(m Manifest) (*policy, error) {
	p := &policy{perms: slices.Clone(m.Permissions)}
	for _, e := range m.APIEndpoints {
		if !strings.HasPrefix(e, "/") {
			return nil, fmt.Errorf("scanner: api endpoint %q: must be an absolute path such as /api/v1/projects", e)
		}
		ep := endpoint{path: e}
		if prefix, ok := strings.CutSuffix(e, "/*"); ok {
			ep = endpoint{path: prefix, subtree: true}
		}
		ep.path = strings.TrimSuffix(ep.path, "/")
		p.endpoints = append(p.endpoints, ep)
	}
	for _, o := range m.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("scanner: allowed origin %q: must be scheme://host[:port] without a path", o)
		}
		org, ok := parseOrigin(strings.ToLower(u.Scheme), u.Host)
		if !ok {
			return nil, fmt.Errorf("scanner: allowed origin %q: must be an http, https, ws or wss origin with a valid port", o)
		}
		p.origins = append(p.origins, org)
	}
	return p, nil
}

func (p *policy) has(perm string) bool { return slices.Contains(p.perms, perm) }

func (p *policy) allowsOrigin(o origin) bool { return slices.Contains(p.origins, o) }

// allowsPath reports whether an absolute path (dot segments resolved, no
// query) is declared.
func (p *policy) allowsPath(path string) bool {
	path = strings.TrimSuffix(path, "/")
	for _, e := range p.endpoints {
		if path == e.path || (e.subtree && strings.HasPrefix(path, e.path+"/")) {
			return true
		}
	}
	return false
}

func defaultPort(scheme string) int {
	switch scheme {
	case "http", "ws":
		return 80
	case "https", "wss":
		return 443
	}
	return 0
}

// parseOrigin normalises a host[:port] of a web scheme.
func parseOrigin(scheme, hostport string) (origin, bool) {
	if defaultPort(scheme) == 0 {
		return origin{}, false
	}
	u := url.URL{Host: hostport}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return origin{}, false
	}
	port := defaultPort(scheme)
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return origin{}, false
		}
		port = n
	} else if strings.HasSuffix(hostport, ":") {
		return origin{}, false
	}
	return origin{scheme: scheme, host: host, port: port}, true
}
