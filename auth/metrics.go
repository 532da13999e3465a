package auth

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// The guard's metric names. With a Prometheus exporter (the observability
// module) they are served as taylordash_auth_decisions_total,
// taylordash_auth_failures_total and taylordash_auth_rate_limited_total.
const (
	// MetricDecisions counts the guard's decisions, by decision and by
	// authentication method. Decisions: allowed, public (an open route),
	// unauthenticated (401, no credential), invalid_credentials (401),
	// forbidden (403, permission missing), undeclared (403, the route
	// declares no requirement), csrf_refused (403, a cookie-authenticated
	// request that changes state without an allowed Origin or a valid
	// CSRF token), rate_limited (429), unavailable (503, a credential
	// store is down). Methods: the [Method] of the principal (api_key,
	// jwt, session, cookie, bootstrap_key, or an extra authenticator's),
	// or none.
	MetricDecisions = "taylordash.auth.decisions"
	// MetricFailures counts refused credentials by reason code (the
	// [Failure] reason: expired, bad_signature, revoked, ...; the
	// [CSRFError] reason: origin_missing, origin_not_allowed,
	// csrf_token_missing, csrf_token_invalid).
	MetricFailures = "taylordash.auth.failures"
	// MetricRateLimited counts requests refused by a rate limit, by scope
	// (ip or principal) and rate-limit group.
	MetricRateLimited = "taylordash.auth.rate_limited"
)

// Decision labels of [MetricDecisions].
const (
	decisionAllowed     = "allowed"
	decisionPublic      = "public"
	decisionUnauth      = "unauthenticated"
	decisionInvalid     = "invalid_credentials"
	decisionForbidden   = "forbidden"
	decisionUndeclared  = "undeclared"
	decisionCSRF        = "csrf_refused"
	decisionRateLimited = "rate_limited"
	decisionUnavailable = "unavailable"
)

// guardMetrics records the guard's decisions. Attribute sets are built once
// per label combination; every label comes from a bounded set.
type guardMetrics struct {
	decisions   metric.Int64Counter
	failures    metric.Int64Counter
	rateLimited metric.Int64Counter
	opts        sync.Map // [2]string or [3]string → metric.MeasurementOption
}

func newGuardMetrics(mp metric.MeterProvider) *guardMetrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/taylordash/taylordash/auth")
	nm := noop.NewMeterProvider().Meter("")
	g := &guardMetrics{}
	var err error
	if g.decisions, err = m.Int64Counter(MetricDecisions, metric.WithUnit("{request}"),
		metric.WithDescription("Decisions of the auth guard, by decision and authentication method.")); err != nil {
		g.decisions, _ = nm.Int64Counter("")
	}
	if g.failures, err = m.Int64Counter(MetricFailures, metric.WithUnit("{request}"),
		metric.WithDescription("Credentials refused by the auth guard, by reason code.")); err != nil {
		g.failures, _ = nm.Int64Counter("")
	}
	if g.rateLimited, err = m.Int64Counter(MetricRateLimited, metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by a rate limit, by scope (ip or principal) and group.")); err != nil {
		g.rateLimited, _ = nm.Int64Counter("")
	}
	return g
}

func (g *guardMetrics) option(key any, kv ...attribute.KeyValue) metric.MeasurementOption {
	if v, ok := g.opts.Load(key); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := g.opts.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(kv...)))
	return v.(metric.MeasurementOption)
}

func (g *guardMetrics) decision(ctx context.Context, decision string, p *Principal) {
	method := "none"
	if p != nil && p.Method != "" {
		method = boundedLabel(string(p.Method))
	}
	g.decisions.Add(ctx, 1, g.option([2]string{decision, method},
		attribute.String("decision", decision), attribute.String("method", method)))
}

func (g *guardMetrics) failure(ctx context.Context, reason string) {
	reason = boundedLabel(reason)
	g.failures.Add(ctx, 1, g.option([1]string{reason}, attribute.String("reason", reason)))
}

func (g *guardMetrics) limited(ctx context.Context, scope LimitKind, group string) {
	group = boundedLabel(group)
	g.rateLimited.Add(ctx, 1, g.option([3]string{"rl", string(scope), group},
		attribute.String("scope", string(scope)), attribute.String("group", group)))
}

// boundedLabel keeps a label value that code chose (a reason code, a
// method, a rate-limit group: short, lower-case, with _ . - and digits) and
// replaces anything else with "other", so that an authenticator that puts
// data in a reason cannot blow up the label set.
func boundedLabel(s string) string {
	if s == "" || len(s) > 40 {
		return "other"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' {
			return "other"
		}
	}
	return s
}
