package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures the MCP client. Fields with an env tag are read from
// TAYLORDASH_MCP_* variables by dashcore.
type Config struct {
	// Servers are the external MCP servers known from configuration, a
	// JSON array of [ServerSpec] objects. The API lists and connects them
	// but cannot change them; servers added through the API are stored
	// in PostgreSQL. Default none.
	Servers ServerList `env:"MCP_SERVERS"`
	// CallTimeout bounds a call to a server that sets no call_timeout of
	// its own. Default 30s (the original's).
	CallTimeout time.Duration `env:"MCP_CALL_TIMEOUT"`
	// MaxConcurrentCalls caps the calls in flight to a server that sets
	// no max_concurrent of its own; a call beyond it is refused (429).
	// Default 8.
	MaxConcurrentCalls int `env:"MCP_MAX_CONCURRENT_CALLS"`
	// ConnectTimeout bounds starting a server: the process (or the HTTP
	// connection) and the initialize handshake. Default 30s.
	ConnectTimeout time.Duration `env:"MCP_CONNECT_TIMEOUT"`
	// StopGrace is how long a stdio server has to exit after its stdin
	// is closed, and again after SIGTERM, before its process group is
	// killed. Default 5s.
	StopGrace time.Duration `env:"MCP_STOP_GRACE"`
	// HealthInterval is how often connected servers are pinged; a server
	// that does not answer is restarted as its restart policy says. A
	// negative value (-1s) turns the pings off. Default 30s.
	HealthInterval time.Duration `env:"MCP_HEALTH_INTERVAL"`
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.CallTimeout == 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = 8
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.StopGrace == 0 {
		c.StopGrace = 5 * time.Second
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = 30 * time.Second
	}
	return c
}

// Validate reports every field that cannot work, naming the field and
// the fix. Call it on c.WithDefaults().
func (c Config) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if c.CallTimeout <= 0 || c.CallTimeout > time.Hour {
		bad("CallTimeout", "must be from 1ns to 1h, such as 30s")
	}
	if c.MaxConcurrentCalls < 1 || c.MaxConcurrentCalls > 1024 {
		bad("MaxConcurrentCalls", "must be from 1 to 1024, such as 8")
	}
	if c.ConnectTimeout <= 0 {
		bad("ConnectTimeout", "must be positive, such as 30s")
	}
	if c.StopGrace <= 0 || c.StopGrace > time.Minute {
		bad("StopGrace", "must be from 1ns to 1m, such as 5s")
	}
	seen := map[string]bool{}
	for i, s := range c.Servers {
		field := fmt.Sprintf("Servers[%d]", i)
		if err := s.Validate(); err != nil {
			bad(field, err.Error())
		}
		if seen[s.ID] {
			bad(field, fmt.Sprintf("the id %q is used twice", s.ID))
		}
		seen[s.ID] = true
	}
	return errors.Join(errs...)
}

// ServerList is a list of server specifications, read from a JSON array
// (TAYLORDASH_MCP_SERVERS).
type ServerList []ServerSpec

// UnmarshalText implements encoding.TextUnmarshaler: a JSON array.
func (l *ServerList) UnmarshalText(b []byte) error {
	var specs []ServerSpec
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&specs); err != nil {
		return fmt.Errorf("a JSON array of MCP server objects: %w", err)
	}
	*l = specs
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (l ServerList) MarshalText() ([]byte, error) {
	if l == nil {
		return []byte{}, nil
	}
	return json.Marshal([]ServerSpec(l))
}

// The transports of an MCP server.
const (
	// TransportStdio runs the server as a child process and speaks
	// newline-delimited JSON-RPC over its stdin and stdout.
	TransportStdio = "stdio"
	// TransportHTTP reaches the server at a URL with the streamable HTTP
	// transport.
	TransportHTTP = "http"
)

// The restart policies of a stdio server (and of an HTTP session).
const (
	// RestartNever leaves a server that stopped in status error.
	RestartNever = "never"
	// RestartOnFailure restarts a server that exited with an error, was
	// killed, or stopped answering; one that exited with status 0 goes
	// offline. The default.
	RestartOnFailure = "on-failure"
	// RestartAlways restarts a server whenever it stops, until it is
	// disconnected.
	RestartAlways = "always"
)

// DefaultProtocolVersion is the MCP protocol version the client asks for
// in its initialize request: the latest version with the
// initialize/initialized handshake. A server may answer an older one.
const DefaultProtocolVersion = "2025-11-25"

// AllTools in AllowedTools allows every tool of a server.
const AllTools = "*"

