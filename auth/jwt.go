package auth

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/taylordash/taylordash/dashcore"
)

// OIDC configuration defaults.
const (
	// DefaultClockSkew is the default OIDCConfig.ClockSkew.
	DefaultClockSkew = 30 * time.Second
	// DefaultJWKSRefreshInterval is the default
	// OIDCConfig.JWKSRefreshInterval.
	DefaultJWKSRefreshInterval = 5 * time.Minute
	// DefaultJWKSMinRefreshInterval is the default
	// OIDCConfig.JWKSMinRefreshInterval: Keycloak's own adapters'
	// min-time-between-jwks-requests.
	DefaultJWKSMinRefreshInterval = 10 * time.Second
	// DefaultVerifiedCacheSize is the default OIDCConfig.VerifiedCacheSize.
	DefaultVerifiedCacheSize = 10000
	// DefaultDiscoveryTimeout is the default OIDCConfig.DiscoveryTimeout.
	DefaultDiscoveryTimeout = 10 * time.Second
)

// maxClockSkew bounds OIDCConfig.ClockSkew.
const maxClockSkew = 5 * time.Minute

// maxTokenBytes bounds the bearer tokens the JWTAuthenticator decodes.
// Keycloak's access tokens are 1-4 KB, more with many roles or groups.
const maxTokenBytes = 64 << 10

// asymmetricAlgorithms are the JWS algorithms OIDCConfig.Algorithms may
// list: signatures verified with a public key.
var asymmetricAlgorithms = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.EdDSA,
}

// OIDCConfig configures bearer JWT authentication against an OpenID
// Connect issuer such as a Keycloak realm. Fields with an env tag are read
// from TAYLORDASH_AUTH_OIDC_* variables by dashcore. The zero value (no
// Issuer) is valid and means OIDC is disabled.
type OIDCConfig struct {
	// Issuer is the issuer's URL, exactly as in its tokens' iss, e.g.
	// https://keycloak.example.com/realms/taylordash (Keycloak's has no
	// trailing slash). Discovery reads Issuer +
	// "/.well-known/openid-configuration". Empty disables OIDC.
	Issuer string `env:"ISSUER" expect:"the issuer URL, such as https://keycloak.example.com/realms/taylordash"`
	// Audience lists the accepted aud values: a token is accepted when at
	// least one of its audiences is listed. Default: ClientID. Keycloak
	// puts a client in aud only through an audience mapper (or
	// "Included Client Audience"); its default aud is "account".
	Audience []string `env:"AUDIENCE"`
	// ClientID is this API's client in the issuer: its roles are read
	// from resource_access.<ClientID>.roles. Optional.
	ClientID string `env:"CLIENT_ID"`
	// AuthorizedParties, if set, lists the accepted azp values (the
	// clients that requested the token, e.g. the web front end). Default:
	// any.
	AuthorizedParties []string `env:"AUTHORIZED_PARTIES"`
	// RolesClaim is the dot path of the claim holding the roles, e.g.
	// "groups" or "realm_access.roles": an array of strings, or one string
	// of space-separated roles. Default: the union of realm_access.roles
	// and resource_access.<ClientID>.roles. A path cannot reach a key
	// that contains a dot.
	RolesClaim string `env:"ROLES_CLAIM" expect:"a dot path such as groups or realm_access.roles"`
	// DomainClaim, if set, is the dot path of the claim holding the
	// principal's tenant (Principal.Domain): a string, or an array of one
	// string. Default: none (no domains).
	DomainClaim string `env:"DOMAIN_CLAIM" expect:"a dot path such as tenant"`
	// Algorithms lists the accepted signature algorithms; only asymmetric
	// ones (RS*, PS*, ES*, EdDSA) may be listed, never none or HS*. Keys
	// of other algorithms in the issuer's key set are ignored. Default:
	// RS256, ES256, EdDSA.
	Algorithms []string `env:"ALGORITHMS" expect:"a comma-separated list of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"`
	// ClockSkew is the clock difference tolerated with the issuer, applied
	// to exp, nbf and iat. Default 30s; at most 5m.
	ClockSkew time.Duration `env:"CLOCK_SKEW"`
	// JWKSRefreshInterval is how often the issuer's key set is fetched in
	// the background; a key the issuer removes stops verifying tokens (and
	// the tokens it signed leave the cache) at the next fetch. Default 5m.
	JWKSRefreshInterval time.Duration `env:"JWKS_REFRESH_INTERVAL"`
	// JWKSMinRefreshInterval is the least time between two fetches
	// caused by tokens whose kid is not in the key set. Default 10s, as
	// Keycloak's adapters: a token signed with a key the issuer has just
	// made waits at most that long, and tokens with random kids cause at
	// most 6 fetches a minute per instance.
	JWKSMinRefreshInterval time.Duration `env:"JWKS_MIN_REFRESH_INTERVAL"`
	// VerifiedCacheSize is how many verified tokens are remembered (least
	// recently used first out), so that a token seen before costs a hash
	// and a map lookup instead of a signature verification. A cached token
	// is dropped at its exp and when the key that signed it leaves the key
	// set. Default 10000; -1 disables the cache.
	VerifiedCacheSize int `env:"VERIFIED_CACHE_SIZE"`
	// DiscoveryTimeout bounds the discovery request and every key set
	// fetch. Default 10s.
	DiscoveryTimeout time.Duration `env:"DISCOVERY_TIMEOUT"`
}

