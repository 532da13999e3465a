package dashcore

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// recoverMiddleware turns a panic in a handler into a problem+json 500 that
// carries the request id and nothing of the panic; the panic value and
// stack go to the log. http.ErrAbortHandler is re-raised, as net/http
// expects. If the handler had already started its response, the connection
// is cut instead, since a second status cannot be sent.
func recoverMiddleware(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic in HTTP handler",
					slog.String("panic", fmt.Sprint(v)),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("request_id", RequestID(r.Context())),
					slog.String("stack", string(debug.Stack())),
				)
				if rec, ok := w.(*ResponseRecorder); ok && rec.WroteHeader() {
					panic(http.ErrAbortHandler)
				}
				writeProblem(w, r, http.StatusInternalServerError, "")
			}()
			next.ServeHTTP(w, r)
		})
	}
}
