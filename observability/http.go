package observability

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
)

// HTTPMiddlewareOrder places the HTTP instrumentation in dashcore's
// contributed chain: before the auth guard (auth.GuardOrder, -1000), so
// that refused requests are traced and counted too.
const HTTPMiddlewareOrder = -2000

// TraceIDHeader is the response header that carries the request's trace
// id (32 hex digits), for clients and tests that correlate a response with
// its trace, logs and events.
const TraceIDHeader = "X-Trace-ID"

// traceIDHeaderKey is TraceIDHeader in canonical form, set without
// canonicalizing on every request.
var traceIDHeaderKey = http.CanonicalHeaderKey(TraceIDHeader)

// UnmatchedRoute is the route label (and span name suffix) of a request
// that matched no route, so that a scan of random paths counts under one
// label instead of one per path.
const UnmatchedRoute = "unmatched"

// scopeName is the instrumentation scope of the package's spans and
// instruments.
const scopeName = "github.com/taylordash/taylordash/observability"

// HTTPInstrumentation traces and measures HTTP requests: one server span
// per request named "<METHOD> <route template>", whose parent comes from
// the request's traceparent; and http_requests_total and
// http_request_duration_seconds by method, route template and status
// class. It is safe for concurrent use.
type HTTPInstrumentation struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	requests   metric.Int64Counter
	duration   metric.Float64Histogram

	// routes caches a *routeEntry per method and route template.
	routes sync.Map // routeKey → *routeEntry
}

type routeKey struct{ method, route string }

// NewHTTPInstrumentation returns the instrumentation recording to tp and
// mp, reading trace context with prop (nil means W3C trace context and
// baggage).
func NewHTTPInstrumentation(tp trace.TracerProvider, mp metric.MeterProvider, prop propagation.TextMapPropagator) (*HTTPInstrumentation, error) {
	if prop == nil {
		prop = NewPropagator()
	}
	m := mp.Meter(scopeName)
	requests, err := m.Int64Counter("http_requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("HTTP requests served, by method, route template and status class."))
	if err != nil {
		return nil, fmt.Errorf("observability: http_requests counter: %w", err)
	}
	duration, err := m.Float64Histogram("http_request_duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time to serve HTTP requests, by method, route template and status class."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, fmt.Errorf("observability: http_request_duration histogram: %w", err)
	}
	return &HTTPInstrumentation{
		tracer:     tp.Tracer(scopeName),
		propagator: prop,
		requests:   requests,
		duration:   duration,
	}, nil
}

// Middleware returns the instrumentation as a dashcore contribution at
// [HTTPMiddlewareOrder]. It sees unmatched requests too (404 and 405
// answers), under the route [UnmatchedRoute].
func (h *HTTPInstrumentation) Middleware() dashcore.Middleware {
	return dashcore.Middleware{Name: "observability.http", Order: HTTPMiddlewareOrder, Wrap: h.Wrap, Unmatched: true}
}

// Wrap returns next instrumented. The route template is read from
// dashcore.RequestInfoFrom(ctx).Pattern; a request without one is
// counted under [UnmatchedRoute]. The response carries the trace id in
// [TraceIDHeader], and dashcore's access log line gets trace_id and
// span_id (through RequestInfo.LogAttrs).
func (h *HTTPInstrumentation) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := UnmatchedRoute
		ri := dashcore.RequestInfoFrom(r.Context())
		if ri != nil && ri.Pattern != "" {
			route = routeTemplate(ri.Pattern)
		}
		rt := h.route(normalizeMethod(r.Method), route)
		ctx := h.propagator.Extract(r.Context(), headerCarrier(r.Header))
		ctx, span := h.tracer.Start(ctx, rt.spanName, rt.startOpts...)
		if sc := span.SpanContext(); sc.HasTraceID() {
			tid := sc.TraceID().String()
			w.Header()[traceIDHeaderKey] = []string{tid}
			if ri != nil {
				ri.LogAttrs = append(ri.LogAttrs, slog.String("trace_id", tid), slog.String("span_id", sc.SpanID().String()))
			}
		}
		rec := dashcore.NewResponseRecorder(w)
		finished := false
		defer func() {
			if finished {
				return
			}
			// next panicked: dashcore's recovery, outside this middleware,
			// answers 500; record it so, then let the panic go on.
			v := recover()
			h.finish(r, span, rt, http.StatusInternalServerError, start)
			panic(v)
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
		finished = true
		status := rec.Status()
		if status == 0 {
			status = http.StatusOK
		}
		h.finish(r, span, rt, status, start)
	})
}