// Enabled reports whether c configures an issuer.
func (c OIDCConfig) Enabled() bool { return c.Issuer != "" }

// WithDefaults returns c with zero fields set to their defaults.
func (c OIDCConfig) WithDefaults() OIDCConfig {
	if len(c.Audience) == 0 && c.ClientID != "" {
		c.Audience = []string{c.ClientID}
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{oidc.RS256, oidc.ES256, oidc.EdDSA}
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.JWKSRefreshInterval == 0 {
		c.JWKSRefreshInterval = DefaultJWKSRefreshInterval
	}
	if c.JWKSMinRefreshInterval == 0 {
		c.JWKSMinRefreshInterval = DefaultJWKSMinRefreshInterval
	}
	if c.VerifiedCacheSize == 0 {
		c.VerifiedCacheSize = DefaultVerifiedCacheSize
	}
	if c.DiscoveryTimeout == 0 {
		c.DiscoveryTimeout = DefaultDiscoveryTimeout
	}
	return c
}

// Validate reports every field that cannot work, naming the field and the
// fix. It checks c as given; call it on c.WithDefaults(). A disabled
// configuration (no Issuer) is valid.
func (c OIDCConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	bad := func(field, problem string) {
		errs = append(errs, &dashcore.FieldError{Field: field, Problem: problem})
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		bad("Issuer", "must be an http(s) URL without query, such as https://keycloak.example.com/realms/taylordash")
	}
	if len(c.Audience) == 0 && c.ClientID == "" { // WithDefaults fills Audience from ClientID
		bad("Audience", "must list the aud your issuer puts in access tokens (or set ClientID); "+
			"in Keycloak, add an audience mapper to the client")
	}
	if slices.Contains(c.Audience, "") {
		bad("Audience", "must not contain an empty value")
	}
	if len(c.Algorithms) == 0 {
		bad("Algorithms", "must list at least one algorithm, such as RS256")
	}
	for _, a := range c.Algorithms {
		switch {
		case slices.Contains(asymmetricAlgorithms, a):
		case strings.EqualFold(a, "none"):
			bad("Algorithms", `must not contain "none": unsigned tokens would be accepted`)
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			bad("Algorithms", fmt.Sprintf("must not contain %s: a symmetric algorithm lets anyone holding the "+
				"issuer's public key forge tokens; use RS256, ES256 or EdDSA", a))
		default:
			bad("Algorithms", fmt.Sprintf("%q is not one of %s", a, strings.Join(asymmetricAlgorithms, ", ")))
		}
	}
	if c.ClockSkew < 0 || c.ClockSkew > maxClockSkew {
		bad("ClockSkew", "must be between 0 and 5m, such as 30s")
	}
	if c.JWKSRefreshInterval < time.Second {
		bad("JWKSRefreshInterval", "must be at least 1s, such as 5m")
	}
	if c.JWKSMinRefreshInterval <= 0 {
		bad("JWKSMinRefreshInterval", "must be positive, such as 10s")
	}
	if c.VerifiedCacheSize < -1 || c.VerifiedCacheSize == 0 {
		bad("VerifiedCacheSize", "must be positive, such as 10000, or -1 to disable the cache")
	}
	if c.DiscoveryTimeout <= 0 {
		bad("DiscoveryTimeout", "must be positive, such as 10s")
	}
	for field, path := range map[string]string{"RolesClaim": c.RolesClaim, "DomainClaim": c.DomainClaim} {
		if path != "" && slices.Contains(strings.Split(path, "."), "") {
			bad(field, fmt.Sprintf("%q must be a dot path of non-empty claim names, such as realm_access.roles", path))
		}
	}
	return errors.Join(errs...)
}

// JWTAuthenticator authenticates bearer JWTs ("Authorization: Bearer
// <jwt>") issued by an OpenID Connect issuer such as Keycloak: access
// tokens signed with a key of the issuer's key set, for an accepted
// audience, within their validity. It takes any bearer token shaped like a
// JWT (three dot-separated parts) and leaves other bearer tokens (local
// session tokens) to the next authenticator.
//
// Start discovers the issuer and fetches its key set, then refreshes the
// set in the background until Stop. Signatures are verified by go-oidc's
// verifier over the authenticator's own key set (see OIDCConfig for its
// refresh rules); the allow-list of algorithms is enforced before any key
// is used, so "none" and HS256 signed with the issuer's public key are
// refused. exp, nbf and iat are checked with OIDCConfig.ClockSkew.
//
// A verified token is cached (VerifiedCacheSize), so a client sending the
// same token again costs a SHA-256 and a map lookup.
//
// The principal: Subject is sub, Name preferred_username (else sub), Kind
// KindUser, Method MethodJWT, Roles from OIDCConfig.RolesClaim (sorted,
// without duplicates), Domain from OIDCConfig.DomainClaim, ExpiresAt exp.
//
// Failures carry these reasons: malformed, alg_not_allowed, unknown_key,
// bad_signature, wrong_issuer, wrong_token_type (a Keycloak ID or refresh
// token), expired, not_yet_valid, issued_in_future, wrong_audience,
// wrong_authorized_party.
type JWTAuthenticator struct {
	cfg      OIDCConfig
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
	allowed  map[string]bool
	roles    []string // RolesClaim split, nil for the Keycloak default
	domain   []string // DomainClaim split, nil for none
	cache    *tokenCache
	bufs     sync.Pool                   // of *[]byte, for hash
	verified atomic.Pointer[jwtVerifier] // set by Start

	mu     sync.Mutex
	cancel context.CancelFunc // of the refresh loop; nil when not running
	done   chan struct{}      // closed when the refresh loop returns
}

// jwtVerifier is what Start sets up: the key set and go-oidc's verifier
// over it.
type jwtVerifier struct {
	keys     *keySet
	verifier *oidc.IDTokenVerifier
}

var _ Authenticator = (*JWTAuthenticator)(nil)

// NewJWTAuthenticator returns an authenticator for cfg's issuer, which
// authenticates nothing until Start. client makes the discovery and key
// set requests (nil means a new http.Client); log receives key set
// changes and refresh failures (nil means none). It fails when cfg is
// disabled or not valid.
func NewJWTAuthenticator(cfg OIDCConfig, client *http.Client, log *slog.Logger) (*JWTAuthenticator, error) {
	cfg = cfg.WithDefaults()
	if !cfg.Enabled() {
		return nil, errors.New("auth: oidc: Issuer is empty (OIDC is disabled)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: oidc config: %w", err)
	}
	if client == nil {
		client = &http.Client{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &JWTAuthenticator{cfg: cfg, client: client, log: log, now: time.Now, allowed: map[string]bool{}}
	for _, alg := range cfg.Algorithms {
		a.allowed[alg] = true
	}
	if cfg.RolesClaim != "" {
		a.roles = strings.Split(cfg.RolesClaim, ".")
	}
	if cfg.DomainClaim != "" {
		a.domain = strings.Split(cfg.DomainClaim, ".")
	}
	if cfg.VerifiedCacheSize > 0 {
		a.cache = newTokenCache(cfg.VerifiedCacheSize)
	}
	return a, nil
}

// Name implements Authenticator.
func (a *JWTAuthenticator) Name() string { return "jwt" }

// Start discovers the issuer, fetches its key set and starts refreshing
// it every JWKSRefreshInterval (a refresh that fails is logged and keeps
// the keys fetched before). ctx bounds the discovery and the first fetch
// (each within DiscoveryTimeout), not the refresh loop. It fails, naming
// the issuer, when either fails or when the key set has no key for the
// allowed algorithms. Start after Stop starts again; Start while started
// fails.
func (a *JWTAuthenticator) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return errors.New("auth: jwt authenticator already started")
	}
	dctx, cancel := context.WithTimeout(ctx, a.cfg.DiscoveryTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(oidc.ClientContext(dctx, a.client), a.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("auth: oidc discovery at %s/.well-known/openid-configuration: %w",
			strings.TrimSuffix(a.cfg.Issuer, "/"), err)
	}
	var meta struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		return fmt.Errorf("auth: oidc discovery of %s: %w", a.cfg.Issuer, err)
	}
	if meta.JWKSURL == "" {
		return fmt.Errorf("auth: oidc discovery of %s: no jwks_uri", a.cfg.Issuer)
	}
	keys := newKeySet(meta.JWKSURL, a.client, a.cfg.Algorithms, a.cfg.DiscoveryTimeout,
		a.cfg.JWKSMinRefreshInterval, a.log, a.now)
	if err := keys.refresh(ctx); err != nil {
		return fmt.Errorf("auth: oidc issuer %s: %w", a.cfg.Issuer, err)
	}
	if m := keys.keys.Load(); len(m.all) == 0 {
		return fmt.Errorf("auth: oidc issuer %s: its key set %s has no key for the allowed algorithms %s (left out: %s)",
			a.cfg.Issuer, meta.JWKSURL, strings.Join(a.cfg.Algorithms, ", "), strings.Join(m.skipped, "; "))
	}
	a.verified.Store(&jwtVerifier{keys: keys, verifier: oidc.NewVerifier(a.cfg.Issuer, keys, &oidc.Config{
		SupportedSigningAlgs: a.cfg.Algorithms,
		SkipClientIDCheck:    true, // the audience allow-list is checked here
		SkipExpiryCheck:      true, // exp, nbf and iat are checked here, with ClockSkew
	})})
	loopCtx, stop := context.WithCancel(context.Background())
	a.cancel, a.done = stop, make(chan struct{})
	go a.refreshLoop(loopCtx, keys, a.done)
	a.log.InfoContext(ctx, "auth: oidc issuer ready", "issuer", a.cfg.Issuer, "jwks", meta.JWKSURL,
		"keys", keys.keys.Load().kids())
	return nil
}

// Stop stops the background refresh and waits for it, or for ctx to end.
// Tokens keep being verified with the keys last fetched. Stop before
// Start, or twice, does nothing.
func (a *JWTAuthenticator) Stop(ctx context.Context) error {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.cancel, a.done = nil, nil
	a.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("auth: stop jwks refresh: %w", ctx.Err())
	}
}

