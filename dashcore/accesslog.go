package dashcore

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// accessLogMiddleware writes one slog record per request after it ends:
// method, path, matched route, status, size, duration and request id.
// Health probes are logged at debug level so that they do not drown the
// log.
func accessLogMiddleware(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := NewResponseRecorder(w)
			next.ServeHTTP(rec, r)
			status := rec.Status()
			if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelError
			case strings.HasPrefix(r.URL.Path, "/health/"):
				level = slog.LevelDebug
			}
			ctx := r.Context()
			if !log.Enabled(ctx, level) {
				return
			}
			var route string
			var extra []slog.Attr
			if ri := RequestInfoFrom(ctx); ri != nil {
				route, extra = ri.Pattern, ri.LogAttrs
			}
			var buf [12]slog.Attr
			attrs := append(buf[:0],
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int64("bytes", rec.Bytes()),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("request_id", RequestID(ctx)),
				slog.String("remote", r.RemoteAddr),
			)
			log.LogAttrs(ctx, level, "http request", append(attrs, extra...)...)
		})
	}
}
