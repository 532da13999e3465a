package dashcore

import (
	"net/http"

	"github.com/rs/cors"
)

// corsMiddleware answers preflight requests and adds CORS headers for the
// configured origins, matched exactly (rs/cors). It returns nil when no
// origin is configured: then no CORS header is ever sent.
func corsMiddleware(cfg HTTPConfig) func(http.Handler) http.Handler {
	if len(cfg.CORSOrigins) == 0 {
		return nil
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   cfg.CORSOrigins,
		AllowedMethods:   cfg.CORSMethods,
		AllowedHeaders:   cfg.CORSHeaders,
		ExposedHeaders:   []string{RequestIDHeader, "Retry-After", "Location"},
		AllowCredentials: cfg.CORSAllowCredentials,
		MaxAge:           int(cfg.CORSMaxAge.Seconds()),
	})
	return c.Handler
}
