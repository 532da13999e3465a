package dashcore

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// router sits in front of the ServeMux. It records the matched pattern in
// the RequestInfo, enforces the body limit of the matched route, and turns
// the mux's plain-text 404 and 405 into problem responses. Matched requests
// go through the contributed middleware (next), which ends in the mux.
type router struct {
	mux    *http.ServeMux
	next   http.Handler
	limits *bodyLimits
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := rt.mux.Handler(r)
	if pattern == "" {
		rt.unmatched(w, r, h)
		return
	}
	if rt.limits.wildcardMatch(pattern, r.URL.Path) {
		// A huma operation at "/" (or any path ending in "/") is registered
		// as a ServeMux subtree pattern, which matches every path below it;
		// an operation means exactly its path.
		writeProblem(w, r, http.StatusNotFound, "no route matches "+r.Method+" "+r.URL.Path)
		return
	}
	if ri := RequestInfoFrom(r.Context()); ri != nil {
		ri.Pattern = pattern
	}
	limit := rt.limits.forPattern(pattern)
	if r.ContentLength > limit {
		writeProblem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds the limit of %d bytes", limit))
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		// One byte of slack: huma's own reader needs to see limit+1
		// bytes to tell "exactly the limit" from "over it".
		r.Body = http.MaxBytesReader(w, r.Body, limit+1)
	}
	rt.next.ServeHTTP(w, r)
}

// unmatched runs the mux's fallback handler into a buffer: a 404 or 405
// becomes a problem (keeping Allow), anything else (a redirect to the
// clean path) is replayed as is.
func (rt *router) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	capture := &captureWriter{header: make(http.Header)}
	h.ServeHTTP(capture, r)
	switch capture.status {
	case 0, http.StatusNotFound:
		writeProblem(w, r, http.StatusNotFound, "no route matches "+r.Method+" "+r.URL.Path)
	case http.StatusMethodNotAllowed:
		if allow := capture.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeProblem(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	default:
		for k, v := range capture.header {
			w.Header()[k] = v
		}
		w.WriteHeader(capture.status)
		_, _ = w.Write(capture.body)
	}
}

// captureWriter buffers the small responses of the mux's fallback handlers.
type captureWriter struct {
	header http.Header
	status int
	body   []byte
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body = append(c.body, b...)
	return len(b), nil
}

// bodyLimits holds the body limit of each route pattern: huma operations
// may raise their own (an upload route), the rest use the default.
type bodyLimits struct {
	mu       sync.RWMutex
	def      int64
	patterns map[string]int64
}

func (b *bodyLimits) set(pattern string, limit int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.patterns[pattern] = limit
}

// wildcardMatch reports whether pattern is a huma operation's pattern
// ending in "/" that matched a longer path only as a subtree.
func (b *bodyLimits) wildcardMatch(pattern, path string) bool {
	if !strings.HasSuffix(pattern, "/") {
		return false
	}
	b.mu.RLock()
	_, huma := b.patterns[pattern]
	b.mu.RUnlock()
	_, p, _ := strings.Cut(pattern, " ")
	return huma && p != path
}

func (b *bodyLimits) forPattern(pattern string) int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if l, ok := b.patterns[pattern]; ok {
		return l
	}
	return b.def
}
