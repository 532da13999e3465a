package wasm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// PluginSpec is what [Runtime.Load] needs to run a plugin: its identity,
// its module, what it is granted and its limits; the manifest's fields.
type PluginSpec struct {
	// ID is the plugin's id: 3 to 50 of [a-z0-9-].
	ID string
	// Version is the plugin's version, for logs and violations.
	Version string
	// Wasm is the module's bytes; if empty, WasmPath is read.
	Wasm []byte
	// WasmPath is the module's file, used when Wasm is empty.
	WasmPath string
	// Permissions are the granted permissions (see [Permission]); unknown
	// ones are refused.
	Permissions []string
	// AllowedOrigins are the origins http_fetch may reach, such as
	// "https://api.example.com" (scheme, host and optional port; no path).
	// Matching is exact on scheme, host and port: "https://a.com" does
	// not allow "https://a.com.evil.net".
	AllowedOrigins []string
	// Limits are the plugin's own limits, lowered to the runtime's.
	Limits Limits
	// Config is the plugin's configuration, returned by config_get.
	Config json.RawMessage
}

// Limits are a plugin's resource limits. Zero fields take the runtime's
// defaults; larger values are lowered to the runtime's caps.
type Limits struct {
	// MemoryPages caps the linear memory, in 64 KiB pages (at least
	// MinMemoryPages).
	MemoryPages uint32
	// Timeout is the CPU deadline of one call.
	Timeout time.Duration
}

var idPattern = regexp.MustCompile(`^[a-z0-9-]{3,50}$`)

// origin is an allowed origin, normalized to scheme://host:port.
type origin = string

// normalizeOrigin returns u's origin as scheme://host:port, with the
// default port made explicit and the host lower-cased.
func normalizeOrigin(u *url.URL) (origin, error) {
	scheme := strings.ToLower(u.Scheme)
	var port string
	switch scheme {
	case "https":
		port = "443"
	case "http":
		port = "80"
	default:
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("user info is not allowed")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// parseAllowedOrigins checks and normalizes the manifest's origins.
func parseAllowedOrigins(origins []string, allowHTTP bool) (map[origin]bool, error) {
	out := make(map[origin]bool, len(origins))
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w", o, err)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("allowed origin %q: must be scheme://host[:port] without a path", o)
		}
		n, err := normalizeOrigin(u)
		if err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w", o, err)
		}
		if strings.HasPrefix(n, "http://") && !allowHTTP {
			return nil, fmt.Errorf("allowed origin %q: only https origins are allowed (Config.FetchAllowHTTP)", o)
		}
		out[n] = true
	}
	return out, nil
}
