package dashcore

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// Info describes the API in its OpenAPI document. Supply one with
// fx.Supply(dashcore.Info{...}); the zero value means "TaylorDash API" 1.0.0.
type Info struct {
	// Title is the API's name.
	Title string
	// Version is the API's version (not the OpenAPI version).
	Version string
	// Description is Markdown shown at the top of the docs page.
	Description string
}

func (i Info) withDefaults() Info {
	if i.Title == "" {
		i.Title = "TaylorDash API"
	}
	if i.Version == "" {
		i.Version = "1.0.0"
	}
	return i
}

// Routes is a module's contribution to the API. Register adds typed huma
// operations (documented in the OpenAPI document); Handle, if set, adds
// plain net/http handlers to the ServeMux (streams, /metrics, anything that
// is not JSON in and out) which still run behind the whole middleware
// chain. Routes are registered sorted by Name, so the OpenAPI document is
// the same on every start.
type Routes struct {
	// Name identifies the contribution, e.g. "projects"; unique per app.
	Name string
	// Register adds huma operations to api.
	Register func(api huma.API)
	// Handle adds raw handlers, with Go 1.22 ServeMux patterns.
	Handle func(mux *http.ServeMux)
}

// Middleware is a contributed HTTP middleware. It runs after the core
// chain (security headers, request id, access log, panic recovery, CORS)
// and after routing, so RequestInfoFrom(ctx).Pattern is known. Requests
// that match no route (answered 404 or 405) reach only the middleware that
// sets Unmatched, with an empty Pattern. Lower Order runs first
// (outermost); ties are broken by Name.
type Middleware struct {
	// Name identifies the middleware in errors and ordering.
	Name string
	// Order places the middleware; lower runs first.
	Order int
	// Wrap returns next wrapped by the middleware.
	Wrap func(next http.Handler) http.Handler
	// Unmatched also runs the middleware for requests that match no route,
	// around dashcore's 404/405 problem response: for instrumentation that
	// must count every request. Middleware that decides access (and would
	// otherwise answer 401/403 for a path that does not exist) leaves it
	// false.
	Unmatched bool
}

// HandlerOptions is everything NewHandler composes.
type HandlerOptions struct {
	// Config configures limits, CORS and health timeouts.
	Config HTTPConfig
	// ServiceName is reported by the health endpoints.
	ServiceName string
	// Info describes the API in OpenAPI.
	Info Info
	// Logger receives access logs, panics and internal errors.
	Logger *slog.Logger
	// Routes, Checks and Middleware are the modules' contributions.
	Routes []Routes
	// Checks are the readiness checks run by GET /health/ready.
	Checks []HealthCheck
	// Middleware is the contributed middleware.
	Middleware []Middleware
	// Transformers are the contributed response transformers, run in
	// Name order before dashcore's own.
	Transformers []Transformer
}

// NewHandler builds the application's HTTP handler: a ServeMux with a huma
// API (OpenAPI 3.1 at /openapi.json and /openapi.yaml, docs at /docs),
// the health endpoints, every contribution, and the middleware chain. It
// returns the huma API too, for callers that add operations themselves.
// A contribution that panics while registering (a duplicate route, a bad
// operation) is returned as an error naming it.
func NewHandler(opts HandlerOptions) (http.Handler, huma.API, error) {
	cfg := opts.Config.WithDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	limits := &bodyLimits{def: cfg.MaxBodyBytes, patterns: map[string]bodyLimit{}}

	info := opts.Info.withDefaults()
	hc := huma.DefaultConfig(info.Title, info.Version)
	hc.Info.Description = info.Description
	hc.CreateHooks = nil // no $schema links in bodies
	transformers, chain, err := transformerChain(opts.Transformers, (&problemTransformer{log: log}).transform)
	if err != nil {
		return nil, nil, err
	}
	hc.Transformers = chain
	// The adapter sees every operation, hidden ones included (OnAddOperation
	// sees only documented ones), and records its body limit for the router.
	api := huma.NewAPI(hc, &muxAdapter{Adapter: humago.NewAdapter(mux, ""), limits: limits})
	if err := setupTransformers(api, transformers); err != nil {
		return nil, nil, err
	}

	if err := validateChecks(opts.Checks); err != nil {
		return nil, nil, err
	}
	registerHealth(api, healthOptions{service: opts.ServiceName, timeout: cfg.HealthTimeout, checks: opts.Checks, log: log})

	routes := slices.Clone(opts.Routes)
	slices.SortFunc(routes, func(a, b Routes) int { return cmp.Compare(a.Name, b.Name) })
	for i, r := range routes {
		if i > 0 && routes[i-1].Name == r.Name {
			return nil, nil, fmt.Errorf("dashcore: two route contributions are named %q; names must be unique", r.Name)
		}
		if err := registerRoutes(api, mux, r); err != nil {
			return nil, nil, err
		}
	}
	documentRequestID(api)

	mws := slices.Clone(opts.Middleware)
	slices.SortFunc(mws, func(a, b Middleware) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name))
	})
	var inner http.Handler = mux
	rt := &router{mux: mux, limits: limits, oapi: api.OpenAPI()}
	var unmatched http.Handler = http.HandlerFunc(rt.unmatched)
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i].Wrap == nil {
			return nil, nil, fmt.Errorf("dashcore: middleware %q has no Wrap function", mws[i].Name)
		}
		inner = mws[i].Wrap(inner)
		if mws[i].Unmatched {
			unmatched = mws[i].Wrap(unmatched)
		}
	}
	rt.next, rt.unmatchedChain = inner, unmatched

	var h http.Handler = rt
	if c := corsMiddleware(cfg); c != nil {
		h = c(h)
	}
	h = recoverMiddleware(log)(h)
	h = accessLogMiddleware(log)(h)
	h = requestIDMiddleware(h)
	h = securityHeadersMiddleware(h)
	return h, api, nil
}