func (a *JWTAuthenticator) refreshLoop(ctx context.Context, keys *keySet, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(a.cfg.JWKSRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := keys.refresh(ctx); err != nil && ctx.Err() == nil {
				a.log.WarnContext(ctx, "auth: refresh jwks; keeping the keys fetched before", "issuer", a.cfg.Issuer, "err", err)
			}
		}
	}
}

// Authenticate implements Authenticator.
func (a *JWTAuthenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	raw, ok := bearerJWT(r)
	if !ok {
		return nil, ErrNoCredentials
	}
	v := a.verified.Load()
	if v == nil {
		return nil, errors.New("auth: jwt authenticator used before Start")
	}
	if len(raw) > maxTokenBytes {
		return nil, Fail("malformed", fmt.Errorf("token of %d bytes, more than %d", len(raw), maxTokenBytes))
	}
	now := a.now()
	var sum [sha256.Size]byte
	if a.cache != nil {
		sum = a.hash(raw)
		if p := a.cache.get(sum, now, v.keys.keys.Load()); p != nil {
			cp := *p
			return &cp, nil
		}
	}
	p, key, err := a.verify(ctx, v, raw, now)
	if err != nil {
		return nil, err
	}
	if a.cache != nil {
		a.cache.put(sum, p, key)
	}
	cp := *p
	return &cp, nil
}

