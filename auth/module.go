package auth

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/casbin/casbin/v2/persist"
	"github.com/danielgtaylor/huma/v2"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
)

// AuthenticatorsGroup is the value group of extra authenticators, tried
// after the built-in ones (API key, JWT, session) in name order.
const AuthenticatorsGroup = "auth.authenticators"

// AsAuthenticator annotates a constructor of an Authenticator for
// AuthenticatorsGroup.
func AsAuthenticator(f any) any {
	return fx.Annotate(f, fx.As(new(Authenticator)), fx.ResultTags(`group:"`+AuthenticatorsGroup+`"`))
}

// Module guards every route of the application from the
// TAYLORDASH_AUTH_* configuration: it provides the *Authorizer, the
// *PasswordHasher, the *LoginGuard, the *RateLimiter (nil when disabled),
// the *APIKeyAuthenticator, when an issuer is configured the
// *JWTAuthenticator, and the *OriginPolicy of cookie-authenticated
// requests (the API's own origin and TAYLORDASH_HTTP_CORS_ORIGINS), and
// contributes the *Guard middleware and the *FieldFilter, which removes
// from every response the fields tagged with PermissionTag that the
// caller may not see. It uses, when
// the graph has them, a persist.Adapter and a persist.Watcher for the
// policy (authpg.Module; without them the policy is DefaultRules, in
// memory), an APIKeyStore and a SessionStore (authpg.Module; with it, the
// guard authenticates session tokens as bearer tokens and, last, in the
// session cookie of a browser login: CookieAuthenticator), an Auditor,
// and extra authenticators (AsAuthenticator).
var Module = fx.Module("auth",
	dashcore.ProvideConfig[Config](),
	fx.Provide(
		newModuleAuthorizer,
		newModuleHasher,
		newModuleLoginGuard,
		newModuleLimiter,
		newModuleAPIKeys,
		newModuleJWT,
		newModuleOrigins,
		newModuleGuard,
		dashcore.AsMiddleware(func(g *Guard) dashcore.Middleware { return g.Middleware() }),
		newModuleFieldFilter,
		dashcore.AsTransformer(func(f *FieldFilter) dashcore.Transformer { return f.Transformer() }),
		dashcore.AsRoutes(newSecurityRoutes),
	),
)

type authorizerParams struct {
	fx.In
	Adapter   persist.Adapter `optional:"true"`
	Watcher   persist.Watcher `optional:"true"`
	Logger    *slog.Logger    `optional:"true"`
	Lifecycle fx.Lifecycle
}

// subjectPrefix keeps a principal's subject from being read as a role in
// the policy: direct grants name "sub:<subject>".
const subjectPrefix = "sub:"

func newModuleAuthorizer(p authorizerParams) (*Authorizer, error) {
	cfg := AuthorizerConfig{Logger: p.Logger, SubjectPrefix: subjectPrefix}
	if p.Adapter == nil {
		return NewAuthorizer(NewMemoryAdapter(DefaultRules()...), cfg)
	}
	a, err := NewUnloadedAuthorizer(p.Adapter, cfg)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: func(ctx context.Context) error {
		// The watcher first, so that a change notified while the policy
		// loads is not lost.
		if p.Watcher != nil {
			if err := a.SetWatcher(p.Watcher); err != nil {
				return fmt.Errorf("auth: watch the policy: %w", err)
			}
		}
		if err := a.Reload(ctx); err != nil {
			return fmt.Errorf("auth: load the policy: %w", err)
		}
		return nil
	}})
	return a, nil
}

func newModuleHasher(cfg Config) *PasswordHasher { return NewPasswordHasher(cfg.Password) }

func newModuleLoginGuard(cfg Config) *LoginGuard { return NewLoginGuard(cfg.Lockout, nil) }

func newModuleLimiter(cfg Config) (*RateLimiter, error) {
	if cfg.RateLimitDisabled {
		return nil, nil
	}
	return NewRateLimiter(cfg.RateLimit, nil)
}

