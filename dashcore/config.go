package dashcore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the configuration of dashcore: service identity, logging,
// lifecycle timeouts and the HTTP server. Every field is read from the
// environment variable named in its env tag, prefixed with [EnvPrefix].
type Config struct {
	// ServiceName names this service in health responses and logs.
	ServiceName string `env:"SERVICE_NAME"`
	// StartTimeout bounds the start of the whole application (every
	// module's OnStart hook, database migrations included).
	StartTimeout time.Duration `env:"START_TIMEOUT"`
	// StopTimeout bounds the stop of the whole application.
	StopTimeout time.Duration `env:"STOP_TIMEOUT"`
	// AllowUnknownEnv turns unknown TAYLORDASH_ variables from an error
	// into nothing. It is read before anything else.
	AllowUnknownEnv bool `env:"ALLOW_UNKNOWN_ENV"`
	// RequireTLS makes every link that leaves the machine without verified
	// TLS (a plaintext or unverified database, broker or exporter
	// connection, an HTTP listener on a non-loopback address without TLS)
	// stop the application from starting, instead of logging a warning.
	// See [TLSPolicy].
	RequireTLS bool `env:"REQUIRE_TLS"`
	// Log configures the process logger.
	Log LogConfig `envPrefix:"LOG_"`
	// HTTP configures the HTTP server.
	HTTP HTTPConfig `envPrefix:"HTTP_"`
}

// LogConfig configures the *slog.Logger that every module logs through.
type LogConfig struct {
	// Format is "json" (one object per line, for machines) or "text".
	Format string `env:"FORMAT" expect:"json or text"`
	// Level is the lowest level written: debug, info, warn or error.
	Level slog.Level `env:"LEVEL" expect:"debug, info, warn or error"`
}

// HTTPConfig configures the HTTP server and its middleware chain.
type HTTPConfig struct {
	// Addr is the host:port to listen on. Port 0 picks a free port.
	Addr string `env:"ADDR" expect:"host:port, such as 127.0.0.1:8000 or :8000"`
	// TLSCertFile and TLSKeyFile, when both set, make the server speak
	// HTTPS with this PEM certificate chain and key.
	TLSCertFile string `env:"TLS_CERT_FILE"`
	// TLSKeyFile is the PEM private key matching TLSCertFile.
	TLSKeyFile string `env:"TLS_KEY_FILE"`
	// DrainTimeout bounds the graceful shutdown: requests still running
	// after it are cut off.
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration `env:"READ_TIMEOUT"`
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout time.Duration `env:"IDLE_TIMEOUT"`
	// MaxBodyBytes is the largest request body accepted; larger bodies get
	// 413 Content Too Large.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES"`
	// CORSOrigins lists the browser origins (scheme://host[:port], matched
	// exactly) allowed to call the API. Empty disables CORS; "*" allows any
	// origin but never with credentials.
	CORSOrigins []string `env:"CORS_ORIGINS"`
	// CORSAllowCredentials lets browsers send cookies and Authorization
	// headers cross-origin.
	CORSAllowCredentials bool `env:"CORS_ALLOW_CREDENTIALS"`
	// CORSMethods lists the methods allowed cross-origin.
	CORSMethods []string `env:"CORS_METHODS"`
	// CORSHeaders lists the request headers allowed cross-origin.
	CORSHeaders []string `env:"CORS_HEADERS"`
	// CORSMaxAge is how long browsers may cache a preflight response.
	CORSMaxAge time.Duration `env:"CORS_MAX_AGE"`
	// HealthTimeout bounds each readiness check.
	HealthTimeout time.Duration `env:"HEALTH_TIMEOUT"`
}

// Endpoints returns the HTTP listener as the [TLSPolicy] sees it:
// plaintext unless a certificate is configured.
func (c HTTPConfig) Endpoints() []Endpoint {
	e := Endpoint{
		Name:      "HTTP listener",
		Setting:   EnvPrefix + "HTTP_ADDR",
		Address:   c.Addr,
		Transport: Plaintext,
		Fix:       "set TAYLORDASH_HTTP_TLS_CERT_FILE and TAYLORDASH_HTTP_TLS_KEY_FILE, or listen on 127.0.0.1 behind a proxy that terminates TLS",
	}
	if c.TLSCertFile != "" {
		e.Transport = TLSVerified
	}
	return []Endpoint{e}
}

// DefaultConfig returns the configuration used when no variable is set.
func DefaultConfig() Config {
	return Config{}.WithDefaults()
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ServiceName == "" {
		c.ServiceName = "taylordash-backend"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	c.HTTP = c.HTTP.WithDefaults()
	return c
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c HTTPConfig) WithDefaults() HTTPConfig {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8000"
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if len(c.CORSMethods) == 0 {
		c.CORSMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	}
	if len(c.CORSHeaders) == 0 {
		c.CORSHeaders = []string{"Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "X-CSRF-Token"}
	}
	if c.CORSMaxAge == 0 {
		c.CORSMaxAge = 10 * time.Minute
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = 2 * time.Second
	}
	return c
}

// Validate reports every field that cannot work, naming the field and the fix.
func (c Config) Validate() error {
	var errs []error
	// Zero would give every OnStart (OnStop) hook an expired context.
	if c.StartTimeout <= 0 {
		errs = append(errs, &FieldError{Field: "StartTimeout", Problem: "must be positive, such as 60s"})
	}
	if c.StopTimeout <= 0 {
		errs = append(errs, &FieldError{Field: "StopTimeout", Problem: "must be positive, such as 30s"})
	}
	if f := c.Log.Format; f != "json" && f != "text" {
		errs = append(errs, &FieldError{Field: "Log.Format", Problem: "must be json or text"})
	}
	if err := c.HTTP.validate("HTTP."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c HTTPConfig) validate(path string) error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &FieldError{Field: path + field, Problem: problem})
	}
	if err := checkAddr(c.Addr); err != nil {
		bad("Addr", "must be host:port, such as 127.0.0.1:8000 or :8000 ("+err.Error()+")")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		if c.TLSCertFile == "" {
			bad("TLSCertFile", "must be set together with TLSKeyFile")
		} else {
			bad("TLSKeyFile", "must be set together with TLSCertFile")
		}
	}
	if c.DrainTimeout < 0 {
		bad("DrainTimeout", "must not be negative")
	}
	if c.MaxBodyBytes < 0 {
		bad("MaxBodyBytes", "must not be negative")
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			if c.CORSAllowCredentials {
				bad("CORSOrigins", `"*" cannot be combined with CORSAllowCredentials; list the exact origins`)
			}
			continue
		}
		if err := checkOrigin(o); err != nil {
			bad("CORSOrigins", fmt.Sprintf("%q is not an origin: %v; write scheme://host[:port], such as https://dash.example.com", o, err))
		}
	}
	if c.HealthTimeout <= 0 {
		bad("HealthTimeout", "must be positive")
	}
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	if u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || strings.HasSuffix(o, "/") {
		return errors.New("must have a host and nothing after it")
	}
	return nil
}
