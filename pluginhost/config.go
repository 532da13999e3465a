package pluginhost

import (
	"errors"
	"time"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures the plugin host. Fields with an env tag are read
// from TAYLORDASH_PLUGINS_* variables by dashcore.
type Config struct {
	// Dir holds installed plugins. Default "data/plugins" (relative to
	// the working directory).
	Dir string `env:"PLUGINS_DIR"`
	// AllowPath allows installs from a directory on the host (the JSON
	// field path). Default false: only uploads and pinned URLs.
	AllowPath bool `env:"PLUGINS_ALLOW_PATH"`
	// AllowHTTPOrigins accepts http:// and ws:// origins in manifests'
	// allowed_origins (development only). Default false.
	AllowHTTPOrigins bool `env:"PLUGINS_ALLOW_HTTP_ORIGINS"`
	// MaxArchiveBytes caps an uploaded or downloaded archive. Default 20 MiB.
	MaxArchiveBytes int64 `env:"PLUGINS_MAX_ARCHIVE_BYTES"`
	// MaxBundleBytes caps a bundle's unpacked size. Default 50 MiB.
	MaxBundleBytes int64 `env:"PLUGINS_MAX_BUNDLE_BYTES"`
	// DownloadTimeout bounds a URL download. Default 60s.
	DownloadTimeout time.Duration `env:"PLUGINS_DOWNLOAD_TIMEOUT"`
	// TokenTTL is the lifetime of a plugin token. Default 1h.
	TokenTTL time.Duration `env:"PLUGINS_TOKEN_TTL"`
	// WasmSyncInterval is how often an instance checks the registry for
	// wasm plugins installed, changed or disabled elsewhere. Default 10s.
	WasmSyncInterval time.Duration `env:"PLUGINS_WASM_SYNC_INTERVAL"`
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Dir == "" {
		c.Dir = "data/plugins"
	}
	if c.MaxArchiveBytes == 0 {
		c.MaxArchiveBytes = 20 << 20
	}
	if c.MaxBundleBytes == 0 {
		c.MaxBundleBytes = 50 << 20
	}
	if c.DownloadTimeout == 0 {
		c.DownloadTimeout = time.Minute
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.WasmSyncInterval == 0 {
		c.WasmSyncInterval = 10 * time.Second
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
	if c.MaxArchiveBytes < 1<<10 {
		bad("MaxArchiveBytes", "must be at least 1024 bytes, such as 20971520")
	}
	if c.MaxBundleBytes < c.MaxArchiveBytes {
		bad("MaxBundleBytes", "must be at least MaxArchiveBytes")
	}
	if c.DownloadTimeout <= 0 {
		bad("DownloadTimeout", "must be positive, such as 60s")
	}
	if c.WasmSyncInterval < 100*time.Millisecond {
		bad("WasmSyncInterval", "must be at least 100ms, such as 10s")
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		bad("TokenTTL", "must be from 1m to 24h, such as 1h")
	}
	return errors.Join(errs...)
}

// installerConfig derives the installer's configuration.
func (c Config) installerConfig(hostVersion string) InstallerConfig {
	return InstallerConfig{Dir: c.Dir, HostVersion: hostVersion, AllowPathSource: c.AllowPath,
		AllowHTTPOrigins: c.AllowHTTPOrigins, DownloadTimeout: c.DownloadTimeout,
		Limits: ArchiveLimits{MaxArchiveBytes: c.MaxArchiveBytes, MaxTotalBytes: c.MaxBundleBytes}}
}
