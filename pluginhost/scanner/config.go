package scanner

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures a [Scanner]. The zero value is usable: New applies
// WithDefaults.
type Config struct {
	// MaxFileBytes is the largest file scanned; a larger file is reported
	// (file.too-large) and not read. Default 5 MiB.
	MaxFileBytes int64 `env:"PLUGINS_SCAN_MAX_FILE_BYTES"`
	// MaxBytes caps the bytes scanned in one bundle; past it the rest of
	// the bundle is reported (file.bundle-too-large) and not read.
	// Default 50 MiB, pluginhost's unpacked bundle limit.
	MaxBytes int64 `env:"PLUGINS_SCAN_MAX_BYTES"`
	// MaxFiles caps the files of a bundle (scanned or not); past it the
	// rest is reported (file.too-many-files). Default 2000.
	MaxFiles int `env:"PLUGINS_SCAN_MAX_FILES"`
	// MaxFindings caps the findings kept in a Report; more are counted in
	// Report.Dropped (and still block). Default 1000.
	MaxFindings int `env:"PLUGINS_SCAN_MAX_FINDINGS"`
	// BlockAt is the least severity that blocks an install: findings at
	// or above it block, those below are warnings. Default high (high and
	// critical block; medium and low warn).
	BlockAt Severity `env:"PLUGINS_SCAN_BLOCK_AT" expect:"low, medium, high or critical"`
	// Severities overrides rules' severities by rule id, e.g.
	// {"code.inline-handler": "high"} to block inline handlers.
	Severities map[string]Severity
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = 5 << 20
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 50 << 20
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = 2000
	}
	if c.MaxFindings == 0 {
		c.MaxFindings = 1000
	}
	if c.BlockAt == "" {
		c.BlockAt = SeverityHigh
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if c.MaxFileBytes <= 0 {
		bad("MaxFileBytes", "must be positive, such as 5242880 (5 MiB)")
	}
	if c.MaxBytes <= 0 {
		bad("MaxBytes", "must be positive, such as 52428800 (50 MiB)")
	}
	if c.MaxFiles <= 0 {
		bad("MaxFiles", "must be positive, such as 2000")
	}
	if c.MaxFindings <= 0 {
		bad("MaxFindings", "must be positive, such as 1000")
	}
	if c.BlockAt.rank() == 0 {
		bad("BlockAt", "must be low, medium, high or critical")
	}
	for _, id := range slices.Sorted(maps.Keys(c.Severities)) {
		s := c.Severities[id]
		if _, ok := rulesByID[id]; !ok {
			bad("Severities", fmt.Sprintf("names unknown rule %q (see scanner.Rules)", id))
		} else if s.rank() == 0 {
			bad("Severities", fmt.Sprintf("gives rule %q severity %q; must be low, medium, high or critical", id, s))
		}
	}
	return errors.Join(errs...)
}