func (h *HTTPInstrumentation) finish(r *http.Request, span trace.Span, rt *routeEntry, status int, start time.Time) {
	span.SetAttributes(
		attribute.String("url.path", r.URL.Path),
		attribute.Int("http.response.status_code", status),
	)
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
	opt := rt.byClass[statusClassIndex(status)]
	ctx := r.Context()
	h.requests.Add(ctx, 1, opt)
	h.duration.Record(ctx, time.Since(start).Seconds(), opt)
}

// routeEntry is what the instrumentation needs per method and route,
// built once: the span name and start options, and the metric attribute
// set per status class.
type routeEntry struct {
	spanName  string
	startOpts []trace.SpanStartOption
	byClass   [5]metric.MeasurementOption
}

// route returns the entry of (method, route), creating it on first use.
// The routes are the application's templates, so the cache is bounded.
func (h *HTTPInstrumentation) route(method, route string) *routeEntry {
	k := routeKey{method: method, route: route}
	if v, ok := h.routes.Load(k); ok {
		return v.(*routeEntry)
	}
	name := method + " " + route
	if method == methodOther {
		name = "HTTP " + route
	}
	e := &routeEntry{
		spanName: name,
		startOpts: []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", method),
				attribute.String("http.route", route),
			),
		},
	}
	for i := range e.byClass {
		e.byClass[i] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("method", method),
			attribute.String("route", route),
			attribute.String("status_class", statusClasses[i]),
		))
	}
	v, _ := h.routes.LoadOrStore(k, e)
	return v.(*routeEntry)
}

var statusClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClassIndex returns the index in statusClasses of status's class.
func statusClassIndex(status int) int {
	return min(max(status/100, 1), 5) - 1
}

const methodOther = "OTHER"

// normalizeMethod keeps the label bounded: a standard method, or OTHER.
func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return methodOther
}

// routeTemplate returns the path part of a ServeMux pattern:
// "GET /api/v1/events/{id}" → "/api/v1/events/{id}".
func routeTemplate(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return strings.TrimLeft(pattern[i+1:], " \t")
	}
	return pattern
}

// headerCarrier is propagation.HeaderCarrier without canonicalizing the
// propagators' own keys on every request: the W3C and baggage keys are
// looked up in their canonical form directly; any other key goes through
// http.Header.
type headerCarrier http.Header

var _ propagation.TextMapCarrier = headerCarrier(nil)

// Get returns the first value of key.
func (hc headerCarrier) Get(key string) string {
	var vs []string
	switch key {
	case "traceparent":
		vs = hc["Traceparent"]
	case "tracestate":
		vs = hc["Tracestate"]
	case "baggage":
		vs = hc["Baggage"]
	default:
		return http.Header(hc).Get(key)
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// Values returns every value of key (the baggage propagator joins them).
func (hc headerCarrier) Values(key string) []string {
	if key == "baggage" {
		return hc["Baggage"]
	}
	return propagation.HeaderCarrier(hc).Values(key)
}

// Set sets key.
func (hc headerCarrier) Set(key, value string) { http.Header(hc).Set(key, value) }

// Keys lists the keys present.
func (hc headerCarrier) Keys() []string { return propagation.HeaderCarrier(hc).Keys() }
