package wasm

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures a [Runtime]. Fields with an env tag can be read from
// TAYLORDASH_PLUGINS_WASM_* variables by dashcore; the zero value, with
// defaults, is a safe runtime without a disk cache.
type Config struct {
	// CacheDir, if set, keeps wazero's compiled machine code on disk, so
	// that a restart loads a plugin in milliseconds instead of compiling
	// it again (about half a second for a Go guest).
	CacheDir string `env:"PLUGINS_WASM_CACHE_DIR"`
	// MaxMemoryPages caps the linear memory of every instance, in 64 KiB
	// pages; a plugin's own limit can only be lower. Go guests need at
	// least 48 pages to start. Default 256 (16 MiB).
	MaxMemoryPages uint32 `env:"PLUGINS_WASM_MAX_MEMORY_PAGES"`
	// DefaultTimeout is the CPU deadline of a call when the plugin sets
	// none; a plugin's own timeout can only be shorter. Default 1s.
	DefaultTimeout time.Duration `env:"PLUGINS_WASM_DEFAULT_TIMEOUT"`
	// MaxTimeout caps any plugin's timeout. Default 30s.
	MaxTimeout time.Duration `env:"PLUGINS_WASM_MAX_TIMEOUT"`
	// MaxInstances caps the instances of one plugin, which is the number
	// of its calls that run at once; further calls wait. Default 4.
	MaxInstances int `env:"PLUGINS_WASM_MAX_INSTANCES"`
	// MaxConcurrentCalls caps the guests running at once across all
	// plugins (calls and instance starts); further calls wait their turn.
	// Guest code is CPU-bound and Go cannot preempt it well, so leaving
	// processors free is what keeps the API responsive while plugins spin.
	// Default GOMAXPROCS/2, at least 1.
	MaxConcurrentCalls int `env:"PLUGINS_WASM_MAX_CONCURRENT_CALLS"`
	// WarmInstances is how many idle instances each plugin keeps ready,
	// so that a call does not wait for a Go guest's runtime to start
	// (about 5 ms); instances that fail are replaced in the background.
	// Default 1; at least 1 (Load starts one to check the module) and at
	// most MaxInstances.
	WarmInstances int `env:"PLUGINS_WASM_WARM_INSTANCES"`
	// MaxViolations is how many violations within ViolationWindow disable
	// a plugin. Default 5.
	MaxViolations int `env:"PLUGINS_WASM_MAX_VIOLATIONS"`
	// ViolationWindow is the sliding window of MaxViolations. Default 10m.
	ViolationWindow time.Duration `env:"PLUGINS_WASM_VIOLATION_WINDOW"`
	// MaxInputBytes caps a call's input and any argument a guest passes
	// to a host function. Default 1 MiB.
	MaxInputBytes int `env:"PLUGINS_WASM_MAX_INPUT_BYTES"`
	// MaxOutputBytes caps a call's output. Default 1 MiB.
	MaxOutputBytes int `env:"PLUGINS_WASM_MAX_OUTPUT_BYTES"`
	// MaxLogLines caps the log lines of one call; later lines are
	// dropped. Default 100.
	MaxLogLines int `env:"PLUGINS_WASM_MAX_LOG_LINES"`
	// FetchTimeout bounds one http_fetch (the call's own deadline bounds
	// it too). Default 10s.
	FetchTimeout time.Duration `env:"PLUGINS_WASM_FETCH_TIMEOUT"`
	// FetchMaxBytes caps the body of an http_fetch response; a longer one
	// fails with StatusTooLarge. Default 1 MiB.
	FetchMaxBytes int `env:"PLUGINS_WASM_FETCH_MAX_BYTES"`
	// FetchAllowHTTP lets allowed_origins use plain http://; by default
	// only https:// origins are accepted.
	FetchAllowHTTP bool `env:"PLUGINS_WASM_FETCH_ALLOW_HTTP"`
	// FetchAllowPrivate lets http_fetch connect to loopback, private,
	// link-local and other non-public addresses. Off by default, which
	// stops a plugin from reaching internal services through an allowed
	// name that resolves to one (SSRF).
	FetchAllowPrivate bool `env:"PLUGINS_WASM_FETCH_ALLOW_PRIVATE"`
}