// maxPooledBuffer bounds the buffers a.bufs keeps.
const maxPooledBuffer = 16 << 10

// hash returns the SHA-256 of raw, copied into a pooled buffer rather than
// a new []byte: the copy would be the warm path's largest allocation.
func (a *JWTAuthenticator) hash(raw string) [sha256.Size]byte {
	bp, _ := a.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = append((*bp)[:0], raw...)
	sum := sha256.Sum256(*bp)
	if cap(*bp) <= maxPooledBuffer {
		a.bufs.Put(bp)
	}
	return sum
}

// bearerJWT returns the token of an "Authorization: Bearer" header when
// it is shaped like a compact JWS: three parts, the first two not empty
// (an unsigned token has an empty third part).
func bearerJWT(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	if strings.Count(t, ".") != 2 {
		return "", false
	}
	first := strings.IndexByte(t, '.')
	if first == 0 || t[first+1] == '.' {
		return "", false
	}
	return t, true
}

// verify checks raw fully and returns its principal and the key that
// signed it.
func (a *JWTAuthenticator) verify(ctx context.Context, v *jwtVerifier, raw string, now time.Time) (*Principal, *publicKey, error) {
	alg, err := headerAlg(raw)
	if err != nil {
		return nil, nil, Fail("malformed", err)
	}
	if !a.allowed[alg] {
		return nil, nil, Fail("alg_not_allowed", fmt.Errorf("alg %q is not one of %s", alg, strings.Join(a.cfg.Algorithms, ", ")))
	}
	probe := &verifyProbe{}
	tok, err := v.verifier.Verify(context.WithValue(ctx, probeKey{}, probe), raw)
	if err != nil {
		switch {
		case probe.err != nil:
			return nil, nil, probe.err
		case probe.key != nil:
			// Signed by the issuer's key, refused by go-oidc's checks of
			// the claims: the issuer, or claims of the wrong type.
			var c struct {
				Issuer any `json:"iss"`
			}
			if json.Unmarshal(probe.payload, &c) == nil && c.Issuer != a.cfg.Issuer {
				if c.Issuer == nil {
					return nil, nil, Fail("wrong_issuer", fmt.Errorf("no iss claim, want %q", a.cfg.Issuer))
				}
				return nil, nil, Fail("wrong_issuer", fmt.Errorf("iss %q, want %q", fmt.Sprint(c.Issuer), a.cfg.Issuer))
			}
			return nil, nil, Fail("malformed", err)
		default:
			return nil, nil, Fail("malformed", err)
		}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, nil, Fail("malformed", fmt.Errorf("claims: %w", err))
	}
	p, err := a.check(claims, now)
	if err != nil {
		return nil, nil, err
	}
	return p, probe.key, nil
}

