package app

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/taylordash/taylordash/dashcore"
)

// APIKeyConfig is the shared API key that guards /api/ until the auth
// module replaces it, as the original's X-API-Key did (but compared in
// constant time, never defaulted, never logged).
type APIKeyConfig struct {
	// Key is the value clients send in X-API-Key. Required.
	Key string `env:"API_KEY" secret:"true" expect:"a secret of at least 16 characters"`
}

// Validate requires a key long enough not to be guessed.
func (c APIKeyConfig) Validate() error {
	if len(c.Key) < 16 {
		return &dashcore.FieldError{Field: "Key", Problem: "must be set, at least 16 characters (e.g. openssl rand -hex 24)"}
	}
	return nil
}

// newAPIKeyMiddleware answers 401 to /api/ requests without the key, with
// the original's messages and WWW-Authenticate header.
func newAPIKeyMiddleware(cfg APIKeyConfig) dashcore.Middleware {
	want := []byte(cfg.Key)
	return dashcore.Middleware{
		Name:  "api-key",
		Order: 100,
		Wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasPrefix(r.URL.Path, "/api/") {
					next.ServeHTTP(w, r)
					return
				}
				got := r.Header.Get("X-API-Key")
				switch {
				case got == "":
					w.Header().Set("WWW-Authenticate", "ApiKey")
					dashcore.WriteProblem(w, r, http.StatusUnauthorized, "Missing API key")
				case subtle.ConstantTimeCompare([]byte(got), want) != 1:
					w.Header().Set("WWW-Authenticate", "ApiKey")
					dashcore.WriteProblem(w, r, http.StatusUnauthorized, "Invalid API key")
				default:
					next.ServeHTTP(w, r)
				}
			})
		},
	}
}
