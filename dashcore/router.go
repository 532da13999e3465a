package dashcore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

// router sits in front of the ServeMux. It records the matched pattern in
// the RequestInfo, enforces the body limit of the matched route, and turns
// the mux's plain-text 404 and 405 into problem responses. Matched requests
// go through the contributed middleware (next), which ends in the mux;
// unmatched ones through the middleware that asked for them
// (unmatchedChain), which ends in unmatched.
type router struct {
	mux            *http.ServeMux
	next           http.Handler
	unmatchedChain http.Handler
	limits         *bodyLimits
	oapi           *huma.OpenAPI
}

// documented returns the operation the OpenAPI document gives for a raw
// handler's pattern ("GET /api/v1/events/stream", documented with
// OpenAPI().AddOperation), or nil.
func (rt *router) documented(pattern string) *huma.Operation {
	if rt.oapi == nil {
		return nil
	}
	return DocumentedOperation(rt.oapi, pattern)
}

// DocumentedOperation returns the operation oapi documents for a ServeMux
// pattern such as "GET /api/v1/things/{id}", or nil.
func DocumentedOperation(oapi *huma.OpenAPI, pattern string) *huma.Operation {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return nil
	}
	item := oapi.Paths[path]
	if item == nil {
		return nil
	}
	switch method {
	case http.MethodGet:
		return item.Get
	case http.MethodPost:
		return item.Post
	case http.MethodPut:
		return item.Put
	case http.MethodPatch:
		return item.Patch
	case http.MethodDelete:
		return item.Delete
	case http.MethodHead:
		return item.Head
	case http.MethodOptions:
		return item.Options
	}
	return nil
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := rt.mux.Handler(r)
	if pattern == "" {
		rt.unmatchedChain.ServeHTTP(w, r)
		return
	}
	limit := rt.limits.forPattern(pattern)
	if ri := RequestInfoFrom(r.Context()); ri != nil {
		ri.Pattern = pattern
		ri.Operation = limit.op
		if ri.Operation == nil {
			ri.Operation = rt.documented(pattern)
		}
	}
	if !rt.limitBody(w, r, limit) {
		return
	}
	rt.next.ServeHTTP(w, r)
}

// limitBody enforces the body limit of the matched route, answering 413
// itself (and returning false) when it can tell. A declared length over
// the limit is refused at once. A body of unknown length (chunked) sent
// to a huma operation is read here, as huma would read it whole anyway, so
// that an oversized one gets a 413 rather than a read error inside huma.
// Raw handlers read through http.MaxBytesReader and see its
// *http.MaxBytesError past the limit.
func (rt *router) limitBody(w http.ResponseWriter, r *http.Request, limit bodyLimit) bool {
	if limit.max < 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > limit.max {
		writeProblem(w, r, http.StatusRequestEntityTooLarge, tooLargeDetail(limit.max))
		return false
	}
	if !limit.buffer || r.ContentLength >= 0 {
		r.Body = http.MaxBytesReader(w, r.Body, limit.max)
		return true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit.max+1))
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			writeProblem(w, r, http.StatusRequestTimeout, "the request body was not received in time")
		} else {
			writeProblem(w, r, http.StatusBadRequest, "the request body could not be read")
		}
		return false
	}
	if int64(len(body)) > limit.max {
		writeProblem(w, r, http.StatusRequestEntityTooLarge, tooLargeDetail(limit.max))
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return true
}

func tooLargeDetail(limit int64) string {
	return fmt.Sprintf("the request body exceeds the limit of %d bytes", limit)
}

// unmatched runs the mux's fallback handler into a buffer: a 404 or 405
// becomes a problem (keeping Allow), anything else (a redirect to the
// clean path) is replayed as is.
func (rt *router) unmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := rt.mux.Handler(r)
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
// may raise their own (an upload route) or lift it (MaxBodyBytes -1), the
// rest use the default.
type bodyLimits struct {
	mu       sync.RWMutex
	def      int64
	patterns map[string]bodyLimit
}

// bodyLimit is the body limit of one route.
type bodyLimit struct {
	max    int64           // bytes; negative for none
	buffer bool            // a huma operation that reads the body whole
	op     *huma.Operation // the huma operation, nil for raw handlers
}

// humaDefaultMaxBodyBytes is what huma sets when an operation with a body
// leaves MaxBodyBytes zero.
const humaDefaultMaxBodyBytes = 1 << 20

// apply records the limit of op and makes huma's own check agree with it:
// an operation that leaves MaxBodyBytes unset (or at huma's default) gets
// the configured default.
func (b *bodyLimits) apply(op *huma.Operation) {
	limit := b.def
	if op.MaxBodyBytes != 0 && op.MaxBodyBytes != humaDefaultMaxBodyBytes {
		limit = op.MaxBodyBytes
	}
	reads := op.MaxBodyBytes != 0
	if reads {
		if limit < 0 {
			op.MaxBodyBytes = -1
		} else {
			op.MaxBodyBytes = limit + 1 // huma refuses a body of exactly MaxBodyBytes
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.patterns[strings.ToUpper(op.Method)+" "+op.Path] = bodyLimit{max: limit, buffer: reads, op: op}
}

func (b *bodyLimits) forPattern(pattern string) bodyLimit {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if l, ok := b.patterns[pattern]; ok {
		return l
	}
	return bodyLimit{max: b.def}
}

// muxAdapter registers huma operations on the ServeMux. It records the
// body limit of every operation (hidden ones included, which
// OpenAPI.OnAddOperation never sees), and registers a path ending in "/"
// as that exact path: in OpenAPI "/" is one path, while the ServeMux
// pattern "GET /" would match every path and swallow the 404s.
//
// In a huma.Group the operation it sees is a copy whose changes huma's
// handler does not see, so a grouped operation keeps huma's own limit
// (1 MiB unless it sets MaxBodyBytes) when that is the smaller one.
type muxAdapter struct {
	huma.Adapter
	limits *bodyLimits
}

// Handle implements huma.Adapter.
func (a *muxAdapter) Handle(op *huma.Operation, handler func(huma.Context)) {
	path := op.Path
	if strings.HasSuffix(path, "/") {
		op.Path = path + "{$}"
		defer func() { op.Path = path }() // the pattern is built; keep the documented path
	}
	a.limits.apply(op)
	a.Adapter.Handle(op, handler)
}
