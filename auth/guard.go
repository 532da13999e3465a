package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/taylordash/taylordash/dashcore"
)

// GuardOrder is where the guard sits in the contributed middleware chain
// (see dashcore.Middleware): early, so that nothing after it runs for a
// refused request.
const GuardOrder = -1000

// DefaultPublicRoutes are the routes that need no credential although
// they declare no requirement: the health probes, the API's own
// documentation, and the Prometheus scrape endpoint (which applies its own
// basic or bearer protection when configured).
var DefaultPublicRoutes = []string{
	"GET /health/live", "GET /health/ready",
	"GET /openapi.json", "GET /openapi.yaml", "GET /openapi-3.0.json", "GET /openapi-3.0.yaml",
	"GET /docs", "GET /schemas/{schema}",
	// /metrics protects itself (observability.MetricsConfig).
	"GET /metrics",
}

// GuardOptions is what a [Guard] is made of.
type GuardOptions struct {
	// Authenticators are tried in order; the first to return a principal
	// wins, the first to refuse a credential ends the request with 401
	// (403 for a [*CSRFError]). Put a [CookieAuthenticator] last, so that
	// an explicit credential wins over the cookie.
	Authenticators []Authenticator
	// Authorizer decides permissions. Required.
	Authorizer *Authorizer
	// Limiter, if set, applies rate limits per client IP (before
	// authentication) and per principal (after).
	Limiter *RateLimiter
	// Auditor, if set, records failed authentications, refusals and rate
	// limiting.
	Auditor Auditor
	// PublicRoutes are ServeMux patterns ("GET /health/live") open to all
	// although they declare nothing; nil means DefaultPublicRoutes.
	PublicRoutes []string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (see [ClientIP]).
	TrustedProxies []netip.Prefix
	// Logger receives authentication errors that are not the caller's
	// fault (a store that is down).
	Logger *slog.Logger
	// MeterProvider, if set, receives the decision, failure and
	// rate-limit counters ([MetricDecisions], [MetricFailures],
	// [MetricRateLimited]).
	MeterProvider metric.MeterProvider
}

// Guard is the HTTP middleware that authenticates every request, puts the
// [Principal] in its context, and enforces the requirement the matched
// operation declares ([Require], [RequireAuthenticated], [Public]). A
// route that declares nothing is refused with 403 unless it is one of the
// public routes: deny by default.
type Guard struct {
	opts    GuardOptions
	public  map[string]bool
	log     *slog.Logger
	metrics *guardMetrics

	// throttled remembers when a refusal was last audited per client or
	// principal, so that a flood of refused requests writes one audit
	// event a minute each, not one per request.
	mu        sync.Mutex
	throttled map[string]time.Time
}

// auditEvery is the least time between two audited refusals of one kind
// for one client or principal.
const auditEvery = time.Minute

// NewGuard returns a guard.
func NewGuard(opts GuardOptions) (*Guard, error) {
	if opts.Authorizer == nil {
		return nil, errors.New("auth: a guard needs an Authorizer")
	}
	routes := opts.PublicRoutes
	if routes == nil {
		routes = DefaultPublicRoutes
	}
	g := &Guard{opts: opts, public: map[string]bool{}, log: opts.Logger, throttled: map[string]time.Time{},
		metrics: newGuardMetrics(opts.MeterProvider)}
	for _, r := range routes {
		g.public[r] = true
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g, nil
}

// Middleware returns the guard as a dashcore middleware.
func (g *Guard) Middleware() dashcore.Middleware {
	return dashcore.Middleware{Name: "auth", Order: GuardOrder, Wrap: g.Wrap}
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, next)
	})
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	ri := dashcore.RequestInfoFrom(ctx)
	var req Requirement
	declared := false
	if ri != nil {
		req, declared = RequirementOf(ri.Operation)
		if !declared && g.public[ri.Pattern] {
			req, declared = Requirement{Public: true}, true
		}
	}
	ip := ClientIP(r, g.opts.TrustedProxies)
	ctx = WithClientInfo(ctx, ClientInfo{IP: ip, UserAgent: r.UserAgent()})
	r = r.WithContext(ctx)
	var ipDecision Decision
	if g.opts.Limiter != nil {
		ipDecision = g.opts.Limiter.Allow(req.group(), LimitIP, ip)
		if !ipDecision.Allowed {
			g.metrics.limited(ctx, LimitIP, req.group())
			g.refuseRate(w, r, ipDecision, ip, nil)
			return
		}
	}

	p, err := g.authenticate(r, req.Public)
	if err != nil {
		var csrf *CSRFError
		if errors.As(err, &csrf) {
			g.metrics.decision(ctx, decisionCSRF, nil)
			g.metrics.failure(ctx, csrf.Reason)
			g.audit(r, ip, nil, AuditCSRFRefused, map[string]any{"reason": csrf.Reason, "error": err.Error(), "route": patternOf(ri)})
			dashcore.WriteProblem(w, r, http.StatusForbidden, CSRFProblem)
			return
		}
		if !isFailure(err) {
			g.metrics.decision(ctx, decisionUnavailable, nil)
			g.log.ErrorContext(ctx, "auth: authentication could not complete", "err", err)
			dashcore.WriteProblem(w, r, http.StatusServiceUnavailable, "authentication is temporarily unavailable; try again shortly")
			return
		}
		g.metrics.decision(ctx, decisionInvalid, nil)
		g.metrics.failure(ctx, ReasonOf(err))
		g.audit(r, ip, nil, AuditAuthFailed, map[string]any{"reason": ReasonOf(err), "error": err.Error()})
		w.Header().Set("WWW-Authenticate", `Bearer realm="taylordash", error="invalid_token"`)
		dashcore.WriteProblem(w, r, http.StatusUnauthorized, "the credentials are not valid")
		return
	}
	if p != nil {
		ctx = WithPrincipal(ctx, p)
		r = r.WithContext(ctx)
	}
	if g.opts.Limiter != nil {
		// The headers tell the limit that binds the caller: the
		// principal's when it has one, else the client's.
		if p != nil && !req.Public {
			d := g.opts.Limiter.Allow(req.group(), LimitPrincipal, p.Subject)
			if !d.Allowed {
				g.metrics.limited(ctx, LimitPrincipal, req.group())
				g.refuseRate(w, r, d, ip, p)
				return
			}
			d.SetHeaders(w.Header())
		} else {
			ipDecision.SetHeaders(w.Header())
		}
	}
	switch {
	case req.Public:
		g.metrics.decision(ctx, decisionPublic, p)
		next.ServeHTTP(w, r)
		return
	case !declared:
		g.metrics.decision(ctx, decisionUndeclared, p)
		g.log.WarnContext(ctx, "auth: refused a route that declares no permission; declare one with auth.Require or auth.Public",
			"pattern", patternOf(ri))
		g.audit(r, ip, p, AuditPermissionDenied, map[string]any{"reason": "undeclared", "route": patternOf(ri)})
		dashcore.WriteProblem(w, r, http.StatusForbidden, "this operation is not open to any caller")
		return
	case p == nil:
		g.metrics.decision(ctx, decisionUnauth, nil)
		w.Header().Set("WWW-Authenticate", `Bearer realm="taylordash"`)
		dashcore.WriteProblem(w, r, http.StatusUnauthorized, "authentication is required: send a bearer token or an X-API-Key")
		return
	case req.Authenticated:
		g.metrics.decision(ctx, decisionAllowed, p)
		next.ServeHTTP(w, r)
		return
	}
	if !g.opts.Authorizer.Allowed(p, req.Permission) {
		g.metrics.decision(ctx, decisionForbidden, p)
		g.audit(r, ip, p, AuditPermissionDenied, map[string]any{
			"permission": req.Permission.String(), "roles": p.Roles, "route": patternOf(ri)})
		dashcore.WriteProblem(w, r, http.StatusForbidden, "permission "+req.Permission.String()+" is required")
		return
	}
	g.metrics.decision(ctx, decisionAllowed, p)
	next.ServeHTTP(w, r)
}