// headerAlg returns the alg of a compact JWS's header.
func headerAlg(raw string) (string, error) {
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	return h.Alg, nil
}

// check applies the checks go-oidc left to us to verified claims and
// returns the principal.
func (a *JWTAuthenticator) check(claims map[string]any, now time.Time) (*Principal, error) {
	skew := a.cfg.ClockSkew
	exp, ok, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return nil, Fail("malformed", err)
	case !ok:
		return nil, Fail("malformed", errors.New("no exp claim"))
	case !now.Before(exp.Add(skew)):
		return nil, Fail("expired", fmt.Errorf("expired at %s (clock skew %s)", exp.UTC().Format(time.RFC3339), skew))
	}
	nbf, ok, err := numericDate(claims, "nbf")
	switch {
	case err != nil:
		return nil, Fail("malformed", err)
	case ok && now.Add(skew).Before(nbf):
		return nil, Fail("not_yet_valid", fmt.Errorf("not before %s (clock skew %s)", nbf.UTC().Format(time.RFC3339), skew))
	}
	iat, ok, err := numericDate(claims, "iat")
	switch {
	case err != nil:
		return nil, Fail("malformed", err)
	case ok && iat.After(now.Add(skew)):
		return nil, Fail("issued_in_future", fmt.Errorf("issued at %s (clock skew %s)", iat.UTC().Format(time.RFC3339), skew))
	}
	if typ, ok := claims["typ"].(string); ok && !strings.EqualFold(typ, "Bearer") {
		return nil, Fail("wrong_token_type", fmt.Errorf("typ %q, want Bearer (an access token)", typ))
	}
	aud, err := stringsClaim(claims["aud"], "aud", false)
	if err != nil {
		return nil, Fail("malformed", err)
	}
	if !slices.ContainsFunc(aud, func(s string) bool { return slices.Contains(a.cfg.Audience, s) }) {
		return nil, Fail("wrong_audience", fmt.Errorf("aud %q has none of %q", aud, a.cfg.Audience))
	}
	if len(a.cfg.AuthorizedParties) > 0 {
		azp, _ := claims["azp"].(string)
		if !slices.Contains(a.cfg.AuthorizedParties, azp) {
			return nil, Fail("wrong_authorized_party", fmt.Errorf("azp %q is not one of %q", azp, a.cfg.AuthorizedParties))
		}
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, Fail("malformed", errors.New("no sub claim"))
	}
	name, _ := claims["preferred_username"].(string)
	if name == "" {
		name = sub
	}
	roles, err := a.rolesOf(claims)
	if err != nil {
		return nil, Fail("malformed", err)
	}
	domain, err := a.domainOf(claims)
	if err != nil {
		return nil, Fail("malformed", err)
	}
	return &Principal{Subject: sub, Name: name, Kind: KindUser, Roles: roles, Domain: domain,
		Method: MethodJWT, ExpiresAt: exp}, nil
}