type apiKeyParams struct {
	fx.In
	Config    Config
	Store     APIKeyStore  `optional:"true"`
	Logger    *slog.Logger `optional:"true"`
	Lifecycle fx.Lifecycle
}

func newModuleAPIKeys(p apiKeyParams) *APIKeyAuthenticator {
	cfg := p.Config.APIKeys
	cfg.BootstrapKey = p.Config.BootstrapAPIKey
	a := NewAPIKeyAuthenticator(p.Store, cfg, p.Logger)
	p.Lifecycle.Append(fx.Hook{OnStart: a.Start, OnStop: a.Stop})
	return a
}

type jwtParams struct {
	fx.In
	Config    Config
	Client    *http.Client `optional:"true"`
	Logger    *slog.Logger `optional:"true"`
	Lifecycle fx.Lifecycle
}

// newModuleJWT returns nil when no issuer is configured.
func newModuleJWT(p jwtParams) (*JWTAuthenticator, error) {
	if !p.Config.OIDC.Enabled() {
		return nil, nil
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	a, err := NewJWTAuthenticator(p.Config.OIDC, client, p.Logger)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: a.Start, OnStop: a.Stop})
	return a, nil
}

type guardParams struct {
	fx.In
	Config     Config
	Authorizer *Authorizer
	Limiter    *RateLimiter
	APIKeys    *APIKeyAuthenticator
	JWT        *JWTAuthenticator
	Origins    *OriginPolicy
	Sessions   SessionStore         `optional:"true"`
	Auditor    Auditor              `optional:"true"`
	Extra      []Authenticator      `group:"auth.authenticators"`
	Logger     *slog.Logger         `optional:"true"`
	Meter      metric.MeterProvider `optional:"true"`
}

func newModuleGuard(p guardParams) (*Guard, error) {
	auths := []Authenticator{p.APIKeys}
	if p.JWT != nil {
		auths = append(auths, p.JWT)
	}
	if p.Sessions != nil {
		auths = append(auths, NewSessionAuthenticator(p.Sessions))
	}
	extra := slices.Clone(p.Extra)
	slices.SortFunc(extra, func(a, b Authenticator) int { return cmp.Compare(a.Name(), b.Name()) })
	auths = append(auths, extra...)
	if p.Sessions != nil {
		// Last: an explicit credential always wins over the cookie.
		auths = append(auths, NewCookieAuthenticator(p.Sessions, p.Origins))
	}
	proxies, err := p.Config.RateLimit.TrustedPrefixes()
	if err != nil {
		return nil, err
	}
	return NewGuard(GuardOptions{
		Authenticators: auths,
		Authorizer:     p.Authorizer,
		Limiter:        p.Limiter,
		Auditor:        p.Auditor,
		PublicRoutes:   PublicRoutesWith(p.Config.PublicRoutes...),
		TrustedProxies: proxies,
		Logger:         p.Logger,
		MeterProvider:  p.Meter,
	})
}

type originsParams struct {
	fx.In
	Core dashcore.Config `optional:"true"`
}

// newModuleOrigins allows, for cookie-authenticated requests that change
// state, the API's own origin and the CORS origins
// (TAYLORDASH_HTTP_CORS_ORIGINS).
func newModuleOrigins(p originsParams) *OriginPolicy { return NewOriginPolicy(p.Core.HTTP.CORSOrigins) }

type fieldFilterParams struct {
	fx.In
	Authorizer *Authorizer
	Logger     *slog.Logger `optional:"true"`
}

// newModuleFieldFilter filters the response fields tagged with
// PermissionTag by the policy of the routes.
func newModuleFieldFilter(p fieldFilterParams) *FieldFilter {
	return NewFieldFilter(p.Authorizer, p.Logger)
}

// newSecurityRoutes documents the security schemes, and the public
// routes registered before it (dashcore's health probes) as public.
func newSecurityRoutes(cfg Config) dashcore.Routes {
	return dashcore.Routes{Name: "auth.security", Register: func(api huma.API) {
		DocumentSecurity(api.OpenAPI())
		DocumentPublic(api.OpenAPI(), PublicRoutesWith(cfg.PublicRoutes...))
	}}
}