// Options are a [Runtime]'s dependencies; every field is optional.
type Options struct {
	// Logger receives the runtime's records and the plugins' log lines;
	// default slog.Default().
	Logger *slog.Logger
	// TracerProvider traces calls (a child span of the caller's span);
	// default none.
	TracerProvider trace.TracerProvider
	// MeterProvider counts calls, violations and host calls; default
	// none.
	MeterProvider metric.MeterProvider
	// Events receives publish_event; without it the function fails with
	// StatusUnavailable.
	Events EventPublisher
	// Projects backs the projects_* functions; without it they fail with
	// StatusUnavailable.
	Projects ProjectStore
	// HTTP sends http_fetch requests. Default: an http.Client whose dialer
	// refuses non-public addresses (unless Config.FetchAllowPrivate),
	// trusting FetchRootCAs, following no redirects. A custom doer is
	// responsible for its own SSRF policy; the origin check still applies.
	HTTP HTTPDoer
	// FetchRootCAs, if set, replaces the system roots for http_fetch (for
	// tests and private CAs).
	FetchRootCAs *x509.CertPool
	// Violations records each violation (for the security log); optional.
	Violations ViolationRecorder
	// OnDisabled is called, once, when a plugin is disabled automatically,
	// outside any lock; it must not block (publish an event from it).
	OnDisabled func(Disabled)
	// Now is the clock of the violation window; default time.Now.
	Now func() time.Time
}

// MinMemoryPages is the least memory cap accepted: what a Go guest needs
// to start its runtime.
const MinMemoryPages = 48

// maxPages is the wasm32 address space in pages (4 GiB).
const maxPages = 65536

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxMemoryPages == 0 {
		c.MaxMemoryPages = 256
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = time.Second
	}
	if c.MaxTimeout == 0 {
		c.MaxTimeout = 30 * time.Second
	}
	if c.MaxInstances == 0 {
		c.MaxInstances = 4
	}
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if c.WarmInstances == 0 {
		c.WarmInstances = 1
	}
	if c.MaxViolations == 0 {
		c.MaxViolations = 5
	}
	if c.ViolationWindow == 0 {
		c.ViolationWindow = 10 * time.Minute
	}
	if c.MaxInputBytes == 0 {
		c.MaxInputBytes = 1 << 20
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = 1 << 20
	}
	if c.MaxLogLines == 0 {
		c.MaxLogLines = 100
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 10 * time.Second
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 1 << 20
	}
	return c
}

// Validate reports every field that cannot work.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if c.MaxMemoryPages < MinMemoryPages || c.MaxMemoryPages > maxPages {
		bad("MaxMemoryPages", fmt.Sprintf("must be %d to %d pages of 64 KiB (a Go guest needs %d), such as 256", MinMemoryPages, maxPages, MinMemoryPages))
	}
	if c.DefaultTimeout <= 0 {
		bad("DefaultTimeout", "must be positive, such as 1s")
	}
	if c.MaxTimeout < c.DefaultTimeout {
		bad("MaxTimeout", "must be at least DefaultTimeout, such as 30s")
	}
	if c.MaxInstances < 1 {
		bad("MaxInstances", "must be at least 1, such as 4")
	}
	if c.MaxConcurrentCalls < 1 {
		bad("MaxConcurrentCalls", "must be at least 1, such as 1")
	}
	if c.WarmInstances < 1 || c.WarmInstances > c.MaxInstances {
		bad("WarmInstances", "must be 1 to MaxInstances, such as 1")
	}
	if c.MaxViolations < 1 {
		bad("MaxViolations", "must be at least 1, such as 5")
	}
	if c.ViolationWindow <= 0 {
		bad("ViolationWindow", "must be positive, such as 10m")
	}
	if c.MaxInputBytes < 1 {
		bad("MaxInputBytes", "must be positive, such as 1048576")
	}
	if c.MaxOutputBytes < 1 {
		bad("MaxOutputBytes", "must be positive, such as 1048576")
	}
	if c.MaxLogLines < 0 {
		bad("MaxLogLines", "must not be negative, such as 100")
	}
	if c.FetchTimeout <= 0 {
		bad("FetchTimeout", "must be positive, such as 10s")
	}
	if c.FetchMaxBytes < 1 {
		bad("FetchMaxBytes", "must be positive, such as 1048576")
	}
	return errors.Join(errs...)
}