// rolesOf returns the roles in claims, sorted and without duplicates.
func (a *JWTAuthenticator) rolesOf(claims map[string]any) ([]string, error) {
	var roles []string
	if a.roles != nil {
		r, err := stringsClaim(claimAt(claims, a.roles), a.cfg.RolesClaim, true)
		if err != nil {
			return nil, err
		}
		roles = r
	} else {
		r, err := stringsClaim(claimAt(claims, []string{"realm_access", "roles"}), "realm_access.roles", false)
		if err != nil {
			return nil, err
		}
		roles = r
		if a.cfg.ClientID != "" {
			path := []string{"resource_access", a.cfg.ClientID, "roles"}
			r, err := stringsClaim(claimAt(claims, path), strings.Join(path, "."), false)
			if err != nil {
				return nil, err
			}
			roles = append(roles, r...)
		}
	}
	roles = slices.DeleteFunc(roles, func(s string) bool { return s == "" })
	slices.Sort(roles)
	// Clipped: principals made from the cache share the slice, and an
	// append by one must not write into another's.
	roles = slices.Clip(slices.Compact(roles))
	if roles == nil {
		roles = []string{}
	}
	return roles, nil
}

// domainOf returns the tenant in claims, "" without DomainClaim.
func (a *JWTAuthenticator) domainOf(claims map[string]any) (string, error) {
	if a.domain == nil {
		return "", nil
	}
	switch v := claimAt(claims, a.domain).(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []any:
		if len(v) == 1 {
			if s, ok := v[0].(string); ok {
				return s, nil
			}
		}
	}
	return "", fmt.Errorf("claim %s is not a string", a.cfg.DomainClaim)
}

// claimAt returns the claim at path, nil if there is none.
func claimAt(claims map[string]any, path []string) any {
	var v any = claims
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[name]
	}
	return v
}

// stringsClaim reads a claim holding a string or an array of strings;
// fields says whether a string is a space-separated list.
func stringsClaim(v any, name string, fields bool) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		if fields {
			return strings.Fields(v), nil
		}
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("claim %s holds %T, not strings", name, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("claim %s is a %T, not a string or an array of strings", name, v)
}

// numericDate reads a NumericDate claim (seconds since the epoch).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return time.Time{}, false, nil
	}
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false, fmt.Errorf("claim %s is a %T, not a number", name, v)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}

// tokenCache remembers verified tokens by the SHA-256 of the raw token,
// least recently used first out.
type tokenCache struct {
	mu    sync.Mutex
	max   int
	items map[[sha256.Size]byte]*list.Element
	order list.List // of *cachedToken, most recently used first
}

type cachedToken struct {
	sum       [sha256.Size]byte
	principal *Principal
	exp       time.Time
	key       *publicKey
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{max: size, items: make(map[[sha256.Size]byte]*list.Element)}
}

// get returns the principal of a cached token still valid at now whose
// key is still in keys, or nil.
func (c *tokenCache) get(sum [sha256.Size]byte, now time.Time, keys *keyMap) *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[sum]
	if el == nil {
		return nil
	}
	e := el.Value.(*cachedToken)
	if !now.Before(e.exp) || !keys.contains(e.key) {
		c.order.Remove(el)
		delete(c.items, sum)
		return nil
	}
	c.order.MoveToFront(el)
	return e.principal
}

// put remembers a verified token until its exp.
func (c *tokenCache) put(sum [sha256.Size]byte, p *Principal, key *publicKey) {
	if key == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[sum]; el != nil {
		c.order.MoveToFront(el)
		return
	}
	c.items[sum] = c.order.PushFront(&cachedToken{sum: sum, principal: p, exp: p.ExpiresAt, key: key})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cachedToken).sum)
	}
}
