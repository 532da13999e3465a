// Package auth authenticates every request of a TaylorDash application and
// decides what it may do: bearer JWTs from an OpenID Connect issuer
// (Keycloak), API keys, local session tokens, and a Casbin role-based
// policy, with rate limits, a failed-login lockout and an audit of every
// security event. Its state (users, sessions, keys, the policy, the audit
// log) lives in PostgreSQL through
// [github.com/taylordash/taylordash/auth/authpg]; this package needs no
// database.
//
// # The request path
//
// The [Guard] is a dashcore middleware ([Guard.Middleware], at
// [GuardOrder]), so it runs after dashcore's router: the matched route and
// its operation are known, and unmatched requests (404, 405) never reach
// it. For each request it:
//
//  1. finds the requirement the matched operation declares (see Declaring
//     requirements); a route that declares none but is one of the public
//     routes counts as [Public];
//  2. takes the client's address ([ClientIP], believing X-Forwarded-For
//     only from GuardOptions.TrustedProxies) and puts it, with the
//     User-Agent, in the context ([ClientInfoFrom]);
//  3. rate-limits the client IP in the operation's rate group (429);
//  4. runs each [Authenticator] in turn: one that finds no credential of
//     its kind returns [ErrNoCredentials] and the next is tried; the first
//     to return a [Principal] wins; the first to refuse a credential (an
//     error wrapping a [*Failure]) ends the request with 401 and an
//     auth_failed audit event carrying the failure's reason, and no later
//     authenticator is tried. A [*CSRFError] (a cookie-authenticated
//     request that changes state from a page that is not allowed) ends it
//     with 403 and a csrf_refused audit event. Any other error (a store
//     that is down) is logged and answered 503, not 401. On a public
//     operation, the authenticator of the session cookie is not run;
//  5. with a principal, on an operation that is not public, rate-limits
//     the principal (by Subject) in the same group (429);
//  6. applies the requirement: a public operation is served (with the
//     principal, if a valid credential was sent); an operation that
//     declares nothing is refused with 403 to everyone, logged and audited
//     (permission_denied, reason undeclared); without a principal the
//     answer is 401 with WWW-Authenticate; an operation that needs only
//     an authenticated caller is served;
//  7. asks the [Authorizer] whether the principal has the operation's
//     permission: 403 and a permission_denied audit event if not.
//
// Refusals are RFC 9457 problems (dashcore.WriteProblem); the reason of a
// refused credential is audited and logged, never sent to the client.
//
// # Declaring requirements
//
// Every operation says who may call it, when it is registered:
//
//	huma.Register(api, auth.Require(huma.Operation{
//		OperationID: "create-project", Method: http.MethodPost, Path: "/api/v1/projects",
//	}, "projects", "write"), h.create)
//
// There are three declarations:
//
//   - [Require](op, resource, action): the caller needs the permission
//     resource:action;
//   - [RequireAuthenticated](op): any authenticated caller (GET
//     /api/v1/auth/me, logout);
//   - [Public](op, group): no credential needed; group names its rate
//     group ("" for "public"; the login uses "login").
//
// Deny by default: an operation that declares none of these is refused
// with 403, whoever calls it, so that a forgotten declaration fails closed
// and shows at once in tests. The exceptions are the routes in
// GuardOptions.PublicRoutes, ServeMux patterns that default to
// [DefaultPublicRoutes] (the health probes, /openapi.*, /docs and
// /schemas/{schema}); [PublicRoutesWith] adds to them, and the module adds
// TAYLORDASH_AUTH_PUBLIC_ROUTES.
//
// The declaration is the documentation: Require and RequireAuthenticated
// give the operation the security requirements bearer or apiKey, an
// x-permission extension ("projects:write", or "authenticated"), and a
// line of its description ("Requires permission `projects:write`.");
// Public gives it an empty security list. [DocumentSecurity] adds the two
// security schemes to the document, and [DocumentPublic] gives the public
// routes' operations an empty security list too; the module does both. A raw handler (dashcore.Routes.Handle)
// is guarded by the operation the OpenAPI document gives for its pattern:
// document it with api.OpenAPI().AddOperation of a Require'd operation.
// [RequirementOf] reads an operation's declaration back.
//
// The rate group of an operation is its RateGroup (Public's group), else
// its permission's resource ("projects"), else "public" for public
// operations and "default" for the others.
//
// # Fields filtered by permission
//
// A route's permission says who may call it; a field of its answer may
// need more. The field says so once, on the output type, with
// [PermissionTag]:
//
//	Email string `json:"email,omitempty" permission:"users:read"`
//
// The [FieldFilter] (contributed by the module as a dashcore transformer,
// [FieldFilter.Transformer]) removes from every 2xx body of a huma
// operation each tagged field the request's principal is not allowed
// ([Authorizer.Allowed], the routes' policy; no principal is allowed
// nothing). It follows nested and embedded structs, pointers, slices,
// arrays and map values, not interfaces nor types that marshal
// themselves; it copies what it changes and never modifies the handler's
// value; a type without tagged fields costs a map lookup. A tagged field
// must be omittable (omitempty on a string, number, bool, pointer, slice,
// map or interface, or omitzero), so that a removed field is absent, not
// null: [FieldFilter.Setup] checks every schema's type as operations are
// registered, and an invalid tag fails start-up with an error naming the
// type and the field. It also documents each tagged property:
// [PermissionExtension] ("x-taylordash-permission": "users:read") and the
// sentence "Present only for callers with the permission `users:read`."
// Raw handlers (dashcore.Routes.Handle, such as the event stream) are not
// filtered: they must not write tagged fields, or filter with
// [FieldFilter.Filter] themselves.
//
// # Principals
//
// A [Principal] is who the request acts as, read by handlers with
// [PrincipalFrom]. Its Subject is a local user's id (sessions), the
// token's sub (JWT), "key:<id>" (API keys) or "bootstrap" (the bootstrap
// key); its [Kind] is user, service or plugin; Roles are matched against
// the policy; Permissions, on a scoped API key, narrow what the roles
// allow; Domain is the tenant (from OIDCConfig.DomainClaim), "" without
// domains; [Method] says how it authenticated; SessionID is the session's
// or the API key's id; ExpiresAt ends the credential. Principals are not
// to be modified; code that acts on its own puts one in a context with
// [WithPrincipal].
//
// # Bearer JWTs from an OIDC issuer
//
// [JWTAuthenticator], configured by [OIDCConfig] (TAYLORDASH_AUTH_OIDC_*;
// off unless an issuer is set), takes "Authorization: Bearer" tokens
// shaped like a JWT and leaves other bearer tokens to the next
// authenticator. Start reads the issuer's discovery document and key set,
// and fails start-up if either fails or the set has no usable key.
//
//   - Signatures: the algorithm must be in the allow-list (default RS256,
//     ES256, EdDSA; only asymmetric algorithms can be configured, never
//     none or HS*), checked before any key is used, so "alg": "none" and
//     HS256 signed with the issuer's public key are refused.
//   - Claims: iss must equal the issuer; exp is required, and exp, nbf and
//     iat are checked with ClockSkew (default 30s, at most 5m); aud must
//     contain one of Audience (default the ClientID); azp, if
//     AuthorizedParties is set, must be one of them; a typ other than
//     Bearer (a Keycloak ID or refresh token) is refused; sub is required.
//   - Roles: the union of realm_access.roles and
//     resource_access.<ClientID>.roles, or the claim at RolesClaim (a dot
//     path; an array of strings or one space-separated string), sorted and
//     without duplicates. Name is preferred_username, else sub.
//   - Key set: kept by the authenticator (not a global), replaced whole by
//     every fetch, so a key the issuer removes stops verifying at the next
//     fetch. It is fetched every JWKSRefreshInterval (default 5m; a failed
//     fetch keeps the previous keys), and when a token names a kid the set
//     lacks, at most once per JWKSMinRefreshInterval (default 10s):
//     concurrent misses share one fetch, and later ones within the floor
//     are refused without a fetch, so random kids cannot make the API
//     hammer the issuer. Keys for encryption, without "verify" in key_ops,
//     of an algorithm not allowed, symmetric, private, or RSA under 2048
//     bits are left out.
//   - Cache: verified tokens are remembered (VerifiedCacheSize, default
//     10000) by their SHA-256 until their exp, or until the key that
//     signed them leaves the set.
//
// Refusals carry these reasons: malformed, alg_not_allowed, unknown_key,
// bad_signature, wrong_issuer, wrong_token_type, expired, not_yet_valid,
// issued_in_future, wrong_audience, wrong_authorized_party.
//
// # API keys
//
// [APIKeyAuthenticator] takes the X-API-Key header ([APIKeyHeader]). A key
// is td_<id>_<secret> ([NewAPIKey]): a public 12-character id and 256
// random bits, stored only as its SHA-256 ([HashSecret]; unlike a
// password, it cannot be guessed, so a slow hash adds nothing). The key is
// looked up by its id ([ParseAPIKey]) in an [APIKeyStore] and its hash
// compared in constant time; an unknown, revoked or expired key, or a
// wrong secret, is refused (unknown_key, revoked, expired, bad_secret). A
// key has roles, and optionally Permissions that narrow them: a request
// needs both. Looked-up keys are cached for APIKeyConfig.CacheTTL
// (default 5s): a key revoked through the API stops at once on the
// instance that revoked it ([APIKeyAuthenticator.Invalidate]), elsewhere
// within the TTL. last_used_at is recorded in batches every TouchInterval
// (default 30s) between Start and Stop, and once more at Stop.
//
// The bootstrap key (APIKeyConfig.BootstrapKey; TAYLORDASH_API_KEY in the
// module), at least 16 characters, is compared by hash in constant time
// and yields the principal "bootstrap" with BootstrapRoles (default
// admin): the original's single key, kept for compatibility and to make
// the first users and keys. It needs no store.
//
// # Sessions
//
// [SessionAuthenticator] takes "Authorization: Bearer tds_..." tokens
// ([NewSessionToken]: 256 random bits, stored as their SHA-256) and reads
// a [SessionStore] on every request, so a logout, a password or role
// change or a deactivation takes effect at once. It refuses an unknown
// session, a revoked one, one whose user is deactivated, one past its
// absolute expiry or unused for its idle timeout (unknown_session,
// session_revoked, user_inactive, session_expired, session_idle), and
// records use at most once a minute. The principal's roles are the
// user's one role, read with the session.
//
// A session is renewed with a refresh token ([NewRefreshToken], "tdr_"
// and 256 random bits, stored as its SHA-256), exchanged once for a new
// session and a new refresh token at authpg's POST /api/v1/auth/refresh;
// presenting one a second time revokes every session of its login
// ([AuditRefreshTokenReused]). The exchange is authpg's
// (Accounts.Refresh): no authenticator reads refresh tokens.
//
// # Cookies and CSRF
//
// The one ambient credential, which a browser sends by itself, is the
// session cookie ([SessionCookie]) of a browser login (authpg's login with
// "cookie": true), read by the [CookieAuthenticator]. Cookies are
// HttpOnly (but the CSRF cookie, which the page's script reads),
// SameSite=Strict and, under TLS, Secure ([BrowserSession.Cookies]). The
// authenticator steps aside for any request with an Authorization or
// X-API-Key header (explicit credentials win and need no CSRF proof); the
// guard does not run it on public operations. It accepts only sessions of
// a cookie login, with the checks of the [SessionAuthenticator]; on a
// request that changes state (anything but GET, HEAD, OPTIONS) it also
// requires an Origin the [OriginPolicy] allows (the API's own, or one of
// TAYLORDASH_HTTP_CORS_ORIGINS; a missing Origin is refused) and the
// login's CSRF token in [CSRFHeader], compared with its stored hash
// (synchronizer token, delivered in [CSRFCookie]): otherwise 403
// ([CSRFProblem]), counted as the decision csrf_refused with the reason
// origin_missing, origin_not_allowed, csrf_token_missing or
// csrf_token_invalid, and audited ([AuditCSRFRefused]). The principal's
// Method is [MethodCookie]; [Principal.IsLocalSession] is true for both
// kinds of session.
//
// # The policy
//
// The [Authorizer] decides from a Casbin policy ([CasbinModel]) of
// [Rule]s: "p" rules grant a role an action on a resource in a domain,
// "g" rules make a member inherit a role (in every domain); "*" in a
// rule's domain, resource or action matches anything. A principal is
// allowed a permission when one of its roles, or its own subject
// (prefixed with AuthorizerConfig.SubjectPrefix: "sub:" in the module, so
// a rule for one principal names "sub:<subject>", e.g. "sub:key:<id>"),
// is granted it in the principal's domain ([NoDomain], "-", when it has
// none: then only rules for domain "*" apply). Scoped API keys must also
// be allowed by their Permissions ([Permission.Allows]).
//
// [DefaultRules] is the default policy, which authpg's migrations seed:
// viewer reads projects, components, tasks, events and plugins and lists
// users (users:list); operator inherits viewer, writes projects,
// components, tasks and events and reads the dead-letter queue (dlq) and
// the audit log (audit:read); admin inherits operator and may do anything
// (users:read, keys, policies, plugins, events:admin, the dlq's writes,
// ...).
//
// Decisions read an immutable snapshot and are cached, so they cost well
// under a microsecond and never wait for a change. [Authorizer.AddRules]
// and [Authorizer.RemoveRules] validate the rules ([Rule.Validate]), write
// them through the Casbin adapter (in one transaction with an
// [AtomicAdapter], all or none), swap in the new snapshot, then tell the
// other instances through the watcher ([Authorizer.SetWatcher]), whose
// callback reloads ([Authorizer.Reload]). [MemoryAdapter] keeps a policy in
// memory, for applications without a database and for tests.
//
// # Rate limits and lockout
//
// [RateLimiter] ([RateLimitConfig], TAYLORDASH_AUTH_RATE_LIMIT_*) keeps a
// token bucket per rate group, kind and key: per client IP (IPv6 by /64),
// default 20/1s:40, and per principal, default 50/1s:100; Groups
// overrides some groups, "login.ip=10/1m:10" by default (the syntax is
// group[.ip|.principal]=events/period[:burst], see [ParseRate]). Every
// answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset
// ([Decision.SetHeaders]); a 429 also carries Retry-After. Buckets are in
// memory, per instance, bounded by MaxKeys and dropped when idle.
//
// [LoginGuard] ([LockoutConfig], TAYLORDASH_AUTH_LOCKOUT_*) counts failed
// logins per username (ignoring case) and per client IP within a sliding
// Window (default 1m). The failure that reaches MaxFailures (5) for a
// username, or MaxFailuresPerIP (20) for an IP, starts a lockout of
// LockoutDuration (5m), doubled at each repeat up to MaxLockoutDuration
// (1h); attempts during it are refused with 429 and Retry-After before
// any password is checked. A success clears the username's count, not the
// IP's.
//
// [PasswordHasher] ([PasswordConfig], TAYLORDASH_AUTH_PASSWORD_*) hashes
// with Argon2id (default m=19456 KiB, t=2, p=1), verifies bcrypt hashes
// migrated from the original (and asks for a rehash), bounds the hashes
// computed at once (MaxConcurrent), and applies the password policy
// ([PasswordHasher.Check]: length, common passwords, the username).
// [PasswordHasher.VerifyDummy] spends the time of a check for unknown
// usernames.
//
// # Audit events
//
// An [Auditor] records [AuditEvent]s: the Audit* constants. The guard
// writes auth_failed, permission_denied, csrf_refused and rate_limited (a
// flood of 429s once a minute per client or principal); authpg writes
// the others (login_success, login_failed, logout, lockout,
// session_refreshed, refresh_token_reused, refresh_failed, user_*,
// password_changed, sessions_revoked, key_created, key_revoked,
// policy_changed). authpg's AuditLog stores them in auth_audit_log and,
// when the application has an event-bus outbox, publishes each on
// tracker/events/auth/<type> in the same transaction, without the client's
// address, user agent or details (see authpg.PublishedAudit). A failure to audit
// is logged and does not change the answer. [AuditEvent]'s IP, UserAgent
// and Details are tagged users:read: the audit API shows them to admins,
// not to an operator, who reads who did what (audit:read).
//
// # With fx
//
// [Module] reads [Config] and provides the [*Authorizer],
// [*PasswordHasher], [*LoginGuard], [*RateLimiter] (nil when
// TAYLORDASH_AUTH_RATE_LIMIT_DISABLED), [*APIKeyAuthenticator] and, with
// an issuer, [*JWTAuthenticator] (started and stopped with the
// application), and the [*OriginPolicy] (the CORS origins of dashcore's
// configuration); it contributes the Guard, the [*FieldFilter] (as a
// dashcore transformer) and the security schemes. Its
// authenticators are, in order: API key, JWT, session (when a
// [SessionStore] is in the graph), those contributed with
// [AsAuthenticator], by name, and last the session cookie (with a
// SessionStore). It takes the policy from a persist.Adapter
// and persist.Watcher in the graph, loaded on start (nothing is allowed
// before), or else uses DefaultRules in memory. authpg.Module provides the
// adapter, watcher, stores and auditor, and authpg.HTTPModule the auth
// API:
//
//	dashcore.Run(ctx, dashcore.Module, store.Module, auth.Module, authpg.Module, authpg.HTTPModule, ...)
//
// # Without fx
//
// Every part is a plain constructor: [NewAuthorizer],
// [NewAPIKeyAuthenticator], [NewJWTAuthenticator] (then Start and Stop),
// [NewSessionAuthenticator], [NewCookieAuthenticator] (last),
// [NewRateLimiter], [NewLoginGuard], [NewFieldFilter] (its Transformer
// goes into dashcore.HandlerOptions.Transformers),
// [NewPasswordHasher], and [NewGuard], whose Middleware goes into
// [dashcore.HandlerOptions].Middleware (see the package example). The
// guard needs dashcore's router in front of it ([dashcore.NewHandler]),
// which tells it the matched route and operation: wrapped around any
// other handler, it finds neither and refuses every request with 403.
package auth