func registerRoutes(api huma.API, mux *http.ServeMux, r Routes) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("dashcore: register routes %q: %v", r.Name, v)
		}
	}()
	if r.Register != nil {
		r.Register(api)
	}
	if r.Handle != nil {
		r.Handle(mux)
	}
	return nil
}

// documentRequestID adds the request_id member to the error schema, since
// the problem transformer adds it to every error body.
func documentRequestID(api huma.API) {
	s := api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[huma.ErrorModel](), true, "")
	if s.Ref != "" {
		s = api.OpenAPI().Components.Schemas.SchemaFromRef(s.Ref)
	}
	if s == nil || s.Properties == nil {
		return
	}
	s.Properties["request_id"] = &huma.Schema{
		Type:        "string",
		Description: "The X-Request-ID of the request, for support and logs.",
		Examples:    []any{"0f8fad5bd9cb469fa16570867728950e"},
	}
}

// problemTransformer turns every error body that huma writes into a
// Problem with the request id, and keeps internals out of 5xx bodies:
// their causes are logged here, once, with the request id.
type problemTransformer struct {
	log *slog.Logger
}

func (p *problemTransformer) transform(ctx huma.Context, _ string, v any) (any, error) {
	reqCtx := ctx.Context()
	id := RequestID(reqCtx)
	switch e := v.(type) {
	case *huma.ErrorModel:
		if e.Status >= 500 {
			msgs := make([]string, 0, len(e.Errors))
			for _, d := range e.Errors {
				msgs = append(msgs, d.Message)
			}
			p.logInternal(ctx, e.Status, e.Detail+": "+strings.Join(msgs, "; "))
		}
		detail := e.Detail
		var max int64
		if _, err := fmt.Sscanf(detail, "request body is too large limit=%d bytes", &max); err == nil && e.Status == http.StatusRequestEntityTooLarge {
			detail = tooLargeDetail(max - 1) // huma refuses a body of exactly max bytes
		}
		return problemFor(e.Status, detail, e.Errors, id), nil
	case *Error:
		status := e.GetStatus()
		if status >= 500 && e.Err != nil {
			p.logInternal(ctx, status, e.Error())
		}
		return problemFor(status, e.Detail, e.Fields, id), nil
	case *Kind:
		return problemFor(e.status, e.msg, nil, id), nil
	}
	return v, nil
}

func (p *problemTransformer) logInternal(ctx huma.Context, status int, msg string) {
	op := ctx.Operation()
	p.log.ErrorContext(ctx.Context(), "request failed",
		slog.Int("status", status),
		slog.String("error", msg),
		slog.String("operation", op.OperationID),
		slog.String("method", op.Method),
		slog.String("route", op.Path),
		slog.String("request_id", RequestID(ctx.Context())),
	)
}

// ExampleResponse documents body as the JSON example of the response with
// status; huma adds the schema from the handler's output type. Use it as
// huma.Operation.Responses.
func ExampleResponse(status int, body any) map[string]*huma.Response {
	return map[string]*huma.Response{strconv.Itoa(status): {
		Content: map[string]*huma.MediaType{"application/json": {Example: body}},
	}}
}

// ExampleRequest documents body as the JSON example of the request body;
// huma adds the schema from the handler's input type. Use it as
// huma.Operation.RequestBody.
func ExampleRequest(body any) *huma.RequestBody {
	return &huma.RequestBody{Content: map[string]*huma.MediaType{"application/json": {Example: body}}}
}
