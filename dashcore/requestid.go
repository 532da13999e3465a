package dashcore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-ID"

// RequestInfo is what the middleware chain learns about a request: its id,
// and after routing, the route pattern that matched (such as
// "GET /api/v1/projects/{id}"), for logs and metrics. Middleware placed
// outside the router reads the pattern after calling the next handler.
type RequestInfo struct {
	// ID is the request id sent back in X-Request-ID.
	ID string
	// Pattern is the ServeMux pattern that matched, empty if none did.
	Pattern string
	// Operation is the huma operation that serves the route, or the one
	// the OpenAPI document gives for a raw handler's route; nil if none.
	// Middleware reads its Metadata (the auth module's requirements) and
	// must not change it.
	Operation *huma.Operation
	// LogAttrs are added to the request's access log line. Middleware
	// inside the access log appends to it (the observability module adds
	// trace_id and span_id, known only once its span has started). Only
	// the goroutine serving the request may touch it.
	LogAttrs []slog.Attr
}

type requestInfoKey struct{}

// RequestInfoFrom returns the request's info, or nil outside the chain.
func RequestInfoFrom(ctx context.Context) *RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return ri
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	if ri := RequestInfoFrom(ctx); ri != nil {
		return ri.ID
	}
	return ""
}

// WithRequestID returns a context carrying id as the request id, for work
// started outside an HTTP request (a consumer, a CLI command) that wants its
// logs and errors correlated the same way.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, &RequestInfo{ID: id})
}

// requestIDMiddleware accepts the client's X-Request-ID when it is
// well-formed (1 to 128 characters of letters, digits and ._:-), otherwise
// generates one, stores it in the context and always returns it.
func requestIDMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestInfoKey{}, &RequestInfo{ID: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex, the form of a W3C trace id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