// ServerSpec describes an external MCP server: how to reach it and what
// may be done with it. It is the JSON object of TAYLORDASH_MCP_SERVERS
// and of the admin API.
type ServerSpec struct {
	// ID names the server in the API: lowercase letters, digits, '.',
	// '-' and '_', up to 64 characters.
	ID string `json:"id" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" example:"homelab-mcp" doc:"The server's id: lowercase letters, digits, '.', '-' and '_'."`
	// Name is a display name; default the id.
	Name string `json:"name,omitempty" maxLength:"200" example:"Homelab MCP"`
	// Description says what the server offers.
	Description string `json:"description,omitempty" maxLength:"1000" example:"Tools to inspect the home lab."`
	// Transport is stdio or http.
	Transport string `json:"transport" enum:"stdio,http" example:"stdio"`
	// Command is the program of a stdio server, a name looked up in PATH
	// or a path (relative to Dir when it has a slash).
	Command string `json:"command,omitempty" maxLength:"4096" example:"node" doc:"stdio: the program, looked up in PATH unless it holds a slash."`
	// Args are the program's arguments.
	Args []string `json:"args,omitempty" maxItems:"256" example:"[\"server.js\"]"`
	// Env sets variables of a stdio server's environment. Values are
	// write-only: responses show them masked.
	Env map[string]string `json:"env,omitempty" doc:"stdio: variables to set in the server's environment; answered masked."`
	// EnvAllow names host variables passed to a stdio server. The
	// server's environment is PATH, these variables when the host has
	// them, and Env: nothing else of the host's.
	EnvAllow []string `json:"env_allow,omitempty" maxItems:"256" example:"[\"HOME\",\"LANG\"]" doc:"stdio: host variables passed through; the environment is PATH, these and env, nothing else."`
	// Dir is a stdio server's working directory; it must exist. Default
	// the host's working directory.
	Dir string `json:"dir,omitempty" maxLength:"4096" example:"/srv/mcp/homelab"`
	// URL is an HTTP server's endpoint (http or https).
	URL string `json:"url,omitempty" maxLength:"4096" example:"https://mcp.example.com/mcp" doc:"http: the streamable HTTP endpoint."`
	// Headers are sent with every HTTP request (such as an
	// Authorization). Values are write-only: responses show them masked.
	Headers map[string]string `json:"headers,omitempty" doc:"http: headers of every request; answered masked."`
	// AllowedTools lists the tools that may be called; "*" allows all.
	// Empty allows none: tools are denied by default.
	AllowedTools []string `json:"allowed_tools,omitempty" maxItems:"1024" example:"[\"echo\",\"add\"]" doc:"The tools that may be called; [\"*\"] allows all, none are allowed by default."`
	// CallTimeout bounds each call; default Config.CallTimeout.
	CallTimeout Duration `json:"call_timeout,omitempty" doc:"Bound of each call, such as \"30s\"; default the host's (TAYLORDASH_MCP_CALL_TIMEOUT)."`
	// MaxConcurrent caps the calls in flight; default
	// Config.MaxConcurrentCalls.
	MaxConcurrent int `json:"max_concurrent,omitempty" minimum:"0" maximum:"1024" example:"4"`
	// Restart says when a server that stopped is started again.
	Restart RestartPolicy `json:"restart,omitzero"`
	// Limits are the resource limits of a stdio server's process.
	Limits ProcessLimits `json:"limits,omitzero"`
	// AutoConnect connects the server when the application starts.
	AutoConnect bool `json:"autoconnect,omitempty"`
	// ProtocolVersion is the MCP version asked for; default
	// [DefaultProtocolVersion].
	ProtocolVersion string `json:"protocol_version,omitempty" maxLength:"32" example:"2025-11-25"`
}

// RestartPolicy says when a server is started again, and how soon.
type RestartPolicy struct {
	// Policy is never, on-failure (default) or always.
	Policy string `json:"policy,omitempty" enum:"never,on-failure,always" example:"on-failure"`
	// MaxRestarts caps restarts in a row (a run that lasted a minute
	// resets the count); default 5, -1 for no cap.
	MaxRestarts int `json:"max_restarts,omitempty" minimum:"-1" maximum:"1000000" example:"5"`
	// Backoff is the delay before the first restart, doubled for each
	// one in a row, with jitter; default 500ms.
	Backoff Duration `json:"backoff,omitempty" doc:"Delay before the first restart, such as \"500ms\"; doubled for each restart in a row, with jitter."`
	// MaxBackoff caps the delay; default 30s.
	MaxBackoff Duration `json:"max_backoff,omitempty" doc:"Cap of the restart delay, such as \"30s\"."`
}

