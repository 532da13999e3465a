package auth

import (
	"errors"

	"github.com/taylordash/taylordash/dashcore"
)

// Config configures the auth module. dashcore reads it from TAYLORDASH_*
// variables (the env tags, under the prefixes of the nested structs); the
// zero value, with defaults, authenticates API keys and local sessions and
// leaves OIDC off.
type Config struct {
	// OIDC configures bearer JWTs from an OIDC issuer
	// (TAYLORDASH_AUTH_OIDC_*); off unless Issuer is set.
	OIDC OIDCConfig `envPrefix:"AUTH_OIDC_"`
	// APIKeys configures API keys (TAYLORDASH_AUTH_API_KEY_*).
	APIKeys APIKeyConfig `envPrefix:"AUTH_API_KEY_"`
	// BootstrapAPIKey, if set, is accepted as an API key with the roles
	// APIKeys.BootstrapRoles (admin by default): the original's single
	// X-API-Key, kept for compatibility and to make the first real keys.
	// At least 16 characters.
	BootstrapAPIKey string `env:"API_KEY" secret:"true" expect:"a secret of at least 16 characters"`
	// Password is the password policy and hashing cost
	// (TAYLORDASH_AUTH_PASSWORD_*).
	Password PasswordConfig `envPrefix:"AUTH_PASSWORD_"`
	// RateLimit configures request rate limits
	// (TAYLORDASH_AUTH_RATE_LIMIT_*).
	RateLimit RateLimitConfig `envPrefix:"AUTH_RATE_LIMIT_"`
	// RateLimitDisabled turns rate limiting off (for benchmarks behind
	// another limiter).
	RateLimitDisabled bool `env:"AUTH_RATE_LIMIT_DISABLED"`
	// Lockout configures the failed-login lockout
	// (TAYLORDASH_AUTH_LOCKOUT_*).
	Lockout LockoutConfig `envPrefix:"AUTH_LOCKOUT_"`
	// PublicRoutes adds ServeMux patterns ("GET /metrics") to the routes
	// open to all although they declare nothing (see DefaultPublicRoutes).
	PublicRoutes []string `env:"AUTH_PUBLIC_ROUTES" expect:"a comma-separated list of patterns such as GET /metrics"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.OIDC = c.OIDC.WithDefaults()
	c.APIKeys = c.APIKeys.WithDefaults()
	c.Password = c.Password.WithDefaults()
	c.RateLimit = c.RateLimit.WithDefaults()
	c.Lockout = c.Lockout.WithDefaults()
	return c
}

// Validate reports every field that cannot work.
func (c Config) Validate() error {
	errs := []error{
		prefixFields("OIDC.", c.OIDC.Validate()),
		prefixFields("APIKeys.", c.APIKeys.Validate()),
		prefixFields("Password.", c.Password.Validate()),
		prefixFields("RateLimit.", c.RateLimit.Validate()),
		prefixFields("Lockout.", c.Lockout.Validate()),
	}
	if c.BootstrapAPIKey != "" && len(c.BootstrapAPIKey) < 16 {
		errs = append(errs, &dashcore.FieldError{Field: "BootstrapAPIKey",
			Problem: "must be at least 16 characters; generate one with `openssl rand -hex 24`"})
	}
	return errors.Join(errs...)
}

// prefixFields puts path before the field of every *dashcore.FieldError
// in err, so that dashcore names the variable of a nested struct.
func prefixFields(path string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			if _, isField := e.(*dashcore.FieldError); !isField {
				for _, x := range j.Unwrap() {
					walk(x)
				}
				return
			}
		}
		var fe *dashcore.FieldError
		if errors.As(e, &fe) {
			cp := *fe
			cp.Field = path + fe.Field
			out = append(out, &cp)
			return
		}
		out = append(out, e)
	}
	walk(err)
	return errors.Join(out...)
}
