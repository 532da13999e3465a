package dashcore

import "net/http"

// ResponseRecorder wraps a ResponseWriter and remembers the status and
// size of the response: for access logs, metrics, and middleware that
// must know whether headers went out. The status is the first final
// (non-1xx) one, or 200 when the handler writes a body first. It passes
// Flush through, and Unwrap lets http.ResponseController reach the
// connection (flush, deadlines) for streaming handlers. Not safe for
// concurrent use (no ResponseWriter is).
type ResponseRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

// NewResponseRecorder returns a recorder writing to w.
func NewResponseRecorder(w http.ResponseWriter) *ResponseRecorder {
	return &ResponseRecorder{ResponseWriter: w}
}

// Status returns the status written, 0 before anything was.
func (r *ResponseRecorder) Status() int { return r.status }

// Bytes returns the size of the body written so far.
func (r *ResponseRecorder) Bytes() int64 { return r.bytes }

// WroteHeader reports whether the status line went out.
func (r *ResponseRecorder) WroteHeader() bool { return r.wroteHeader }

// WriteHeader implements http.ResponseWriter.
func (r *ResponseRecorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (r *ResponseRecorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher for handlers that type-assert it.
func (r *ResponseRecorder) Flush() {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer for http.ResponseController.
func (r *ResponseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