// ambientAuthenticator is an authenticator of a credential the browser
// sends by itself (the session cookie).
type ambientAuthenticator interface{ ambient() }

// authenticate runs the authenticators in order; on a public operation,
// not those of ambient credentials: a public operation needs no
// principal, and a stale cookie must not refuse a login.
func (g *Guard) authenticate(r *http.Request, public bool) (*Principal, error) {
	for _, a := range g.opts.Authenticators {
		if _, ok := a.(ambientAuthenticator); ok && public {
			continue
		}
		p, err := a.Authenticate(r.Context(), r)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, nil
}

func (g *Guard) refuseRate(w http.ResponseWriter, r *http.Request, d Decision, ip string, p *Principal) {
	g.metrics.decision(r.Context(), decisionRateLimited, p)
	d.SetHeaders(w.Header())
	who := "ip:" + ip
	if p != nil {
		who = "principal:" + p.Subject
	}
	if g.first(AuditRateLimited, who) {
		g.audit(r, ip, p, AuditRateLimited, map[string]any{"route": patternOf(dashcore.RequestInfoFrom(r.Context())),
			"note": "further refusals of this client within a minute are not audited"})
	}
	dashcore.WriteProblem(w, r, http.StatusTooManyRequests, "too many requests; retry after the time in Retry-After")
}

// first reports whether a refusal of kind for who is the first in
// auditEvery (and records it).
func (g *Guard) first(kind, who string) bool {
	now := time.Now()
	key := kind + " " + who
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.throttled[key]; ok && now.Sub(last) < auditEvery {
		return false
	}
	if len(g.throttled) >= 100000 {
		for k, at := range g.throttled {
			if now.Sub(at) >= auditEvery {
				delete(g.throttled, k)
			}
		}
		if len(g.throttled) >= 100000 {
			clear(g.throttled)
		}
	}
	g.throttled[key] = now
	return true
}

func (g *Guard) audit(r *http.Request, ip string, p *Principal, typ string, details map[string]any) {
	if g.opts.Auditor == nil {
		return
	}
	e := NewAuditEvent(typ, r, ip, p)
	e.Outcome = "failure"
	e.Details = details
	if err := g.opts.Auditor.Audit(r.Context(), e); err != nil {
		g.log.WarnContext(r.Context(), "auth: write audit event", "type", typ, "err", err)
	}
}

// isFailure reports whether err is the caller's fault (a bad credential)
// rather than ours (a store that is down).
func isFailure(err error) bool {
	var f *Failure
	return errors.As(err, &f)
}

func patternOf(ri *dashcore.RequestInfo) string {
	if ri == nil {
		return ""
	}
	return ri.Pattern
}

// PublicRoutesWith returns DefaultPublicRoutes and more.
func PublicRoutesWith(more ...string) []string {
	return append(slices.Clone(DefaultPublicRoutes), more...)
}
