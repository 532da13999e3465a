package observability_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/observability"
	"github.com/taylordash/taylordash/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// bundle is a dashcore handler instrumented by a Providers, with the
// spans it records.
type bundle struct {
	handler   http.Handler
	providers *observability.Providers
	spans     *tracetest.InMemoryExporter
}

type thingOutput struct {
	Body struct {
		ID string `json:"id"`
	}
}

type thingInput struct {
	ID string `path:"id"`
}

// thingRoutes serves GET /things/{id} (200) and POST /things/{id} (404
// unless the id is "known"), and a raw GET /boom that answers 503.
func thingRoutes() dashcore.Routes {
	return dashcore.Routes{
		Name: "things",
		Register: func(api huma.API) {
			huma.Get(api, "/things/{id}", func(ctx context.Context, in *thingInput) (*thingOutput, error) {
				out := &thingOutput{}
				out.Body.ID = in.ID
				return out, nil
			})
			huma.Post(api, "/things/{id}", func(ctx context.Context, in *thingInput) (*thingOutput, error) {
				if in.ID != "known" {
					return nil, huma.Error404NotFound("no such thing")
				}
				return &thingOutput{}, nil
			})
		},
		Handle: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
				panic("handler bug")
			})
		},
	}
}

func setup(t testing.TB, metricsCfg observability.MetricsConfig) bundle {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	p, err := observability.New(context.Background(), observability.Config{ServiceName: "test"}, observability.Options{
		SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(spans)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	inst, err := observability.NewHTTPInstrumentation(p.TracerProvider, p.MeterProvider, p.Propagator)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := dashcore.NewHandler(dashcore.HandlerOptions{
		Routes:     []dashcore.Routes{thingRoutes(), observability.MetricsRoutes(p.Registry, metricsCfg)},
		Middleware: []dashcore.Middleware{inst.Middleware()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{handler: h, providers: p, spans: spans}
}

func (b bundle) do(t testing.TB, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec
}

// scrape reads /metrics and parses the exposition.
func (b bundle) scrape(t testing.TB, header http.Header) map[string]*dto.MetricFamily {
	t.Helper()
	rec := b.do(t, http.MethodGet, "/metrics", header)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// series returns the metrics of family name whose labels include want.
func series(families map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range families[name].GetMetric() {
		l := labelsOf(m)
		ok := true
		for k, v := range want {
			if l[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func TestServerSpanPerRequestNamedByRoute(t *testing.T) {
	b := setup(t, observability.MetricsConfig{})
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	rec := b.do(t, http.MethodGet, "/things/42", http.Header{"Traceparent": {parent}})
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /things/42: %d %s", rec.Code, rec.Body)
	}
	b.do(t, http.MethodGet, "/boom", nil)

	got := b.spans.GetSpans()
	if len(got) != 2 {
		t.Fatalf("got %d spans, want 2: %v", len(got), got)
	}
	s := got[0]
	if s.Name != "GET /things/{id}" || s.SpanKind != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want GET /things/{id} server", s.Name, s.SpanKind)
	}
	if s.Parent.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent.SpanID().String() != "00f067aa0ba902b7" || !s.Parent.IsRemote() {
		t.Errorf("parent %v, want the incoming traceparent", s.Parent)
	}
	if h := rec.Header().Get(observability.TraceIDHeader); h != s.SpanContext.TraceID().String() || h != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("%s = %q, want the span's trace id %s", observability.TraceIDHeader, h, s.SpanContext.TraceID())
	}
	attrs := map[string]string{}
	for _, a := range s.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	for k, v := range map[string]string{"http.request.method": "GET", "http.route": "/things/{id}", "http.response.status_code": "200", "url.path": "/things/42"} {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}

	boom := got[1]
	if boom.Name != "GET /boom" || boom.Status.Code.String() != "Error" || boom.Parent.IsValid() {
		t.Errorf("5xx span %q status %v parent %v, want GET /boom, Error, a root", boom.Name, boom.Status, boom.Parent)
	}
}

func TestMetricsAfterKnownWorkload(t *testing.T) {
	b := setup(t, observability.MetricsConfig{})
	for i := range 3 {
		if rec := b.do(t, http.MethodGet, "/things/"+strconv.Itoa(i), nil); rec.Code != http.StatusOK {
			t.Fatalf("GET: %d", rec.Code)
		}
	}
	for range 2 {
		if rec := b.do(t, http.MethodPost, "/things/nope", nil); rec.Code != http.StatusNotFound {
			t.Fatalf("POST: %d", rec.Code)
		}
	}
	b.do(t, http.MethodGet, "/boom", nil)

	families := b.scrape(t, nil)
	want := []struct {
		labels map[string]string
		count  float64
	}{
		{map[string]string{"method": "GET", "route": "/things/{id}", "status_class": "2xx"}, 3},
		{map[string]string{"method": "POST", "route": "/things/{id}", "status_class": "4xx"}, 2},
		{map[string]string{"method": "GET", "route": "/boom", "status_class": "5xx"}, 1},
	}
	if n := len(families["http_requests_total"].GetMetric()); n != len(want) {
		t.Errorf("http_requests_total has %d series, want %d", n, len(want))
	}
	for _, w := range want {
		c := series(families, "http_requests_total", w.labels)
		if len(c) != 1 || c[0].GetCounter().GetValue() != w.count {
			t.Errorf("http_requests_total%v = %v, want one series of %v", w.labels, c, w.count)
		}
		h := series(families, "http_request_duration_seconds", w.labels)
		if len(h) != 1 || float64(h[0].GetHistogram().GetSampleCount()) != w.count {
			t.Errorf("http_request_duration_seconds%v = %v, want one series counting %v", w.labels, h, w.count)
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for k := range labelsOf(m) {
				if strings.HasPrefix(k, "otel_scope") {
					t.Errorf("%s carries scope label %s", name, k)
				}
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := families[name]; !ok && (name != "process_cpu_seconds_total" || process()) {
			t.Errorf("%s missing from /metrics", name)
		}
	}
}

// process reports whether the process collector works on this platform.
func process() bool { return strings.Contains(strings.ToLower(runtime.GOOS), "linux") }

func TestPanicIsRecordedAs500(t *testing.T) {
	b := setup(t, observability.MetricsConfig{})
	if rec := b.do(t, http.MethodGet, "/panic", nil); rec.Code != http.StatusInternalServerError {
		t.Fatalf("GET /panic: %d, want dashcore's 500", rec.Code)
	}
	spans := b.spans.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET /panic" || spans[0].Status.Code.String() != "Error" {
		t.Errorf("spans %v, want one GET /panic with status Error", spans)
	}
	families := b.scrape(t, nil)
	if c := series(families, "http_requests_total", map[string]string{"route": "/panic", "status_class": "5xx"}); len(c) != 1 || c[0].GetCounter().GetValue() != 1 {
		t.Errorf("http_requests_total for the panic: %v", c)
	}
}

func TestMetricLabelsStayBounded(t *testing.T) {
	b := setup(t, observability.MetricsConfig{})
	const n = 10_000
	for i := range n {
		if rec := b.do(t, http.MethodGet, "/things/"+strconv.Itoa(i), nil); rec.Code != http.StatusOK {
			t.Fatalf("GET: %d", rec.Code)
		}
		// A scan of paths that exist nowhere: counted, under one label.
		if rec := b.do(t, http.MethodGet, "/scan/"+strconv.Itoa(i), nil); rec.Code != http.StatusNotFound {
			t.Fatalf("GET unmatched: %d", rec.Code)
		}
	}
	b.do(t, "BREW", "/things/1", nil) // 405 from the mux, with a method outside the standard ones

	families := b.scrape(t, nil)
	want := map[[3]string]float64{
		{"GET", "/things/{id}", "2xx"}:                 n,
		{"GET", observability.UnmatchedRoute, "4xx"}:   n,
		{"OTHER", observability.UnmatchedRoute, "4xx"}: 1,
	}
	got := families["http_requests_total"].GetMetric()
	if len(got) != len(want) {
		t.Fatalf("http_requests_total has %d series after %d paths, want %d: %v", len(got), 2*n, len(want), got)
	}
	for _, m := range got {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		k := [3]string{l["method"], l["route"], l["status_class"]}
		if v, ok := want[k]; !ok || m.GetCounter().GetValue() != v {
			t.Errorf("http_requests_total%v = %v, want %v", k, m.GetCounter().GetValue(), v)
		}
	}
	if hs := families["http_request_duration_seconds"].GetMetric(); len(hs) != len(want) {
		t.Errorf("http_request_duration_seconds has %d series, want %d", len(hs), len(want))
	}
	// Each unmatched request is traced under one name too.
	names := map[string]int{}
	for _, sp := range b.spans.GetSpans() {
		names[sp.Name]++
	}
	if names["GET "+observability.UnmatchedRoute] != n || names["GET /things/{id}"] != n {
		t.Errorf("span names: %v", names)
	}
}

func TestMetricsProtection(t *testing.T) {
	tests := []struct {
		name      string
		cfg       observability.MetricsConfig
		header    http.Header
		want      int
		challenge string
	}{
		{"open", observability.MetricsConfig{}, nil, 200, ""},
		{"basic missing", observability.MetricsConfig{BasicAuthUser: "prom", BasicAuthPassword: "s3cret"}, nil, 401, "Basic"},
		{"basic wrong", observability.MetricsConfig{BasicAuthUser: "prom", BasicAuthPassword: "s3cret"}, basic("prom", "guess"), 401, "Basic"},
		{"basic right", observability.MetricsConfig{BasicAuthUser: "prom", BasicAuthPassword: "s3cret"}, basic("prom", "s3cret"), 200, ""},
		{"bearer missing", observability.MetricsConfig{BearerToken: "tok"}, nil, 401, "Bearer"},
		{"bearer wrong", observability.MetricsConfig{BearerToken: "tok"}, http.Header{"Authorization": {"Bearer nope"}}, 401, "Bearer"},
		{"bearer right", observability.MetricsConfig{BearerToken: "tok"}, http.Header{"Authorization": {"bearer tok"}}, 200, ""},
		{"both, bearer used", observability.MetricsConfig{BasicAuthUser: "u", BasicAuthPassword: "p", BearerToken: "tok"}, http.Header{"Authorization": {"Bearer tok"}}, 200, ""},
		{"both, basic used", observability.MetricsConfig{BasicAuthUser: "u", BasicAuthPassword: "p", BearerToken: "tok"}, basic("u", "p"), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, tt.cfg)
			rec := b.do(t, http.MethodGet, "/metrics", tt.header)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
			if ch := rec.Header().Get("WWW-Authenticate"); !strings.Contains(ch, tt.challenge) || (tt.challenge == "") != (ch == "") {
				t.Errorf("WWW-Authenticate %q, want one naming %q", ch, tt.challenge)
			}
			if tt.want == 200 && !strings.Contains(rec.Body.String(), "go_goroutines") {
				t.Errorf("body is not the exposition: %.200s", rec.Body)
			}
		})
	}
}

func basic(user, pass string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header
}

func TestMetricsPathFromConfig(t *testing.T) {
	b := setup(t, observability.MetricsConfig{Path: "/internal/metrics"})
	if rec := b.do(t, http.MethodGet, "/internal/metrics", nil); rec.Code != http.StatusOK {
		t.Errorf("GET /internal/metrics: %d", rec.Code)
	}
	if rec := b.do(t, http.MethodGet, "/metrics", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics: %d, want 404", rec.Code)
	}
}

func TestDisabledSDK(t *testing.T) {
	p, err := observability.New(context.Background(), observability.Config{Disabled: true}, observability.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider.Tracer("t").Start(context.Background(), "x")
	if span.SpanContext().IsValid() {
		t.Error("a disabled SDK created a real span")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := p.Registry.Gather(); err != nil {
		t.Error(err)
	}
}

func TestShutdownTwice(t *testing.T) {
	p, err := observability.New(context.Background(), observability.Config{}, observability.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