// ProcessLimits are resource limits applied to a stdio server's process with
// prlimit(2) right after it starts (Linux; ignored elsewhere). Zero
// leaves a limit as inherited.
type ProcessLimits struct {
	// AddressSpaceBytes caps virtual memory (RLIMIT_AS). Runtimes that
	// reserve address space early (Go, Node.js) need a generous value.
	AddressSpaceBytes uint64 `json:"address_space_bytes,omitempty" example:"4294967296"`
	// CPUSeconds caps processor time (RLIMIT_CPU); the process gets
	// SIGXCPU, then SIGKILL.
	CPUSeconds uint64 `json:"cpu_seconds,omitempty" example:"3600"`
	// OpenFiles caps file descriptors (RLIMIT_NOFILE).
	OpenFiles uint64 `json:"open_files,omitempty" example:"256"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports what makes s unusable; it does not look at the host
// (the command and the directory are checked when connecting).
func (s ServerSpec) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !idPattern.MatchString(s.ID) {
		bad("id %q must be 1 to 64 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit", s.ID)
	}
	switch s.Transport {
	case TransportStdio:
		if strings.TrimSpace(s.Command) == "" {
			bad("a stdio server needs a command")
		}
		if s.URL != "" || len(s.Headers) > 0 {
			bad("url and headers are for http servers")
		}
		for _, name := range s.EnvAllow {
			if !envNamePattern.MatchString(name) {
				bad("env_allow: %q is not a variable name", name)
			}
		}
		for name := range s.Env {
			if !envNamePattern.MatchString(name) {
				bad("env: %q is not a variable name", name)
			}
		}
	case TransportHTTP:
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("an http server needs an http or https url")
		}
		if s.Command != "" || len(s.Args) > 0 || len(s.Env) > 0 || len(s.EnvAllow) > 0 || s.Dir != "" || s.Limits != (ProcessLimits{}) {
			bad("command, args, env, env_allow, dir and limits are for stdio servers")
		}
		for name := range s.Headers {
			if name == "" || strings.ContainsAny(name, " :\r\n") {
				bad("headers: %q is not a header name", name)
			}
		}
	default:
		bad("transport must be %q or %q", TransportStdio, TransportHTTP)
	}
	for _, t := range s.AllowedTools {
		if strings.TrimSpace(t) == "" {
			bad("allowed_tools holds an empty name")
		}
	}
	if s.CallTimeout < 0 || time.Duration(s.CallTimeout) > time.Hour {
		bad("call_timeout must be from 0 (the host's) to 1h")
	}
	if s.MaxConcurrent < 0 || s.MaxConcurrent > 1024 {
		bad("max_concurrent must be from 0 (the host's) to 1024")
	}
	switch s.Restart.Policy {
	case "", RestartNever, RestartOnFailure, RestartAlways:
	default:
		bad("restart.policy must be never, on-failure or always")
	}
	if s.Restart.MaxRestarts < -1 {
		bad("restart.max_restarts must be -1 (no cap), 0 (the default, 5) or more")
	}
	if s.Restart.Backoff < 0 || s.Restart.MaxBackoff < 0 {
		bad("restart.backoff and restart.max_backoff must not be negative")
	}
	if s.ProtocolVersion != "" && !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`).MatchString(s.ProtocolVersion) {
		bad("protocol_version must be a date such as %s", DefaultProtocolVersion)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// withDefaults fills s's zero fields from the host's configuration.
func (s ServerSpec) withDefaults(c Config) ServerSpec {
	if s.Name == "" {
		s.Name = s.ID
	}
	if s.CallTimeout == 0 {
		s.CallTimeout = Duration(c.CallTimeout)
	}
	if s.MaxConcurrent == 0 {
		s.MaxConcurrent = c.MaxConcurrentCalls
	}
	if s.Restart.Policy == "" {
		s.Restart.Policy = RestartOnFailure
	}
	if s.Restart.MaxRestarts == 0 {
		s.Restart.MaxRestarts = 5
	}
	if s.Restart.Backoff == 0 {
		s.Restart.Backoff = Duration(500 * time.Millisecond)
	}
	if s.Restart.MaxBackoff == 0 {
		s.Restart.MaxBackoff = Duration(30 * time.Second)
	}
	if s.ProtocolVersion == "" {
		s.ProtocolVersion = DefaultProtocolVersion
	}
	return s
}

// allows reports whether the tool may be called.
func (s ServerSpec) allows(tool string) bool {
	return slices.Contains(s.AllowedTools, AllTools) || slices.Contains(s.AllowedTools, tool)
}

// Masked replaces the values of env and headers in responses.
const Masked = "********"

// masked returns s with its env and header values replaced by [Masked].
func (s ServerSpec) masked() ServerSpec {
	mask := func(m map[string]string) map[string]string {
		if m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for k := range m {
			out[k] = Masked
		}
		return out
	}
	s.Env, s.Headers = mask(s.Env), mask(s.Headers)
	return s
}

// Duration is a time.Duration written as a string such as "30s" in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("a duration such as 30s: %w", err)
	}
	*d = Duration(v)
	return nil
}
